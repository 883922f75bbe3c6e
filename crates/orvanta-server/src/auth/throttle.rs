//! Slows down guessing: a client (by IP address) whose tokens or passwords
//! fail too often within a minute gets 429 with `Retry-After` for the rest
//! of that minute. Valid callers are not slowed: a token this process has
//! already seen valid still works from a blocked address, and other
//! addresses are not affected at all.

use crate::error::{ApiError, ApiResult};
use axum::extract::ConnectInfo;
use axum::http::Extensions;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per client within [`WINDOW`], by default.
pub const LIMIT: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Clients tracked at most; beyond, the oldest windows are dropped.
const MAX_CLIENTS: usize = 100_000;

pub struct Throttle {
    limit: u32,
    clients: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new(LIMIT)
    }
}

/// The client address of a request (the peer; a proxy's clients share its address).
pub fn client_of(extensions: &Extensions) -> IpAddr {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

impl Throttle {
    /// Allows `limit` failures per client and minute.
    pub fn new(limit: u32) -> Self {
        Self { limit, clients: Mutex::default() }
    }

    /// 429 when `client` failed `limit` times in the current window.
    pub fn check(&self, client: IpAddr) -> ApiResult<()> {
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        match clients.get(&client) {
            Some(&(failures, since)) if failures >= self.limit && since.elapsed() < WINDOW => {
                let wait = (WINDOW - since.elapsed()).as_secs().max(1);
                Err(ApiError::TooManyRequests(
                    format!("too many failed attempts with a wrong token or password from your address; try again in {wait} s"),
                    wait,
                ))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed attempt of `client`.
    pub fn failed(&self, client: IpAddr) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.len() >= MAX_CLIENTS {
            clients.retain(|_, (_, since)| since.elapsed() < WINDOW);
        }
        let entry = clients.entry(client).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_only_that_client() {
        let t = Throttle::default();
        let bad: IpAddr = "10.0.0.1".parse().unwrap();
        let good: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..LIMIT {
            t.check(bad).unwrap();
            t.failed(bad);
        }
        assert!(matches!(t.check(bad), Err(ApiError::TooManyRequests(_, s)) if (1..=60).contains(&s)));
        t.check(good).unwrap();
    }
}
