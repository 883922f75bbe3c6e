//! Reading request bodies: under the request's own limit, and under one
//! budget shared by every request in flight, so that many large bodies at
//! once cannot take the server's memory (a per-request limit alone lets N
//! connections hold N times it).
//!
//! The budget is counted in KiB of body bytes held. A request takes its share
//! as its bytes arrive and keeps it (the [`Held`] guard) while it works on
//! them; a request that finds the budget spent waits a little (the sender is
//! slowed by TCP meanwhile), then is answered 503. A body that breaks off or
//! is malformed is a 400; only a body over its limit is a 413.

use crate::error::{ApiError, ApiResult};
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a request waits for a share of the budget before its 503.
const BUDGET_WAIT: Duration = Duration::from_secs(10);

/// The bytes every request in flight may hold together.
pub struct BodyBudget {
    permits: Arc<Semaphore>,
    kib: u32,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX).min(Semaphore::MAX_PERMITS as u32);
        Self { permits: Arc::new(Semaphore::new(kib as usize)), kib }
    }

    /// KiB of the budget not held right now.
    pub fn available_kib(&self) -> usize {
        self.permits.available_permits()
    }
}

/// A request's share of the budget; returned when dropped.
#[derive(Debug, Default)]
pub struct Held(Option<OwnedSemaphorePermit>);

impl Held {
    fn add(&mut self, permit: OwnedSemaphorePermit) {
        match &mut self.0 {
            Some(held) => held.merge(permit),
            None => self.0 = Some(permit),
        }
    }
}

/// What a body is, for the messages.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub bytes: usize,
    /// The setting that raises it, e.g. `ORVANTA_BODY_LIMIT_BYTES`.
    pub setting: &'static str,
}

/// Reads a whole body under `limit` and the shared `budget`.
pub async fn read(budget: &BodyBudget, headers: &HeaderMap, body: Body, limit: Limit) -> ApiResult<(Bytes, Held)> {
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "the request body is over the size limit of {} bytes ({}); nothing was stored",
            limit.bytes, limit.setting
        ))
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.bytes as u64) {
        return Err(too_large());
    }
    let mut held = Held::default();
    let mut charged_kib: u32 = 0;
    let mut buf: Vec<u8> = Vec::with_capacity(declared.map_or(0, |n| n as usize).min(64 * 1024));
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::BadRequest(format!(
                "the request body could not be read: {e}; check that it matches its Content-Length or chunked encoding"
            ))
        })?;
        let Ok(data) = frame.into_data() else { continue };
        if buf.len() + data.len() > limit.bytes {
            return Err(too_large());
        }
        let need = u32::try_from((buf.len() + data.len()).div_ceil(1024)).unwrap_or(u32::MAX);
        if need > charged_kib {
            let more = need - charged_kib;
            if more > budget.kib {
                return Err(too_large());
            }
            let permit = tokio::time::timeout(BUDGET_WAIT, budget.permits.clone().acquire_many_owned(more))
                .await
                .map_err(|_| busy(budget))?
                .map_err(|_| busy(budget))?;
            held.add(permit);
            charged_kib = need;
        }
        buf.extend_from_slice(&data);
    }
    Ok((Bytes::from(buf), held))
}

fn busy(budget: &BodyBudget) -> ApiError {
    ApiError::Unavailable(format!(
        "the server is holding as many request bodies as it may at once ({} KiB, ORVANTA_BODY_BUDGET_BYTES); nothing was stored, retry shortly",
        budget.kib
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(bytes: usize) -> Limit {
        Limit { bytes, setting: "X" }
    }

    #[tokio::test]
    async fn reads_under_the_limit_and_gives_the_budget_back() {
        let budget = BodyBudget::new(8 * 1024);
        let (bytes, held) = read(&budget, &HeaderMap::new(), Body::from("hello"), limit(10)).await.unwrap();
        assert_eq!(&bytes[..], b"hello");
        assert_eq!(budget.available_kib(), 7);
        drop(held);
        assert_eq!(budget.available_kib(), 8);
        let e = read(&budget, &HeaderMap::new(), Body::from("x".repeat(11)), limit(10)).await.unwrap_err();
        assert!(matches!(e, ApiError::PayloadTooLarge(_)));
        assert_eq!(budget.available_kib(), 8);
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_is_a_503_after_a_wait() {
        let budget = BodyBudget::new(4 * 1024);
        let (_, held) = read(&budget, &HeaderMap::new(), Body::from(vec![b'a'; 4096]), limit(1 << 20)).await.unwrap();
        let e = read(&budget, &HeaderMap::new(), Body::from("b"), limit(1 << 20)).await.unwrap_err();
        assert!(matches!(e, ApiError::Unavailable(_)), "{e}");
        drop(held);
        assert!(read(&budget, &HeaderMap::new(), Body::from("b"), limit(1 << 20)).await.is_ok());
    }
}
