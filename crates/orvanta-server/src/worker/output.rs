//! The job's output on its way to the store: logs are coalesced (a flush
//! every 50 ms or 64 KiB, so a chatty script costs few writes), stream chunks
//! are stored one by one as they come (each is a unit a listener sees).

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
    tx: mpsc::UnboundedSender<Output>,
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
        let (tx, rx) = mpsc::unbounded_channel();
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
        let _ = self.tx.send(Output::Logs(chunk.to_owned()));
    }
    async fn on_stream(&self, chunk: &str) {
        let _ = self.tx.send(Output::Stream(chunk.to_owned()));
    }
}

const FLUSH_EVERY: Duration = Duration::from_millis(50);
const FLUSH_BYTES: usize = 64 * 1024;

/// `at`: where the logs and the stream continue (after an earlier attempt's).
async fn write_loop(
    store: Arc<dyn Store>,
    id: JobId,
    mut rx: mpsc::UnboundedReceiver<Output>,
    at: (i64, i64),
    stream_cap: i64,
) {
    let (mut log_at, mut stream_at) = at;
    let mut pending = String::new();
    loop {
        let next = if pending.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout(FLUSH_EVERY, rx.recv()).await {
                Ok(o) => o,
                Err(_) => {
                    flush(&*store, id, &mut pending, &mut log_at).await;
                    continue;
                }
            }
        };
        match next {
            Some(Output::Logs(chunk)) => {
                pending.push_str(&chunk);
                if pending.len() >= FLUSH_BYTES {
                    flush(&*store, id, &mut pending, &mut log_at).await;
                }
            }
            Some(Output::Stream(_)) if stream_at > stream_cap => {}
            Some(Output::Stream(chunk)) => {
                // Logs written before the chunk reach the store first.
                if stream_at + chunk.len() as i64 > stream_cap {
                    pending.push_str(&format!(
                        "\n[orvanta] result stream truncated: over the {stream_cap}-byte cap; later chunks are dropped\n"
                    ));
                    stream_at = stream_cap + 1;
                    continue;
                }
                flush(&*store, id, &mut pending, &mut log_at).await;
                if let Err(e) = store.append_stream(id, stream_at, &chunk).await {
                    tracing::warn!(job = %id, error = %e, "a stream chunk could not be stored");
                }
                stream_at += chunk.len() as i64;
            }
            None => {
                flush(&*store, id, &mut pending, &mut log_at).await;
                return;
            }
        }
    }
}

async fn flush(store: &dyn Store, id: JobId, pending: &mut String, at: &mut i64) {
    if pending.is_empty() {
        return;
    }
    if let Err(e) = store.append_logs(id, *at, pending).await {
        tracing::warn!(job = %id, error = %e, "logs could not be stored");
    }
    *at += pending.len() as i64;
    pending.clear();
}
