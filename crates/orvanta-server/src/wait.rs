//! Waiting for a job to finish without polling in a tight loop: a waiter
//! subscribes to the store's job events (in-process channels on SQLite,
//! `LISTEN/NOTIFY` on PostgreSQL) and re-reads the job only when its
//! completion is announced, when events may have been lost, or every few
//! seconds as a safety net.

use crate::error::{ApiError, ApiResult};
use orvanta_core::{Job, JobId, WorkspaceId};
use orvanta_store::{JobEvent, Store};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

/// How often a waiter re-reads the job even without an event.
const SAFETY_NET: Duration = Duration::from_secs(3);

/// The finished job, or `None` if `timeout` passed first.
pub async fn until_done(store: &dyn Store, ws: &WorkspaceId, id: JobId, timeout: Duration) -> ApiResult<Option<Job>> {
    let mut events = store.subscribe();
    let deadline = Instant::now() + timeout;
    loop {
        let job = store
            .get_job(ws, id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("job {id} not found in workspace '{ws}'")))?;
        if job.status.is_final() {
            return Ok(Some(job));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        let nap = tokio::time::sleep((deadline - now).min(SAFETY_NET));
        tokio::pin!(nap);
        loop {
            tokio::select! {
                _ = &mut nap => break,
                e = events.recv() => match e {
                    Ok(JobEvent::Completed(x)) if x == id => break,
                    Ok(JobEvent::Resync) | Err(RecvError::Lagged(_)) => break,
                    Ok(_) => {}
                    Err(RecvError::Closed) => {
                        (&mut nap).await;
                        break;
                    }
                },
            }
        }
    }
}
