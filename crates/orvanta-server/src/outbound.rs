//! The workspace webhook (contract §9): every process delivers the events
//! of the outbox — in order per workspace, signed with Standard Webhooks
//! headers, retried on the §9 ladder, every attempt recorded.
//!
//! - The dispatcher wakes as soon as a change that recorded events commits
//!   (the store's `event_signal`: in-process on SQLite, `LISTEN` on
//!   PostgreSQL, so every server wakes), when a workspace's runs end, and
//!   every 200 ms for retries that came due. It claims *runs*: a workspace's
//!   pending events in order, which one task sends one after the other on
//!   kept-alive connections; one transaction per run records their outcomes
//!   and claims the workspace's next run (what was recorded meanwhile). A
//!   claim holds the workspace's oldest pending event, so no other claim, in
//!   this process or another, takes any of that workspace's events meanwhile.
//! - A 2xx within the timeout (15 s) is delivered; a redirect is not followed
//!   (it is a failure); a 410 disables the workspace's webhook.
//! - `Retry-After` (seconds) postpones the next attempt when it asks for more
//!   than the ladder.
//! - A URL that resolves to loopback, private, link-local or other internal
//!   ranges is refused, when saved and again at the start of every run of
//!   deliveries (runs last at most a second), unless
//!   `ORVANTA_WEBHOOK_ALLOW_PRIVATE=true`.

use crate::error::{ApiError, ApiResult};
use crate::secrets::Sealer;
use base64::Engine;
use orvanta_core::{Millis, WorkspaceId};
use orvanta_store::{AfterFinish, ClaimedEvent, EventAttempt, EventFinish, EventOutcome, Store, WorkspaceEvent};
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

/// Most workspaces one process delivers to at once.
const STREAMS: usize = 64;
/// Most events of one run (one claim of one workspace).
const RUN_EVENTS: i64 = 500;
/// A workspace's runs follow one another under one claim for this long at
/// most: the webhook's settings and its address are read again at least this
/// often, and the claim is given back well within its hold.
const RUN_TIME: Duration = Duration::from_secs(1);
/// How often an idle dispatcher claims anyway: retries that came due, and
/// claims that lapsed (a process died holding them).
const POLL: Duration = Duration::from_millis(200);
/// While runs are going, how long a wake-up waits after a claim that found
/// nothing: the events of a workspace being delivered go with its next run,
/// and a burst of changes to it must not turn into a claim per change. (An
/// idle dispatcher claims at once.)
const GAP: Duration = Duration::from_millis(10);

/// How long a run of events to skip (no webhook set) waits before it writes.
const SKIP_PAUSE: Duration = Duration::from_millis(100);

/// What every run shares.
struct Dispatch {
    store: Arc<dyn Store>,
    sealer: Arc<Sealer>,
    client: reqwest::Client,
    settings: Settings,
    hold: Duration,
    stop: CancellationToken,
}

/// Delivers the outbox until `stop`: claims runs of events (a workspace's
/// pending events in order, see [`orvanta_store::OutboxStore::claim_events`])
/// whenever events were recorded, a run ended, or every [`POLL`], and
/// delivers each run in a task of its own, one event after the other.
pub async fn run(store: Arc<dyn Store>, sealer: Arc<Sealer>, settings: Settings, stop: CancellationToken) {
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .tcp_nodelay(true)
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
    let mut signal = store.event_signal();
    let d = Arc::new(Dispatch { store, sealer, client, settings, hold, stop: stop.clone() });
    let mut runs = tokio::task::JoinSet::new();
    let mut found_nothing = false;
    while !stop.is_cancelled() {
        let free = STREAMS.saturating_sub(runs.len());
        if free > 0 {
            let claimed = claim(&d, free).await;
            found_nothing = claimed.is_empty();
            for (ws, events, held) in claimed {
                runs.spawn(deliver_run(d.clone(), ws, events, held));
            }
        }
        tokio::select! {
            changed = signal.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(POLL).await;
                } else if found_nothing && !runs.is_empty() {
                    tokio::time::sleep(GAP).await;
                }
            }
            Some(_) = runs.join_next(), if !runs.is_empty() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.cancelled() => {}
        }
    }
    // Runs stop before their next attempt; their outcomes are written and their claims given back.
    while runs.join_next().await.is_some() {}
}

/// Claims runs for up to `free` workspaces: each with its events, in order, and the claim's token.
async fn claim(d: &Dispatch, free: usize) -> Vec<(WorkspaceId, Vec<ClaimedEvent>, Millis)> {
    let now = orvanta_core::now_millis();
    let held = now + d.hold.as_millis() as i64;
    let claimed = match d.store.claim_events(now, held, free as i64, RUN_EVENTS).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "claiming workspace events failed");
            return Vec::new();
        }
    };
    let mut by_workspace: Vec<(WorkspaceId, Vec<ClaimedEvent>, Millis)> = Vec::new();
    for event in claimed {
        match by_workspace.iter_mut().find(|(ws, _, _)| *ws == event.event.workspace) {
            Some((_, events, _)) => events.push(event),
            None => by_workspace.push((event.event.workspace.clone(), vec![event], held)),
        }
    }
    by_workspace
}

/// Where a run's events go, read before each run.
struct Target {
    url: String,
    secret: String,
    /// Why the URL may not be reached now (it resolves to an internal address, or not at all).
    refused: Option<String>,
}

/// Delivers a workspace's events, one run after the other, in order: an
/// event goes only once the one before it was delivered (or has failed for
/// good). After each run one transaction records its outcomes and claims the
/// workspace's next run (events recorded meanwhile), under the same claim; a
/// run that stopped (a retry, a 410, [`RUN_TIME`] spent, shutdown) gives back
/// the events it did not get to instead.
async fn deliver_run(d: Arc<Dispatch>, ws: WorkspaceId, mut events: Vec<ClaimedEvent>, held: Millis) {
    let started = Instant::now();
    let mut checked: Option<(String, Option<String>)> = None;
    loop {
        let target = target(&d, &ws, &mut checked).await;
        let (done, stopped) = match &target {
            Err(e) => {
                tracing::warn!(error = %e, workspace = %ws, "a workspace's events could not be delivered; they are retried");
                let next_at = orvanta_core::now_millis() + 5_000;
                (
                    vec![EventFinish {
                        id: events[0].event.id,
                        outcome: EventOutcome::Retry { next_at },
                        attempt: None,
                    }],
                    true,
                )
            }
            Ok(None) => {
                // Nothing waits for skips: a workspace without a webhook has its events
                // skipped in batches, not in a write per change.
                tokio::select! {
                    _ = tokio::time::sleep(SKIP_PAUSE) => {}
                    _ = d.stop.cancelled() => {}
                }
                let skip =
                    |e: &ClaimedEvent| EventFinish { id: e.event.id, outcome: EventOutcome::Skipped, attempt: None };
                (events.iter().map(skip).collect(), false)
            }
            Ok(Some(target)) => {
                let mut done = Vec::with_capacity(events.len());
                let mut stopped = false;
                for event in &events {
                    // A run starts no attempt once its time is spent: it ends well within its claim's hold.
                    if !done.is_empty() && (started.elapsed() >= RUN_TIME || d.stop.is_cancelled()) {
                        stopped = true;
                        break;
                    }
                    let (finish, go_on) = attempt(&d, target, event).await;
                    done.push(finish);
                    if !go_on {
                        stopped = true;
                        break;
                    }
                }
                (done, stopped)
            }
        };
        let then = if stopped || started.elapsed() >= RUN_TIME || d.stop.is_cancelled() {
            AfterFinish::Release
        } else {
            AfterFinish::Continue { now: orvanta_core::now_millis(), per_workspace: RUN_EVENTS }
        };
        match d.store.finish_events(&ws, held, &done, then).await {
            Ok(finished) if !finished.next.is_empty() => events = finished.next,
            Ok(_) => return,
            Err(e) => {
                // The events stay claimed: once the claim lapses they are sent again.
                tracing::warn!(error = %e, workspace = %ws, count = done.len(), "the outcome of deliveries could not be recorded; they are sent again");
                return;
            }
        }
    }
}

/// The workspace's webhook, if one is set and enabled, read before each run
/// (a change of the settings applies from the next run on). `checked` keeps
/// the address check of the URL for the rest of the workspace's runs under
/// one claim (at most [`RUN_TIME`]), so that a stream of short runs does not
/// resolve the host before each.
async fn target(
    d: &Dispatch,
    ws: &WorkspaceId,
    checked: &mut Option<(String, Option<String>)>,
) -> Result<Option<Target>, String> {
    let settings = d.store.webhook_settings(ws).await.map_err(|e| e.to_string())?.unwrap_or_default();
    let (Some(url), Some(sealed), None) = (settings.url, settings.secret, settings.disabled) else {
        return Ok(None);
    };
    let secret = d.sealer.open(&sealed, &secret_context(ws)).map_err(|e| e.0)?;
    let refused = match checked {
        Some((u, refused)) if *u == url => refused.clone(),
        _ => {
            let refused = check_url(&url, d.settings.allow_private).await.err().map(|e| e.to_string());
            *checked = Some((url.clone(), refused.clone()));
            refused
        }
    };
    Ok(Some(Target { url, secret, refused }))
}

/// One attempt at one event: its outcome, and whether the run goes on to the next event.
async fn attempt(d: &Dispatch, target: &Target, claimed: &ClaimedEvent) -> (EventFinish, bool) {
    let event = &claimed.event;
    let n = claimed.tried + 1;
    let started = Instant::now();
    let at = orvanta_core::now_millis();
    let (status, excerpt, retry_after) = match &target.refused {
        Some(why) => (None, why.clone(), None),
        None => send(&d.client, &target.url, &target.secret, event).await,
    };
    let latency_ms = started.elapsed().as_millis() as i64;
    let attempt = EventAttempt { event_id: event.id, n, at, status, latency_ms, excerpt };
    let s = &d.settings;
    let outcome = match status {
        Some(code) if (200..300).contains(&code) => EventOutcome::Delivered,
        Some(410) => {
            let reason = format!(
                "the endpoint answered 410 Gone to event {} at {}",
                event.id,
                orvanta_core::millis_to_rfc3339(at)
            );
            if let Err(e) = d.store.disable_webhook(&event.workspace, &reason).await {
                tracing::warn!(error = %e, workspace = %event.workspace, "the webhook that answered 410 could not be disabled");
            }
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
    // After a 410 the webhook is disabled: the next run skips the rest.
    let go_on = outcome == EventOutcome::Delivered || (outcome == EventOutcome::Failed && status != Some(410));
    (EventFinish { id: event.id, outcome, attempt: Some(attempt) }, go_on)
}

/// Rows one purge transaction deletes: short enough not to hold SQLite's writer for long.
const PURGE_BATCH: i64 = 1000;

/// Deletes the settled (delivered, skipped, failed) workspace events and
/// their attempts, and the settled token notices, recorded more than `days`
/// ago, a batch per transaction; pending ones are kept whatever their age.
pub async fn purge(store: &dyn Store, days: u64, now: Millis) {
    let before = now - (days as i64).saturating_mul(86_400_000);
    let events = in_batches(|| store.purge_events(before, PURGE_BATCH)).await;
    let notices = in_batches(|| store.purge_notices(before, PURGE_BATCH)).await;
    match (events, notices) {
        (Ok(0), Ok(0)) => {}
        (Ok(events), Ok(notices)) => {
            tracing::info!(events, notices, "workspace events and token notices past their keeping time purged")
        }
        (Err(e), _) | (_, Err(e)) => tracing::warn!(error = %e, "the purge of old workspace events and notices failed"),
    }
}

/// Runs `step` (a purge of up to [`PURGE_BATCH`] rows) until a batch is not full; answers the rows deleted.
async fn in_batches<F, Fut>(mut step: F) -> orvanta_store::Result<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = orvanta_store::Result<u64>>,
{
    let mut total = 0;
    loop {
        let n = step().await?;
        total += n;
        if n < PURGE_BATCH as u64 {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// ±10 % around 1, so that retries of many events spread out.
fn jitter() -> f64 {
    0.9 + rand::random::<f64>() * 0.2
}

/// The event's payload with its `timestamp` (when it was recorded, RFC 3339) last.
pub fn body(event: &WorkspaceEvent) -> String {
    let mut fields: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(&event.payload) {
        Ok(f) => f,
        Err(_) => return event.payload.clone(),
    };
    if !fields.contains_key("timestamp") {
        fields.insert("timestamp".into(), orvanta_core::millis_to_rfc3339(event.created_at).into());
    }
    serde_json::Value::Object(fields).to_string()
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
    let body = body(event);
    let signature = sign(secret, &id, ts, &body);
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body)
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
