//! The result channel: a FIFO `out.fifo` in the job directory that the
//! wrapper writes one JSON object per line to: `{"stream": "<chunk>"}` for
//! each chunk, then `{"result": <value>}` or `{"error": {...}}`.
//!
//! Not stdout, which belongs to the user's prints. A FIFO rather than fd 3
//! because Deno cannot open an inherited descriptor, and rather than a Unix
//! socket because a socket path is limited to 108 bytes. Orvanta opens it
//! read-write before spawning, so the wrapper's open never blocks and the
//! channel never reports end-of-file: the supervisor stops reading when the
//! process has exited, after a last non-blocking read of what is left.

use super::RunObserver;
use serde_json::Value;
use std::io::{self, Read};
use std::path::Path;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

/// What the wrapper said last about the job's outcome.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Final {
    Result(Value),
    Error(Value),
}

#[derive(Debug)]
pub(crate) struct Channel {
    reader: pipe::Receiver,
    /// The same FIFO as a plain non-blocking file: the final read must see
    /// what is in the pipe now, which tokio's cached readiness may not know yet.
    sync: std::fs::File,
    buf: Vec<u8>,
    /// The bytes of `buf` already looked through for a newline: each byte
    /// is looked at once (a 60 MB message came in 64 KiB reads, each
    /// scanned from the start: minutes).
    scanned: usize,
    read_buf: Vec<u8>,
    closed: bool,
    final_message: Option<Final>,
    /// A message grew over [`MAX_MESSAGE`]: its bytes are dropped up to the
    /// next newline, and the job's outcome is that error, whatever follows.
    oversized: bool,
    /// Lines that were not Orvanta's messages, in this job: the first is
    /// logged, then one in a thousand, so a job cannot flood the log.
    ignored: u64,
}

/// The largest message (one result, or one stream chunk) kept in memory.
pub(crate) const MAX_MESSAGE: usize = 64 * 1024 * 1024;

impl Channel {
    /// Makes the FIFO at `path` and opens it.
    pub(crate) fn create(path: &Path) -> io::Result<Self> {
        super::sys::mkfifo(path)?;
        let reader = pipe::OpenOptions::new().read_write(true).open_receiver(path)?;
        let sync = std::fs::File::from(std::os::fd::AsFd::as_fd(&reader).try_clone_to_owned()?);
        Ok(Self {
            reader,
            sync,
            buf: Vec::new(),
            scanned: 0,
            read_buf: vec![0; 64 * 1024],
            closed: false,
            final_message: None,
            oversized: false,
            ignored: 0,
        })
    }

    /// Waits for the next bytes. Cancel-safe; hand them to [`Channel::consume`].
    pub(crate) async fn read(&mut self) -> io::Result<usize> {
        if self.closed {
            return std::future::pending().await;
        }
        let read = self.reader.read(&mut self.read_buf).await;
        // End of file cannot happen while we hold a write end; should it
        // anyway, stop polling a channel that has nothing more to say.
        if !matches!(read, Ok(n) if n > 0) {
            self.closed = true;
        }
        read
    }

    /// Handles the complete lines among what [`Channel::read`] returned.
    pub(crate) async fn consume(&mut self, n: usize, observer: &dyn RunObserver) {
        self.buf.extend_from_slice(&self.read_buf[..n]);
        self.handle_lines(observer).await;
        self.bound();
    }

    /// Keeps memory bounded: a message without its newline past
    /// [`MAX_MESSAGE`] is dropped, and the job fails saying so.
    fn bound(&mut self) {
        if self.buf.len() > MAX_MESSAGE {
            self.buf.clear();
            self.scanned = 0;
            self.oversized = true;
            self.final_message = Some(Final::Error(serde_json::json!({
                "name": "ResultTooLarge",
                "message": format!("the job wrote a result or stream chunk over {} MiB; return less, or write it to object storage", MAX_MESSAGE >> 20),
            })));
        }
    }

    /// The outcome message of the job so far, taken: a warm process's
    /// channel then serves its next job.
    pub(crate) fn take_final(&mut self) -> Option<Final> {
        self.oversized = false;
        self.ignored = 0;
        self.final_message.take()
    }

    /// Whether an outcome message came.
    pub(crate) fn has_final(&self) -> bool {
        self.final_message.is_some()
    }

    /// Reads what is left in the pipe, without waiting, and handles it all,
    /// an unterminated last line included.
    pub(crate) async fn finish(mut self, observer: &dyn RunObserver) -> Option<Final> {
        self.read_rest(observer).await;
        self.final_message
    }

    /// [`Channel::finish`] without giving the channel up.
    pub(crate) async fn read_rest(&mut self, observer: &dyn RunObserver) {
        loop {
            match self.sync.read(&mut self.read_buf) {
                Ok(0) => break,
                Ok(n) => {
                    self.buf.extend_from_slice(&self.read_buf[..n]);
                    self.handle_lines(observer).await;
                    self.bound();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // WouldBlock: the pipe is empty.
                Err(_) => break,
            }
        }
        self.handle_lines(observer).await;
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            self.scanned = 0;
            self.handle(&line, observer).await;
        }
    }

    async fn handle_lines(&mut self, observer: &dyn RunObserver) {
        while let Some(at) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=self.scanned + at).collect();
            self.scanned = 0;
            self.handle(&line, observer).await;
        }
        self.scanned = self.buf.len();
    }

    async fn handle(&mut self, line: &[u8], observer: &dyn RunObserver) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match parse(line) {
            Some(Message::Stream(chunk)) => observer.on_stream(&chunk).await,
            Some(Message::Final(_)) if self.oversized => {}
            Some(Message::Final(message)) => self.final_message = Some(message),
            None => {
                if self.ignored.is_multiple_of(1000) {
                    tracing::warn!(
                        ignored = self.ignored + 1,
                        "ignoring a message on the result channel that is not Orvanta's: {}",
                        String::from_utf8_lossy(&line[..line.len().min(200)])
                    );
                }
                self.ignored += 1;
            }
        }
    }
}

enum Message {
    Stream(String),
    Final(Final),
}

fn parse(line: &[u8]) -> Option<Message> {
    use orvanta_core::json::{self, JsonError, MAX_DEPTH};
    // The message adds one level around the result; a result deeper than
    // Orvanta stores fails the job with a clear error instead of vanishing.
    let mut message = match json::parse_limited::<Value>(line, MAX_DEPTH + 1) {
        Ok(Value::Object(m)) => m,
        Ok(_) | Err(JsonError::Syntax(_)) => return None,
        Err(JsonError::TooDeep { depth, .. }) => {
            return Some(Message::Final(Final::Error(serde_json::json!({
                "name": "ResultTooDeep",
                "message": format!(
                    "the job's result nests {} levels deep; Orvanta keeps values of at most {MAX_DEPTH} levels: flatten it",
                    depth - 1
                ),
            }))))
        }
    };
    if let Some(chunk) = message.remove("stream") {
        return Some(Message::Stream(match chunk {
            Value::String(text) => text,
            other => other.to_string(),
        }));
    }
    if let Some(error) = message.remove("error") {
        return Some(Message::Final(Final::Error(error)));
    }
    message.remove("result").map(|result| Message::Final(Final::Result(result)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_messages() {
        assert!(matches!(parse(br#"{"stream": "a"}"#), Some(Message::Stream(s)) if s == "a"));
        assert!(matches!(parse(br#"{"stream": 3}"#), Some(Message::Stream(s)) if s == "3"));
        assert!(matches!(parse(br#"{"result": null}"#), Some(Message::Final(Final::Result(Value::Null)))));
        assert!(matches!(parse(br#"{"error": {"name": "E"}}"#), Some(Message::Final(Final::Error(_)))));
        assert!(parse(b"not json").is_none());
        assert!(parse(b"[1]").is_none());
        let deep = format!("{{\"result\": {}{}}}", "[".repeat(300), "]".repeat(300));
        assert!(
            matches!(parse(deep.as_bytes()), Some(Message::Final(Final::Error(e))) if e["name"] == "ResultTooDeep")
        );
        let ok = format!("{{\"result\": {}{}}}", "[".repeat(128), "]".repeat(128));
        assert!(matches!(parse(ok.as_bytes()), Some(Message::Final(Final::Result(_)))));
    }
}
