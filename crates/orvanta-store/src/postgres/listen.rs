//! Job events from every process, through `LISTEN orvanta_jobs`.
//!
//! One background task per store holds a [`PgListener`] and forwards each
//! notification into the store's broadcast channel. A listener that loses its
//! connection (a PostgreSQL restart, a network cut) may have missed events,
//! so once it listens again the task sends [`JobEvent::Resync`] and waiters
//! re-read what they wait for. The task lives exactly as long as the store.

use super::CHANNEL;
use crate::{EventHub, JobEvent};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The listener task; aborted when dropped, that is when its store is.
pub(super) struct ListenerTask(JoinHandle<()>);

impl Drop for ListenerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts listening before it returns, so that no event committed after
/// `open` is missed.
pub(super) async fn start(pool: PgPool, events: Arc<EventHub>) -> Result<ListenerTask, sqlx::Error> {
    let listener = listen(&pool).await?;
    Ok(ListenerTask(tokio::spawn(forward(pool, listener, events))))
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn forward(pool: PgPool, mut listener: PgListener, events: Arc<EventHub>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => match JobEvent::decode(n.payload()) {
                // No receiver is fine: nobody is waiting right now.
                Some(event) => events.publish(event),
                None => {
                    tracing::warn!(payload = n.payload(), "ignored a notification on {CHANNEL} that is not a job event")
                }
            },
            // sqlx already reconnected and listens again; what came in between is lost.
            Ok(None) => {
                tracing::warn!("the job event listener lost its PostgreSQL connection and reconnected");
                events.publish(JobEvent::Resync);
            }
            Err(e) => {
                tracing::warn!(error = %e, "the job event listener failed; reconnecting");
                drop(listener);
                listener = reconnect(&pool).await;
                events.publish(JobEvent::Resync);
            }
        }
    }
}

/// A fresh listener, trying until the server answers again.
async fn reconnect(pool: &PgPool) -> PgListener {
    let mut backoff = FIRST_BACKOFF;
    loop {
        tokio::time::sleep(backoff).await;
        match listen(pool).await {
            Ok(listener) => {
                tracing::info!("the job event listener is listening again");
                return listener;
            }
            Err(e) => {
                backoff = (backoff * 2).min(MAX_BACKOFF);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "the job event listener cannot reconnect yet");
            }
        }
    }
}
