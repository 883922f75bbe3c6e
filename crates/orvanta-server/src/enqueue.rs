//! Group commit: concurrent requests share one transaction.
//!
//! Each caller hands its item to the batcher and waits for the answer, which
//! comes only after the transaction holding the item committed, so an
//! acknowledged item is durable exactly as with one transaction per item. A
//! lone request is not delayed: the batcher takes whatever is waiting the
//! moment it is free, never waits for more. Two batchers use it: job
//! enqueues ([`Enqueuer`]) and inbound webhook events ([`HookRecorder`]).

use futures::future::BoxFuture;
use orvanta_core::NewJob;
use orvanta_store::{Enqueued, HookRecord, HookRecorded, Store, StoreError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most items in one transaction.
const MAX_BATCH: usize = 512;

struct Pending<T, R> {
    item: T,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

/// Writes a batch in one transaction; answers one result per item, in order.
/// (Shared, not copied: the batch is kept for a retry one by one.)
type Commit<T, R> = Arc<dyn Fn(Arc<Vec<T>>) -> BoxFuture<'static, Result<Vec<R>, StoreError>> + Send + Sync>;

/// A batcher of `T` items, each answered with an `R`.
pub struct GroupCommit<T, R> {
    tx: mpsc::Sender<Pending<T, R>>,
}

impl<T: Clone + Send + Sync + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// Starts the batcher; it ends when the last handle is dropped.
    fn start(commit: Commit<T, R>) -> Self {
        let (tx, rx) = mpsc::channel(8 * MAX_BATCH);
        tokio::spawn(batch_loop(commit, rx));
        Self { tx }
    }

    /// Hands one item over; answers once it is committed.
    pub async fn submit(&self, item: T) -> Result<R, StoreError> {
        let stopped = || StoreError::Unavailable("the group-commit batcher has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.tx.send(Pending { item, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn batch_loop<T: Clone + Send + Sync, R: Send>(commit: Commit<T, R>, mut rx: mpsc::Receiver<Pending<T, R>>) {
    let mut batch: Vec<Pending<T, R>> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (items, replies): (Vec<T>, Vec<_>) = batch.drain(..).map(|p| (p.item, p.reply)).unzip();
        let items = Arc::new(items);
        let started = std::time::Instant::now();
        let count = items.len();
        let result = commit(items.clone()).await;
        tracing::debug!(items = count, micros = started.elapsed().as_micros() as u64, "group commit");
        match result {
            Ok(answers) => {
                for (reply, a) in replies.into_iter().zip(answers) {
                    let _ = reply.send(Ok(a));
                }
            }
            // One bad item must not fail its neighbours: retry them one by one.
            Err(_) if count > 1 => {
                for (item, reply) in items.iter().zip(replies) {
                    let r = commit(Arc::new(vec![item.clone()])).await.and_then(|mut v| {
                        v.pop().ok_or_else(|| StoreError::Internal("a group commit answered nothing".into()))
                    });
                    let _ = reply.send(r);
                }
            }
            // A lone item's error is its own.
            Err(e) => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }
}

/// The handle requests enqueue jobs through.
pub struct Enqueuer(GroupCommit<NewJob, Enqueued>);

impl Enqueuer {
    pub fn start(store: Arc<dyn Store>) -> Self {
        Self(GroupCommit::start(Arc::new(move |jobs: Arc<Vec<NewJob>>| {
            let store = store.clone();
            Box::pin(async move { store.enqueue(&jobs).await })
        })))
    }

    /// Enqueues one job; answers once it is committed.
    pub async fn enqueue(&self, job: NewJob) -> Result<Enqueued, StoreError> {
        self.0.submit(job).await
    }
}

/// The handle inbound webhook events are recorded through.
pub struct HookRecorder(GroupCommit<HookRecord, HookRecorded>);

impl HookRecorder {
    pub fn start(store: Arc<dyn Store>) -> Self {
        Self(GroupCommit::start(Arc::new(move |records: Arc<Vec<HookRecord>>| {
            let store = store.clone();
            Box::pin(async move { store.record_hook_events(&records).await })
        })))
    }

    /// Records one event with its jobs; answers once they are committed.
    pub async fn record(&self, record: HookRecord) -> Result<HookRecorded, StoreError> {
        self.0.submit(record).await
    }
}
