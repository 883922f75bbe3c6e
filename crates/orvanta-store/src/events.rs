//! Job events: what wakes waiting requests and idle workers.
//!
//! An [`EventHub`] hands each event to two kinds of listeners: the broadcast
//! ([`EventHub::subscribe`]) that hears every event (idle worker slots wait
//! there for `Enqueued`), and the watches of single jobs
//! ([`EventHub::watch`]: sync waiters, SSE streams, leases), each woken only
//! by its own job's events and by `Resync`. A thousand requests waiting on a
//! thousand jobs so cost one wake-up per event, not a thousand.

use orvanta_core::JobId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc};

/// Something happened to a job. Carried in-process (SQLite) or through
/// `NOTIFY` (PostgreSQL) as the short text of [`JobEvent::encode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEvent {
    /// A job was enqueued: idle workers should claim.
    Enqueued,
    /// New logs or stream chunks of this job were stored.
    Progress(JobId),
    /// The job started running.
    Started(JobId),
    /// The job finished (any final status).
    Completed(JobId),
    /// A cancel was asked for this running job.
    CancelRequested(JobId),
    /// Events may have been lost (listener reconnected): waiters re-read.
    Resync,
}

impl JobEvent {
    pub(crate) fn encode(&self) -> String {
        match self {
            Self::Enqueued => "q".into(),
            Self::Progress(id) => format!("p{id}"),
            Self::Started(id) => format!("s{id}"),
            Self::Completed(id) => format!("c{id}"),
            Self::CancelRequested(id) => format!("x{id}"),
            Self::Resync => "r".into(),
        }
    }

    pub(crate) fn decode(s: &str) -> Option<Self> {
        let (tag, rest) = s.split_at_checked(1)?;
        let id = || JobId::parse(rest).ok();
        Some(match tag {
            "q" => Self::Enqueued,
            "p" => Self::Progress(id()?),
            "s" => Self::Started(id()?),
            "c" => Self::Completed(id()?),
            "x" => Self::CancelRequested(id()?),
            "r" => Self::Resync,
            _ => return None,
        })
    }

    /// The job this event is about, if one.
    pub fn job(&self) -> Option<JobId> {
        match self {
            Self::Progress(id) | Self::Started(id) | Self::Completed(id) | Self::CancelRequested(id) => Some(*id),
            Self::Enqueued | Self::Resync => None,
        }
    }
}

/// The watches of each job: the watch's key and where its events go.
type Watches = HashMap<JobId, Vec<(u64, mpsc::Sender<JobEvent>)>>;

/// The events a watch keeps unread. Past it new events are dropped: those
/// kept already make their reader look at the job again, and a watch whose
/// reader stopped reading (a stalled SSE client) holds no more than this.
const WATCH_QUEUE: usize = 64;

/// Routes job events to the broadcast and to the watches of single jobs.
pub struct EventHub {
    all: broadcast::Sender<JobEvent>,
    watches: Mutex<Watches>,
    next: AtomicU64,
}

impl EventHub {
    /// A hub whose broadcast keeps `capacity` events for a slow subscriber.
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self { all: broadcast::channel(capacity).0, watches: Mutex::default(), next: AtomicU64::new(0) })
    }

    pub fn publish(&self, e: JobEvent) {
        let _ = self.all.send(e);
        let watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        match e.job() {
            Some(id) => {
                for (_, tx) in watches.get(&id).into_iter().flatten() {
                    let _ = tx.try_send(e);
                }
            }
            None if e == JobEvent::Resync => {
                for (_, tx) in watches.values().flatten() {
                    let _ = tx.try_send(e);
                }
            }
            None => {}
        }
    }

    /// Every event, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.all.subscribe()
    }

    /// The events of job `id` (and every `Resync`), from now on.
    pub fn watch(self: &Arc<Self>, id: JobId) -> JobWatch {
        let (tx, rx) = mpsc::channel(WATCH_QUEUE);
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        let mut watch = JobWatch { ids: Vec::new(), key, tx, rx, hub: self.clone() };
        watch.follow(id);
        watch
    }

    #[cfg(test)]
    fn watched(&self) -> usize {
        self.watches.lock().unwrap().len()
    }
}

/// The events of one job (or a few); unregisters itself when dropped.
pub struct JobWatch {
    ids: Vec<JobId>,
    key: u64,
    tx: mpsc::Sender<JobEvent>,
    rx: mpsc::Receiver<JobEvent>,
    hub: Arc<EventHub>,
}

impl JobWatch {
    /// The next event of a followed job (or a `Resync`).
    pub async fn recv(&mut self) -> JobEvent {
        // This watch holds a sender itself: the channel never closes.
        self.rx.recv().await.unwrap_or(JobEvent::Resync)
    }

    /// The job the watch was made for.
    pub fn job(&self) -> JobId {
        self.ids[0]
    }

    /// Hears the events of `id` too, from now on.
    pub fn follow(&mut self, id: JobId) {
        if self.ids.contains(&id) {
            return;
        }
        self.ids.push(id);
        let mut watches = self.hub.watches.lock().unwrap_or_else(|p| p.into_inner());
        watches.entry(id).or_default().push((self.key, self.tx.clone()));
    }
}

impl std::fmt::Debug for JobWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobWatch").field("ids", &self.ids).finish_non_exhaustive()
    }
}

impl Drop for JobWatch {
    fn drop(&mut self) {
        let mut watches = self.hub.watches.lock().unwrap_or_else(|p| p.into_inner());
        for id in &self.ids {
            if let Some(list) = watches.get_mut(id) {
                list.retain(|(k, _)| *k != self.key);
                if list.is_empty() {
                    watches.remove(id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_watch_hears_its_own_job_and_resyncs_only() {
        let hub = EventHub::new(16);
        let (a, b) = (JobId::new(), JobId::new());
        let mut wa = hub.watch(a);
        let mut wa2 = hub.watch(a);
        let mut all = hub.subscribe();
        hub.publish(JobEvent::Started(b));
        hub.publish(JobEvent::Enqueued);
        hub.publish(JobEvent::Completed(a));
        hub.publish(JobEvent::Resync);
        assert_eq!(wa.recv().await, JobEvent::Completed(a));
        assert_eq!(wa.recv().await, JobEvent::Resync);
        assert_eq!(wa2.recv().await, JobEvent::Completed(a));
        assert_eq!(all.recv().await.unwrap(), JobEvent::Started(b));
        assert_eq!(hub.watched(), 1);
        wa.follow(b);
        hub.publish(JobEvent::Completed(b));
        assert_eq!(wa.recv().await, JobEvent::Completed(b), "a followed job is heard too");
        drop(wa);
        assert_eq!(hub.watched(), 1);
        drop(wa2);
        assert_eq!(hub.watched(), 0, "dropped watches unregister");

        // A reader that stopped reading holds a bounded queue.
        let mut stalled = hub.watch(a);
        for _ in 0..10 * WATCH_QUEUE {
            hub.publish(JobEvent::Progress(a));
        }
        hub.publish(JobEvent::Completed(a));
        let mut kept = 0;
        while stalled.rx.try_recv().is_ok() {
            kept += 1;
        }
        assert_eq!(kept, WATCH_QUEUE);
    }

    #[test]
    fn round_trip() {
        let id = JobId::new();
        for e in [
            JobEvent::Enqueued,
            JobEvent::Progress(id),
            JobEvent::Completed(id),
            JobEvent::CancelRequested(id),
            JobEvent::Resync,
            JobEvent::Started(id),
        ] {
            assert_eq!(JobEvent::decode(&e.encode()), Some(e));
        }
        assert_eq!(JobEvent::decode(""), None);
        assert_eq!(JobEvent::decode("cnot-a-uuid"), None);
    }
}
