//! A real local SMTP server for the mail tests: `aiosmtpd` (PyPI) on a free
//! port, with a handler that writes each message it accepts, parsed by
//! Python's `email` package, as one JSON file. Killed when dropped.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Each accepted message becomes `{n}.json` in the folder: the envelope, the
/// decoded subject and plain-text body, and the raw message.
const SINK: &str = r#"
import email, email.policy, json, os, sys
from aiosmtpd.controller import Controller

port, folder = int(sys.argv[1]), sys.argv[2]

class Save:
    count = 0

    async def handle_DATA(self, server, session, envelope):
        Save.count += 1
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_to": envelope.rcpt_tos,
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "subject": str(msg["subject"]),
            "body": body.get_content() if body is not None else "",
            "raw": raw.decode("utf-8", "replace"),
        }
        name = os.path.join(folder, "%06d.json" % Save.count)
        with open(name + ".part", "w") as f:
            json.dump(record, f)
        os.rename(name + ".part", name)
        return "250 OK"

controller = Controller(Save(), hostname="127.0.0.1", port=port)
controller.start()
print("ready", flush=True)
sys.stdin.read()  # until the test ends (its end closes this pipe)
controller.stop()
"#;

pub struct SmtpSink {
    pub port: u16,
    folder: tempfile::TempDir,
    child: Child,
}

impl SmtpSink {
    /// Starts a sink on a free port.
    pub fn start() -> SmtpSink {
        Self::start_on(free_port())
    }

    /// Starts a sink on `port`; fails the test, saying how to install
    /// `aiosmtpd`, when it cannot.
    pub fn start_on(port: u16) -> SmtpSink {
        let folder = tempfile::tempdir().expect("a folder for the mails");
        let mut child = Command::new("python3")
            .args(["-c", SINK, &port.to_string()])
            .arg(folder.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 starts");
        let stdout = child.stdout.take().expect("the sink's stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let first = BufReader::new(stdout).lines().next();
            let _ = tx.send(first);
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(Ok(line))) if line == "ready" => {}
            other => {
                let _ = child.kill();
                panic!(
                    "the SMTP sink did not start on port {port} ({other:?}); it needs aiosmtpd: \
                     python3 -m pip install aiosmtpd"
                );
            }
        }
        SmtpSink { port, folder, child }
    }

    /// The environment that points `orvanta` at this sink (plain SMTP).
    pub fn env(&self) -> Vec<(String, String)> {
        env_for(self.port)
    }

    /// The mails received so far, in order.
    pub fn mails(&self) -> Vec<Value> {
        read_mails(self.folder.path())
    }

    /// Waits up to `secs` until `done` holds for the mails received.
    pub async fn wait_for(&self, secs: u64, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            let mails = self.mails();
            if done(&mails) {
                return mails;
            }
            assert!(Instant::now() < until, "{what} did not happen within {secs} s; mails: {mails:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment for an SMTP server on `127.0.0.1:{port}`, plain text.
pub fn env_for(port: u16) -> Vec<(String, String)> {
    [
        ("ORVANTA_SMTP_HOST", "127.0.0.1".to_owned()),
        ("ORVANTA_SMTP_PORT", port.to_string()),
        ("ORVANTA_SMTP_TLS", "none".to_owned()),
        ("ORVANTA_SMTP_FROM", "Orvanta Tests <orvanta@tests.example>".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port()
}

fn read_mails(folder: &Path) -> Vec<Value> {
    let mut names: Vec<_> = std::fs::read_dir(folder)
        .expect("the mail folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).expect("a mail file")).expect("a mail's JSON"))
        .collect()
}
