//! The workspace webhook (contract §9): every process delivers the events
//! of the outbox — oldest first per workspace, signed with Standard Webhooks
//! headers, retried on the §9 ladder, every attempt recorded.
//!
//! - A 2xx within the timeout (15 s) is delivered; a redirect is not followed
//!   (it is a failure); a 410 disables the workspace's webhook.
//! - `Retry-After` (seconds) postpones the next attempt when it asks for more
//!   than the ladder.
//! - A URL that resolves to loopback, private, link-local or other internal
//!   ranges is refused, when saved and again before each delivery, unless
//!   `ORVANTA_WEBHOOK_ALLOW_PRIVATE=true`.

use crate::error::{ApiError, ApiResult};
use crate::secrets::Sealer;
use base64::Engine;
use orvanta_store::{EventAttempt, EventOutcome, Store, WorkspaceEvent};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Waits between attempts (§9): immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
pub const LADDER_S: [u64; 8] = [0, 5, 300, 1800, 7200, 18000, 36000, 36000];

/// How the dispatcher behaves; tests shrink the ladder and the timeout.
#[derive(Debug, Clone)]
pub struct Settings {
    pub allow_private: bool,
    pub timeout: Duration,
    /// How long a second of the ladder (and of `Retry-After`) lasts, in ms: 1000.
    pub ms_per_ladder_second: u64,
}

/// The context under which a workspace's webhook secret is sealed.
pub fn secret_context(ws: &orvanta_core::WorkspaceId) -> String {
    format!("webhook:{ws}")
}

/// A new signing secret: `whsec_` and 32 random bytes in base64 (Standard Webhooks).
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The Standard Webhooks signature of `body` for message `id` at `ts` (seconds).
pub fn sign(secret: &str, id: &str, ts: i64, body: &str) -> String {
    let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key_bytes = base64::engine::general_purpose::STANDARD.decode(raw).unwrap_or_else(|_| raw.as_bytes().to_vec());
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key_bytes);
    let tag = ring::hmac::sign(&key, format!("{id}.{ts}.{body}").as_bytes());
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(tag.as_ref()))
}

/// Whether `ip` is an address a workspace's webhook must not reach.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// 400 unless `url` is an http(s) URL whose host resolves to public addresses only
/// (or `allow_private`).
pub async fn check_url(url: &str, allow_private: bool) -> ApiResult<()> {
    let bad = |why: String| ApiError::BadRequest(format!("webhook '{url}' {why}"));
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(format!("is not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("must be an http:// or https:// URL".into()));
    }
    let host = parsed.host_str().ok_or_else(|| bad("has no host".into()))?.to_owned();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| bad(format!("does not resolve ({e})")))?
        .map(|a| a.ip())
        .collect();
    if addrs.is_empty() {
        return Err(bad("resolves to no address".into()));
    }
    if !allow_private {
        if let Some(ip) = addrs.iter().find(|ip| is_internal(**ip)) {
            return Err(bad(format!(
                "resolves to {ip}, an internal address; set ORVANTA_WEBHOOK_ALLOW_PRIVATE=true to allow internal endpoints"
            )));
        }
    }
    Ok(())
}

/// Delivers the outbox until `stop`.
pub async fn run(store: Arc<dyn Store>, sealer: Arc<Sealer>, settings: Settings, stop: CancellationToken) {
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .user_agent(concat!("Orvanta/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "the workspace webhook client could not be built; no events are delivered");
            return;
        }
    };
    let hold = Duration::from_secs(60).max(settings.timeout * 2);
    while !stop.is_cancelled() {
        let now = orvanta_core::now_millis();
        let claimed = match store.claim_events(now, now + hold.as_millis() as i64, 64).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "claiming workspace events failed");
                Vec::new()
            }
        };
        let idle = claimed.is_empty();
        let rounds = claimed.into_iter().map(|event| deliver(&*store, &sealer, &client, &settings, event));
        futures::future::join_all(rounds).await;
        if idle {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = stop.cancelled() => {}
            }
        }
    }
}

/// One attempt at one claimed event, and its outcome recorded.
async fn deliver(store: &dyn Store, sealer: &Sealer, client: &reqwest::Client, s: &Settings, event: WorkspaceEvent) {
    let outcome = attempt(store, sealer, client, s, &event).await;
    let (outcome, attempt) = match outcome {
        Ok(done) => done,
        Err(e) => {
            tracing::warn!(error = %e, event = event.id, "a workspace event could not be delivered; it is retried");
            let next_at = orvanta_core::now_millis() + 5_000;
            (EventOutcome::Retry { next_at }, None)
        }
    };
    if let Err(e) = store.finish_event(event.id, &outcome, attempt.as_ref()).await {
        tracing::warn!(error = %e, event = event.id, "the outcome of a delivery could not be recorded; it is sent again");
    }
}

async fn attempt(
    store: &dyn Store,
    sealer: &Sealer,
    client: &reqwest::Client,
    s: &Settings,
    event: &WorkspaceEvent,
) -> Result<(EventOutcome, Option<EventAttempt>), String> {
    let settings = store.webhook_settings(&event.workspace).await.map_err(|e| e.to_string())?.unwrap_or_default();
    let (Some(url), Some(sealed), None) = (settings.url, settings.secret, settings.disabled) else {
        return Ok((EventOutcome::Skipped, None));
    };
    let secret = sealer.open(&sealed, &secret_context(&event.workspace)).map_err(|e| e.0)?;
    let done_before = store.event_attempts(event.id).await.map_err(|e| e.to_string())?.len();
    let n = done_before as i32 + 1;
    let started = Instant::now();
    let at = orvanta_core::now_millis();
    let (status, excerpt, retry_after) = match check_url(&url, s.allow_private).await {
        Err(e) => (None, e.to_string(), None),
        Ok(()) => send(client, &url, &secret, event).await,
    };
    let latency_ms = started.elapsed().as_millis() as i64;
    let attempt = EventAttempt { event_id: event.id, n, at, status, latency_ms, excerpt };
    let outcome = match status {
        Some(code) if (200..300).contains(&code) => EventOutcome::Delivered,
        Some(410) => {
            let reason = format!(
                "the endpoint answered 410 Gone to event {} at {}",
                event.id,
                orvanta_core::millis_to_rfc3339(at)
            );
            store.disable_webhook(&event.workspace, &reason).await.map_err(|e| e.to_string())?;
            EventOutcome::Failed
        }
        _ => match LADDER_S.get(n as usize) {
            Some(wait) => {
                let wait_ms = (*wait as f64 * s.ms_per_ladder_second as f64 * jitter()) as i64;
                let asked = retry_after.map(|r| (r * s.ms_per_ladder_second) as i64).unwrap_or(0);
                EventOutcome::Retry { next_at: at + wait_ms.max(asked) }
            }
            None => EventOutcome::Failed,
        },
    };
    Ok((outcome, Some(attempt)))
}

/// ±10 % around 1, so that retries of many events spread out.
fn jitter() -> f64 {
    0.9 + rand::random::<f64>() * 0.2
}

/// POSTs the event; answers the status (none when there was no answer), the
/// start of the answer (or why there was none) and its `Retry-After` seconds.
async fn send(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    event: &WorkspaceEvent,
) -> (Option<i32>, String, Option<u64>) {
    let id = format!("evt_{}", event.id);
    let ts = chrono::Utc::now().timestamp();
    let signature = sign(secret, &id, ts, &event.payload);
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(event.payload.clone())
        .send()
        .await;
    match sent {
        Err(e) => (None, format!("no answer: {e}"), None),
        Ok(resp) => {
            let status = resp.status().as_u16() as i32;
            let retry_after =
                resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
            let text = resp.text().await.unwrap_or_default();
            (Some(status), text.chars().take(500).collect(), retry_after)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The published example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        let sig = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }
}
