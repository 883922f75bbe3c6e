//! Holding a job: renews the lease every third of its length, and turns a
//! cancel request (seen at renewal, or announced by an event) or a lost lease
//! into the cancellation of the running process.

use super::WorkerCtx;
use orvanta_core::{Job, JobId};
use orvanta_store::{JobEvent, LeaseState, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The cancellation handed to the runtime, with the reason beside it (a
/// `CancellationToken` carries none).
#[derive(Clone, Default)]
pub(super) struct CancelSignal {
    token: CancellationToken,
    reason: Arc<std::sync::Mutex<Option<String>>>,
}

impl CancelSignal {
    pub(super) fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Why the job was canceled, once it was.
    pub(super) fn reason(&self) -> Option<String> {
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn cancel(&self, reason: String) {
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(reason);
        self.token.cancel();
    }
}

/// A held lease; [`Lease::release`] stops renewing and tells whether it was kept.
pub(super) struct Lease {
    pub(super) cancel: CancelSignal,
    lost: Arc<AtomicBool>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Lease {
    pub(super) fn hold(ctx: &WorkerCtx, job: &Job, worker: &str) -> Self {
        let cancel = CancelSignal::default();
        let stop = CancellationToken::new();
        let lost = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(renew_loop(RenewLoop {
            store: ctx.store.clone(),
            id: job.id,
            worker: worker.to_owned(),
            lease: Duration::from_secs(ctx.cfg.worker.lease_s),
            cancel: cancel.clone(),
            stop: stop.clone(),
            lost: lost.clone(),
        }));
        Self { cancel, lost, stop, task }
    }

    /// Stops renewing; true when the lease was held to the end.
    pub(super) async fn release(mut self) -> bool {
        self.stop.cancel();
        let _ = (&mut self.task).await;
        !self.lost.load(Ordering::SeqCst)
    }
}

/// A step that is dropped or panics must not leave the renewal running, or
/// the job would stay `running` forever instead of being swept.
impl Drop for Lease {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

struct RenewLoop {
    store: Arc<dyn Store>,
    id: JobId,
    worker: String,
    lease: Duration,
    cancel: CancelSignal,
    stop: CancellationToken,
    lost: Arc<AtomicBool>,
}

async fn renew_loop(r: RenewLoop) {
    let mut events = r.store.watch(r.id);
    let every = r.lease / 3;
    let mut held_until = tokio::time::Instant::now() + r.lease;
    loop {
        // A fixed time, so that the job's own events (its logs) do not push
        // the renewal back.
        let renew_at = tokio::time::Instant::now() + every;
        loop {
            tokio::select! {
                _ = r.stop.cancelled() => return,
                _ = tokio::time::sleep_until(renew_at) => break,
                e = events.recv() => match e {
                    JobEvent::CancelRequested(_) | JobEvent::Resync => break,
                    _ => {}
                },
            }
        }
        let until = orvanta_core::now_millis() + r.lease.as_millis() as i64;
        let asked = tokio::time::Instant::now();
        match r.store.renew_lease(r.id, &r.worker, until).await {
            Ok(LeaseState::Held) => held_until = asked + r.lease,
            Ok(LeaseState::CancelRequested(reason)) => {
                held_until = asked + r.lease;
                tracing::info!(job = %r.id, %reason, "cancel requested");
                r.cancel.cancel(reason);
            }
            Ok(LeaseState::Lost) => {
                r.lost.store(true, Ordering::SeqCst);
                r.cancel.cancel("the worker lost its lease on the job".into());
                return;
            }
            // A failed renewal is retried at the next tick; the lease is three
            // ticks long. Once it has run out, another worker may get the job:
            // stop this run rather than run it twice.
            Err(e) if tokio::time::Instant::now() >= held_until => {
                tracing::warn!(job = %r.id, error = %e, "the lease ran out while the database was unreachable; stopping the job");
                r.lost.store(true, Ordering::SeqCst);
                r.cancel.cancel("the worker could not renew its lease on the job".into());
                return;
            }
            Err(e) => tracing::warn!(job = %r.id, error = %e, "lease renewal failed"),
        }
    }
}
