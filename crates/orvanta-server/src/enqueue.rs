//! Group commit for enqueues: concurrent requests share one transaction.
//!
//! Each caller hands its job to the batcher and waits for the answer, which
//! comes only after the transaction holding the job committed, so an
//! acknowledged job is durable exactly as with one transaction per job. A
//! lone request is not delayed: the batcher takes whatever is waiting the
//! moment it is free, never waits for more.

use orvanta_core::NewJob;
use orvanta_store::{Enqueued, Store, StoreError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most jobs in one transaction.
const MAX_BATCH: usize = 512;

struct Pending {
    job: NewJob,
    reply: oneshot::Sender<Result<Enqueued, StoreError>>,
}

/// The handle requests enqueue through.
pub struct Enqueuer {
    tx: mpsc::Sender<Pending>,
}

impl Enqueuer {
    /// Starts the batcher on `store`; it ends when the last handle is dropped.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (tx, rx) = mpsc::channel(8 * MAX_BATCH);
        tokio::spawn(batch_loop(store, rx));
        Self { tx }
    }

    /// Enqueues one job; answers once it is committed.
    pub async fn enqueue(&self, job: NewJob) -> Result<Enqueued, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending { job, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the enqueue batcher has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("the enqueue batcher has stopped".into()))?
    }
}

async fn batch_loop(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs: Vec<NewJob> = batch.iter().map(|p| p.job.clone()).collect();
        let started = std::time::Instant::now();
        let result = store.enqueue(&jobs).await;
        tracing::debug!(jobs = jobs.len(), micros = started.elapsed().as_micros() as u64, "enqueue batch");
        match result {
            Ok(answers) => {
                for (p, a) in batch.drain(..).zip(answers) {
                    let _ = p.reply.send(Ok(a));
                }
            }
            // One bad job must not fail its neighbours: retry them one by one.
            Err(_) if batch.len() > 1 => {
                for p in batch.drain(..) {
                    let r = store.enqueue(std::slice::from_ref(&p.job)).await.and_then(|mut v| {
                        v.pop().ok_or_else(|| StoreError::Internal("enqueue answered nothing".into()))
                    });
                    let _ = p.reply.send(r);
                }
            }
            // A lone job's error is its own.
            Err(e) => {
                if let Some(p) = batch.pop() {
                    let _ = p.reply.send(Err(e));
                }
            }
        }
    }
}
