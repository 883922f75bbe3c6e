//! Waiting for a job to finish without polling in a tight loop: a waiter
//! watches its job's events (in-process channels on SQLite, `LISTEN/NOTIFY`
//! on PostgreSQL; other jobs' events do not wake it) and re-reads the job
//! only when its completion or progress is announced, when events may have
//! been lost, or every few seconds as a safety net.
//!
//! A flow run counts as done for a waiter as soon as its early-return step
//! has finished (contract §5): the waiter gets the flow job with that result.

use orvanta_core::{Job, JobId, WorkspaceId};
use orvanta_store::{JobEvent, JobWatch, Store, StoreError};
use std::time::Duration;
use tokio::time::Instant;

/// How often a waiter re-reads the job even without an event.
const SAFETY_NET: Duration = Duration::from_secs(3);

/// How a wait ended.
#[derive(Debug)]
pub enum Waited {
    /// The job finished (or, for a flow, its early-return step did); with
    /// its result stream when it was read along (after its end was announced).
    Done(Box<Job>, Option<String>),
    TimedOut,
    /// The job does not exist (any more).
    Gone,
}

/// Whether a waiter has its answer in `job`.
pub fn answered(job: &Job) -> bool {
    job.status.is_final() || crate::flows::early_result(job).is_some()
}

/// Waits until the job is answered (see [`answered`]) or `timeout` passes.
pub async fn until_done(
    store: &dyn Store,
    ws: &WorkspaceId,
    id: JobId,
    timeout: Duration,
) -> Result<Waited, StoreError> {
    until_done_from(store, ws, id, timeout, None).await
}

/// [`until_done`] with a watch made before the job was enqueued: then
/// nothing of its end can have passed, and the job is first read when an
/// event says it changed (or after the safety net's nap).
pub async fn until_done_from(
    store: &dyn Store,
    ws: &WorkspaceId,
    id: JobId,
    timeout: Duration,
    watched: Option<JobWatch>,
) -> Result<Waited, StoreError> {
    let watched = watched.filter(|w| w.job() == id);
    let mut read_first = watched.is_none();
    let mut events = watched.unwrap_or_else(|| store.watch(id));
    let deadline = Instant::now() + timeout;
    // Announced ended: the job is read with its stream, in one read.
    let mut ended = false;
    loop {
        if read_first {
            let (job, stream) = if ended {
                let Some((job, stream)) = store.get_job_and_stream(ws, id).await? else { return Ok(Waited::Gone) };
                (job, Some(stream))
            } else {
                let Some(job) = store.get_job(ws, id).await? else { return Ok(Waited::Gone) };
                (job, None)
            };
            if answered(&job) {
                return Ok(Waited::Done(Box::new(job), stream));
            }
        }
        read_first = true;
        let now = Instant::now();
        if now >= deadline {
            return Ok(Waited::TimedOut);
        }
        let nap = tokio::time::sleep((deadline - now).min(SAFETY_NET));
        tokio::pin!(nap);
        loop {
            tokio::select! {
                _ = &mut nap => break,
                e = events.recv() => match e {
                    JobEvent::Completed(_) => {
                        ended = true;
                        break;
                    }
                    JobEvent::Progress(_) | JobEvent::Resync => break,
                    _ => {}
                },
            }
        }
    }
}
