//! The job's output on its way to the store: logs are coalesced (a flush
//! every 50 ms or 64 KiB, so a chatty script costs few writes), stream chunks
//! are stored as they come, those that queued up meanwhile together, so a
//! flood of tiny chunks costs one write per store round trip. The queue is
//! bounded: a job that writes faster than the store keeps up waits.

use async_trait::async_trait;
use orvanta_core::{Job, JobId};
use orvanta_exec::RunObserver;
use orvanta_store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

enum Output {
    Logs(String),
    Stream(String),
}

/// The observer handed to the runtime.
pub(super) struct Sink {
    tx: mpsc::Sender<Output>,
    task: tokio::task::JoinHandle<()>,
}

impl Sink {
    /// Starts the writer; a retried job's output continues after what its
    /// previous attempt left.
    pub(super) async fn start(store: Arc<dyn Store>, job: &Job, stream_cap: usize) -> Result<Self, StoreError> {
        let (mut log_at, mut stream_at) = (0i64, 0i64);
        if job.retries > 0 {
            log_at = store.read_logs(job.id, 0).await?.len() as i64;
            stream_at = store.read_stream(job.id, 0).await?.len() as i64;
            let note = "\n[orvanta] the previous worker of this job stopped responding; running it again\n";
            store.append_logs(job.id, log_at, note).await?;
            log_at += note.len() as i64;
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(write_loop(store, job.id, rx, (log_at, stream_at), stream_cap as i64));
        Ok(Self { tx, task })
    }

    /// Stores what is still buffered and stops the writer.
    pub(super) async fn finish(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

#[async_trait]
impl RunObserver for Sink {
    async fn on_logs(&self, chunk: &str) {
        let _ = self.tx.send(Output::Logs(chunk.to_owned())).await;
    }
    async fn on_stream(&self, chunk: &str) {
        let _ = self.tx.send(Output::Stream(chunk.to_owned())).await;
    }
}

const FLUSH_EVERY: Duration = Duration::from_millis(50);
const FLUSH_BYTES: usize = 64 * 1024;
/// Messages waiting for the writer; a job that writes faster than the store
/// takes them waits for room (its pipe fills and its writes block) instead
/// of growing the worker's memory.
const QUEUE: usize = 256;

/// `at`: where the logs and the stream continue (after an earlier attempt's).
async fn write_loop(store: Arc<dyn Store>, id: JobId, mut rx: mpsc::Receiver<Output>, at: (i64, i64), stream_cap: i64) {
    let mut logs = Pending { text: String::new(), at: at.0 };
    let mut stream = Stream { text: String::new(), at: at.1, cap: stream_cap };
    loop {
        let next = if logs.text.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(FLUSH_EVERY, rx.recv()).await {
                Ok(o) => o,
                Err(_) => {
                    logs.flush(&*store, id).await;
                    continue;
                }
            }
        };
        match next {
            Some(Output::Logs(chunk)) => {
                logs.text.push_str(&chunk);
                if logs.text.len() >= FLUSH_BYTES {
                    logs.flush(&*store, id).await;
                }
            }
            Some(Output::Stream(chunk)) => {
                // Chunks that queued up while the last one was being stored
                // go in as one row: a job printing tiny chunks in a loop
                // costs one write per store round trip, not one per chunk.
                stream.push(&chunk, &mut logs.text);
                while stream.text.len() < FLUSH_BYTES {
                    match rx.try_recv() {
                        Ok(Output::Stream(chunk)) => stream.push(&chunk, &mut logs.text),
                        Ok(Output::Logs(chunk)) => logs.text.push_str(&chunk),
                        Err(_) => break,
                    }
                }
                // Logs written before the chunks reach the store first.
                logs.flush(&*store, id).await;
                stream.flush(&*store, id).await;
            }
            None => {
                logs.flush(&*store, id).await;
                return;
            }
        }
    }
}

/// Logs not yet stored, and where they go.
struct Pending {
    text: String,
    at: i64,
}

impl Pending {
    async fn flush(&mut self, store: &dyn Store, id: JobId) {
        if self.text.is_empty() {
            return;
        }
        if let Err(e) = store.append_logs(id, self.at, &self.text).await {
            tracing::warn!(job = %id, error = %e, "logs could not be stored");
        }
        self.at += self.text.len() as i64;
        self.text.clear();
    }
}

/// Stream chunks not yet stored; past `cap` bytes the rest is dropped.
struct Stream {
    text: String,
    at: i64,
    cap: i64,
}

impl Stream {
    fn push(&mut self, chunk: &str, logs: &mut String) {
        let end = self.at + (self.text.len() + chunk.len()) as i64;
        if self.at > self.cap {
            return;
        }
        if end > self.cap {
            logs.push_str(&format!(
                "\n[orvanta] result stream truncated: over the {}-byte cap; later chunks are dropped\n",
                self.cap
            ));
            // Marks the cap as passed once what is buffered is stored.
            self.cap = -1;
            return;
        }
        self.text.push_str(chunk);
    }

    async fn flush(&mut self, store: &dyn Store, id: JobId) {
        if !self.text.is_empty() {
            if let Err(e) = store.append_stream(id, self.at, &self.text).await {
                tracing::warn!(job = %id, error = %e, "a stream chunk could not be stored");
            }
            self.at += self.text.len() as i64;
            self.text.clear();
        }
    }
}
