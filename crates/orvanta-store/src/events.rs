//! Job events: what wakes waiting requests and idle workers.

use orvanta_core::JobId;

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

#[cfg(test)]
mod tests {
    use super::*;

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
