//! The sandbox, attacked from inside: each test is a job trying to do harm,
//! and what it must find instead.

use crate::limits::{assert_gone, running_with};
use crate::{error_of, runtimes, scratch, Job, Recorder};
use orvanta_core::Language::{self, Bash, Deno, Python3};
use orvanta_exec::{Outcome, Runtimes, SandboxConfig};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

async fn result_of(job: Job) -> Value {
    match job.run(&Recorder::default()).await {
        Outcome::Success(value) => value,
        other => panic!("the job did not succeed: {other:?}"),
    }
}

#[tokio::test]
async fn jobs_run_as_an_unprivileged_user_with_no_capabilities() {
    let code = r#"
import os
def main():
    status = open("/proc/self/status").read().splitlines()
    caps = [l.split()[1] for l in status if l.startswith(("CapEff", "CapPrm", "CapBnd"))]
    no_new_privs = [l.split()[1] for l in status if l.startswith("NoNewPrivs")]
    return {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "caps": caps, "nnp": no_new_privs}
"#;
    let got = result_of(Job::new(Python3, code)).await;
    let report = runtimes().sandbox().report();
    assert_eq!(report.isolation, "bubblewrap");
    assert_ne!(got["uid"], 0, "{got}");
    assert_ne!(got["euid"], 0, "{got}");
    assert_eq!(got["uid"], json!(report.uid), "{got}");
    for cap in got["caps"].as_array().unwrap() {
        assert_eq!(cap, "0000000000000000", "{got}");
    }
    assert_eq!(got["nnp"], json!(["1"]), "{got}");
}

#[tokio::test]
async fn a_job_sees_none_of_the_hosts_files_but_the_system_and_its_own() {
    // A secret beside the support folder, as the database is beside it in
    // a data folder.
    let secret = scratch().join("secret.db");
    std::fs::write(&secret, b"the database").unwrap();
    let code = r#"
import os, sys
def main(secret: str, support: str):
    found = {}
    try:
        found["secret"] = open(secret).read()
    except OSError as e:
        found["secret_error"] = type(e).__name__
    found["beside_support"] = sorted(os.listdir(os.path.dirname(support)))
    job_dir = sys.argv[2]
    found["work"] = sorted(os.listdir(os.path.dirname(job_dir)))
    found["root"] = sorted(os.listdir("/"))
    found["cwd"] = os.getcwd()
    try:
        open(os.path.join(job_dir, "mine"), "w").write("x")
        found["job_dir_writable"] = True
    except OSError:
        found["job_dir_writable"] = False
    open("scratch", "w").write("x")
    return found
"#;
    let support = runtimes().support_dir().display().to_string();
    let args = json!({ "secret": secret.display().to_string(), "support": support });
    let job = Job::new(Python3, code).args(args);
    let name = job.job_id.to_string();
    let got = result_of(job).await;
    assert!(got.get("secret").is_none(), "the job read the secret: {got}");
    assert_eq!(got["secret_error"], "FileNotFoundError");
    // Only the support folder is mounted from the scratch folder, and only
    // its own folder from the work folder.
    assert_eq!(got["beside_support"], json!(["support", "work"]), "{got}");
    // Its own folder: named by the job, or by its warm process.
    let work = got["work"].as_array().unwrap();
    assert_eq!(work.len(), 1, "{got}");
    assert!(work[0] == name.as_str() || work[0].as_str().unwrap().starts_with("warm-"), "{got}");
    // It works in its own /tmp; its job folder is read-only.
    assert_eq!((got["cwd"].as_str(), got["job_dir_writable"].as_bool()), (Some("/tmp"), Some(false)), "{got}");
    // At the top: the system's folders, and the first folders of the
    // paths bound in (interpreters, support files, the job's own folder).
    let mut allowed: Vec<String> =
        ["bin", "sbin", "lib", "lib32", "lib64", "usr", "etc", "dev", "proc", "tmp", "run"].map(String::from).to_vec();
    let bound = runtimes()
        .report()
        .into_iter()
        .flat_map(|(_, r)| r.map(|r| r.prefixes.clone()).unwrap_or_default())
        .chain([runtimes().support_dir().to_path_buf(), crate::work_root()]);
    for path in bound {
        if let Some(std::path::Component::Normal(first)) = path.components().nth(1) {
            allowed.push(first.to_string_lossy().into_owned());
        }
    }
    for top in got["root"].as_array().unwrap() {
        assert!(allowed.contains(&top.as_str().unwrap().to_owned()), "/{top} is visible in the sandbox: {got}");
    }
}

#[tokio::test]
async fn a_job_sees_only_its_own_processes_and_cannot_signal_the_host() {
    let me = std::process::id();
    let code = r#"
import os, signal
def main(host_pid: int):
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    try:
        os.kill(host_pid, signal.SIGKILL)
        killed = "sent"
    except ProcessLookupError:
        killed = "no such process"
    except PermissionError:
        killed = "refused"
    try:
        os.kill(os.getppid(), signal.SIGKILL)
        parent = "sent"
    except OSError as e:
        parent = type(e).__name__
    return {"pids": pids, "ppid": os.getppid(), "killed": killed}
"#;
    let got = result_of(Job::new(Python3, code).args(json!({ "host_pid": me }))).await;
    // The sandbox's init, the interpreter (and `ls`-like helpers it ran).
    assert!(got["pids"].as_array().unwrap().len() <= 3, "{got}");
    assert!(got["pids"].as_array().unwrap().iter().all(|p| p.as_u64().unwrap() < 10), "{got}");
    assert_ne!(got["killed"], "sent", "{got}");
    // This test process is alive: it is running this assertion.
}

#[tokio::test]
async fn the_wrapper_the_client_and_the_caches_are_read_only() {
    let support = runtimes().support_dir().to_path_buf();
    let targets = [
        support.join("wrappers/orvanta_wrapper.py"),
        support.join("wrappers/wrapper.ts"),
        support.join("clients/python/orvanta/__init__.py"),
        support.join("clients/ts/orvanta-client/mod.ts"),
        support.join("cache/deno/poisoned"),
        support.join("cache/scripts/poisoned.py"),
    ];
    let before: Vec<Option<Vec<u8>>> = targets.iter().map(|t| std::fs::read(t).ok()).collect();
    let code = r#"
import os
def main(targets: list):
    out = {}
    for t in targets:
        try:
            with open(t, "a") as f:
                f.write("\nprint('stolen', __import__('os').environ.get('ORVANTA_TOKEN'))\n")
            out[t] = "written"
        except OSError as e:
            out[t] = type(e).__name__
    try:
        os.chmod(targets[0], 0o777)
        out["chmod"] = "done"
    except OSError as e:
        out["chmod"] = type(e).__name__
    return out
"#;
    let paths: Vec<String> = targets.iter().map(|t| t.display().to_string()).collect();
    let got = result_of(Job::new(Python3, code).args(json!({ "targets": paths }))).await;
    for (value, target) in got.as_object().unwrap().values().zip(&targets) {
        assert_ne!(value, "written", "{} was writable: {got}", target.display());
    }
    assert_ne!(got["chmod"], "done", "{got}");
    let after: Vec<Option<Vec<u8>>> = targets.iter().map(|t| std::fs::read(t).ok()).collect();
    assert_eq!(before, after);
    // Deno's cache too, from Deno.
    let code = r#"
export function main(dir: string) {
  try { Deno.writeTextFileSync(dir + "/poisoned", "x"); return "written"; } catch (e) { return (e as Error).name; }
}
"#;
    let dir = support.join("cache/deno").display().to_string();
    let got = result_of(Job::new(Deno, code).args(json!({ "dir": dir }))).await;
    assert_ne!(got, "written");
}

#[tokio::test]
async fn a_fork_bomb_fails_at_its_process_limit() {
    let mut job = Job::new(Bash, "bomb() { bomb | bomb & }\nbomb\nsleep 20\n").timeout(Duration::from_secs(60));
    job.limits.resources.max_processes = Some(64);
    let started = std::time::Instant::now();
    let outcome = job.run(&Recorder::default()).await;
    if runtimes().sandbox().report().limits == "rlimits" {
        // Without a cgroup the limit is RLIMIT_NPROC: the forks fail and
        // the job ends at its timeout, the machine unharmed.
        return;
    }
    let error = error_of(&outcome);
    assert_eq!(error["name"], "ProcessLimit", "{outcome:?}");
    assert_eq!(error["max_processes"], 64);
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn writing_past_the_file_size_limit_fails() {
    let code = r#"
def main():
    with open("big", "wb") as f:
        f.write(b"x" * (2 << 20))
    return "wrote 2 MiB"
"#;
    let mut job = Job::new(Python3, code);
    job.limits.resources.file_size_bytes = Some(1 << 20);
    let outcome = job.run(&Recorder::default()).await;
    let error = error_of(&outcome);
    assert_eq!(error["name"], "OSError", "{outcome:?}");
    assert!(error["message"].as_str().unwrap().contains("File too large"), "{outcome:?}");

    let mut job = Job::new(Bash, "set -e\nhead -c 2097152 /dev/zero > big\necho wrote\n");
    job.limits.resources.file_size_bytes = Some(1 << 20);
    let outcome = job.run(&Recorder::default()).await;
    let error = error_of(&outcome);
    // head is killed by SIGXFSZ, and bash exits with 128 + 25.
    assert_eq!(error["name"], "Signal", "{outcome:?}");
    assert_eq!(error["signal"], 25, "{outcome:?}");
    assert!(error["message"].as_str().unwrap().contains("file size limit"), "{outcome:?}");
}

#[tokio::test]
async fn a_job_cannot_fill_the_disk() {
    // Many files, each under the file size limit: a job writes only to its
    // /tmp, a tmpfs no larger than its memory limit, whose pages count
    // toward that limit. Its job folder is read-only.
    let code = r#"
import os, sys
def main():
    try:
        open(os.path.join(sys.argv[2], "on-disk"), "wb").write(b"x")
        return "wrote to the job folder"
    except OSError:
        pass
    for i in range(16):
        with open(f"big{i}", "wb") as f:
            f.write(b"x" * (16 << 20))
    return "wrote 256 MiB"
"#;
    let mut job = Job::new(Python3, code);
    job.limits.resources.memory_bytes = Some(96 << 20);
    let outcome = job.run(&Recorder::default()).await;
    let error = error_of(&outcome);
    let name = error["name"].as_str().unwrap();
    assert!(
        name == "MemoryLimit" || (name == "OSError" && error["message"].as_str().unwrap().contains("No space left")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn allocating_past_the_memory_limit_fails() {
    let code = r#"
def main():
    blocks = []
    for _ in range(64):
        blocks.append(bytearray(16 << 20))
    return len(blocks)
"#;
    let mut job = Job::new(Python3, code);
    job.limits.resources.memory_bytes = Some(256 << 20);
    let outcome = job.run(&Recorder::default()).await;
    let error = error_of(&outcome);
    let name = error["name"].as_str().unwrap();
    assert!(name == "MemoryLimit" || name == "MemoryError", "{outcome:?}");
    if runtimes().sandbox().report().limits != "rlimits" {
        assert_eq!(name, "MemoryLimit", "{outcome:?}");
        assert_eq!(error["memory_bytes"], 256 << 20);
    }
}

#[tokio::test]
async fn the_network_stays_on_and_an_instance_setting_turns_it_off() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = r#"
import socket
def main(port: int):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return "connected"
    except OSError as e:
        return type(e).__name__
"#;
    let args = json!({ "port": port });
    assert_eq!(result_of(Job::new(Python3, code).args(args.clone())).await, "connected");

    let config = SandboxConfig { network: false, ..SandboxConfig::default() };
    let offline = Runtimes::discover(&scratch().join("support-offline"), &HashMap::new(), config).unwrap();
    assert!(!offline.sandbox().report().network);
    let outcome = Job::new(Python3, code).args(args).run_with(&offline, &Recorder::default()).await;
    assert_eq!(outcome, Outcome::Success("ConnectionRefusedError".into()));
}

#[tokio::test]
async fn a_job_that_ends_takes_its_background_processes_along() {
    for language in [Python3, Bash] {
        let mark = format!("1000.{}{}", std::process::id(), if language == Python3 { 1 } else { 2 });
        let code = match language {
            Language::Python3 => format!(
                "import subprocess\ndef main():\n    subprocess.Popen(['setsid', 'sleep', '{mark}'], start_new_session=True)\n    return 'left'\n"
            ),
            _ => format!("nohup setsid sleep {mark} > /dev/null 2>&1 &\necho left\n"),
        };
        assert_eq!(result_of(Job::new(language, &code)).await, "left");
        assert_gone(&mark).await;
        assert!(running_with(&mark).is_empty());
    }
}

#[tokio::test]
async fn without_a_sandbox_the_report_says_so() {
    let config = SandboxConfig { enabled: false, ..SandboxConfig::default() };
    let open = Runtimes::discover(&scratch().join("support-open"), &HashMap::new(), config).unwrap();
    let report = open.sandbox().report();
    assert_eq!(report.isolation, "none");
    assert_eq!(report.uid, None);
    let outcome = Job::new(Bash, "id -u\n").run_with(&open, &Recorder::default()).await;
    assert!(matches!(outcome, Outcome::Success(Value::Number(_))), "{outcome:?}");
}

/// The system-call filter: no nested namespaces (whose capabilities reach
/// kernel code written for root), no shared keyring, no io_uring, bpf or
/// userfaultfd; what scripts do every day (threads, processes, files,
/// sockets) still works.
#[tokio::test]
async fn kernel_surface_a_job_has_no_use_for_is_refused() {
    let code = r#"
import ctypes, errno, os, platform, socket, subprocess, threading
libc = ctypes.CDLL(None, use_errno=True)
NR = {
    "x86_64": {"keyctl": 250, "add_key": 248, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425, "clone3": 435},
    "aarch64": {"keyctl": 219, "add_key": 217, "bpf": 280, "userfaultfd": 282, "io_uring_setup": 425, "clone3": 435},
}[platform.machine()]

def err(rc):
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno())) if rc == -1 else "allowed"

def main():
    got = {}
    got["unshare_user"] = err(libc.unshare(0x10000000))
    got["unshare_net"] = err(libc.unshare(0x40000000))
    got["setns"] = err(libc.setns(os.open("/proc/self/ns/uts", os.O_RDONLY), 0))
    got["unshare_cmd"] = subprocess.run(["unshare", "--user", "--map-root-user", "true"], capture_output=True).returncode
    # keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0)
    got["keyctl"] = err(libc.syscall(NR["keyctl"], 0, -4, 0))
    got["add_key"] = err(libc.syscall(NR["add_key"], b"user", b"k", b"v", 1, -4))
    got["bpf"] = err(libc.syscall(NR["bpf"], 0, 0, 0))
    got["userfaultfd"] = err(libc.syscall(NR["userfaultfd"], 0))
    params = ctypes.create_string_buffer(120)
    got["io_uring"] = err(libc.syscall(NR["io_uring_setup"], 4, params))
    got["clone3"] = err(libc.syscall(NR["clone3"], 0, 0))
    # And the everyday: threads, a child process, a socket, files.
    t = threading.Thread(target=lambda: None); t.start(); t.join()
    got["child"] = subprocess.run(["sh", "-c", "echo ok"], capture_output=True, text=True).stdout.strip()
    socket.socket().close()
    open("f", "w").write("x")
    got["file"] = open("f").read()
    got["fds"] = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
    return got
"#;
    let got = result_of(Job::new(Python3, code)).await;
    for call in ["unshare_user", "unshare_net", "setns", "keyctl", "add_key", "bpf", "userfaultfd", "io_uring"] {
        assert_eq!(got[call], "EPERM", "{call}: {got}");
    }
    assert_eq!(got["clone3"], "ENOSYS", "{got}");
    assert_ne!(got["unshare_cmd"], 0, "{got}");
    assert_eq!((got["child"].as_str(), got["file"].as_str()), (Some("ok"), Some("x")), "{got}");
    // The filter's descriptor is not left open in the job.
    assert!(got["fds"].as_array().unwrap().iter().all(|fd| fd.as_u64() != Some(9)), "{got}");
}
