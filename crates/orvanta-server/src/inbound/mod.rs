//! Inbound webhooks (contract §8): definitions a workspace keeps for
//! platforms that sign their requests instead of sending our token, and what
//! a request to `/webhook/{id}` does: verify it (`orvanta-hooks`), record it
//! in the definition's history, and start the runs it names — the event and
//! its jobs committed in one transaction, before the platform gets its 2xx.
//!
//! A definition's runs start as its creator (whose rights they have, checked
//! at each event: a creator who lost access starts nothing). A delivery id
//! the platform sends (`X-GitHub-Delivery`, Stripe's `id`, Slack's
//! `event_id`, `webhook-id`) is acted on once: a retry is recorded as
//! `duplicate` and starts nothing.

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::runs::{self, RunOptions, Runnable, Target};
use crate::secrets::Sealer;
use crate::state::AppState;
use orvanta_core::{FlowVersion, RunnablePath, Trigger, Username, WorkspaceId};
use orvanta_hooks::{Platform, VerifierKind};
use orvanta_store::{Hook, HookEvent, HookRecorded};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

mod input;
pub use input::{event_args, event_document};

/// What reads show in place of a secret; sent back, it keeps the stored value.
pub const MASK: &str = "***";

/// A run an event starts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToStart {
    /// A flow's path (or, when no flow is there, a script's).
    pub path: String,
    /// A flow version to pin; the newest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// A JSONPath (`$.id`) or template (`order-${$.data.id}`) over the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_strategy: Option<Strategy>,
}

/// What an idempotency key that was seen before does (Conductor's strategies).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Start nothing; the event records the refusal.
    Fail,
    /// Answer the existing run (the default).
    ReturnExisting,
    /// Start nothing while the existing run is queued or running.
    FailOnRunning,
}

/// A flow that waits on this definition (§8.4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Receiver {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// A definition's settings, as stored in `hooks.config`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Definition {
    pub source_platform: Platform,
    pub verifier: VerifierKind,
    /// The current secret and, during a rotation, the previous one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// For the header verifier: each must be present with exactly this value.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// The replay window in seconds; 0 = off.
    pub tolerance_s: u64,
    #[serde(default)]
    pub receivers: Vec<Receiver>,
    #[serde(default)]
    pub flows_to_start: Vec<ToStart>,
}

/// The body of `inbound_webhooks/create` and `update`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveHook {
    pub name: String,
    #[serde(default)]
    pub source_platform: Option<String>,
    #[serde(default)]
    pub verifier: Option<String>,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub previous_secret: Option<String>,
    #[serde(default)]
    pub public_key: Option<String>,
    #[serde(default)]
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    pub tolerance_s: Option<u64>,
    #[serde(default)]
    pub receivers: Vec<Receiver>,
    #[serde(default)]
    pub flows_to_start: Vec<ToStart>,
    /// Read-only fields a client may send back from a read; ignored.
    #[serde(default)]
    pub id: Option<Value>,
    #[serde(default)]
    pub url: Option<Value>,
    #[serde(default)]
    pub url_verified: Option<Value>,
    #[serde(default)]
    pub created_by: Option<Value>,
    #[serde(default)]
    pub created_at: Option<Value>,
    #[serde(default)]
    pub updated_at: Option<Value>,
}

/// The longest replay window a definition may set (a day).
const MAX_TOLERANCE_S: u64 = 86_400;

/// Turns a save into a definition: `old` gives the stored secrets that
/// `"***"` keeps. A 400 names the field.
pub async fn definition(
    state: &AppState,
    ws: &WorkspaceId,
    save: &SaveHook,
    old: Option<&Definition>,
) -> ApiResult<Definition> {
    let bad = |field: &str, message: String| ApiError::BadRequest(format!("{field}: {message}"));
    if save.name.trim().is_empty() || save.name.len() > 255 || save.name.chars().any(char::is_control) {
        return Err(bad("name", "give a name of 1 to 255 characters, without control characters".into()));
    }
    let platform: Platform = match &save.source_platform {
        Some(p) => p.parse().map_err(|e: orvanta_hooks::UnknownName| bad("source_platform", e.to_string()))?,
        None => Platform::Custom,
    };
    let verifier: VerifierKind = match &save.verifier {
        Some(v) => v.parse().map_err(|e: orvanta_hooks::UnknownName| bad("verifier", e.to_string()))?,
        None => platform.default_verifier(),
    };
    // "***" keeps what is stored; null or absent clears.
    let keep = |field: &str, new: &Option<String>, stored: Option<&Option<String>>| match new.as_deref() {
        Some(MASK) => match stored.cloned().flatten() {
            Some(kept) => Ok(Some(kept)),
            None => Err(bad(field, "is \"***\" but no value is stored to keep; send the value".into())),
        },
        other => Ok(other.map(str::to_owned)),
    };
    let secret = keep("secret", &save.secret, old.map(|o| &o.secret))?;
    let previous_secret = keep("previous_secret", &save.previous_secret, old.map(|o| &o.previous_secret))?;
    let public_key = keep("public_key", &save.public_key, old.map(|o| &o.public_key))?;
    let mut headers = save.headers.clone().unwrap_or_default();
    for (name, value) in headers.iter_mut() {
        if value == MASK {
            match old.and_then(|o| o.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))) {
                Some((_, stored)) => *value = stored.clone(),
                None => return Err(bad("headers", format!("'{name}' is \"***\" but no value is stored for it"))),
            }
        }
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) {
            return Err(bad("headers", format!("'{name}' is not a header name (letters, digits, '-', '_')")));
        }
    }
    let tolerance_s = save.tolerance_s.unwrap_or(300);
    if tolerance_s > MAX_TOLERANCE_S {
        return Err(bad(
            "tolerance_s",
            format!("{tolerance_s} is over a day ({MAX_TOLERANCE_S}); 0 turns the window off"),
        ));
    }
    let def = Definition {
        source_platform: platform,
        verifier,
        secret,
        previous_secret,
        public_key,
        headers,
        tolerance_s,
        receivers: save.receivers.clone(),
        flows_to_start: save.flows_to_start.clone(),
    };
    let secrets = def.secrets();
    let header_list = def.header_list();
    let keys = orvanta_hooks::Keys { secrets: &secrets, public_key: def.public_key.as_deref(), headers: &header_list };
    orvanta_hooks::validate_keys(verifier, &keys).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    for (i, start) in def.flows_to_start.iter().enumerate() {
        let field = format!("flows_to_start[{i}]");
        target(state, ws, &start.path, start.version).await.map_err(|m| bad(&field, m))?;
        if let Some(key) = &start.idempotency_key {
            orvanta_hooks::check_key_template(key)
                .map_err(|e| bad(&format!("{field}.idempotency_key"), e.to_string()))?;
        }
        if start.idempotency_strategy.is_some() && start.idempotency_key.is_none() {
            return Err(bad(
                &format!("{field}.idempotency_strategy"),
                "a strategy needs an idempotency_key to apply to".into(),
            ));
        }
    }
    for (i, r) in def.receivers.iter().enumerate() {
        let field = format!("receivers[{i}]");
        let path = RunnablePath::parse(&r.path).map_err(|e| bad(&field, e.to_string()))?;
        let exists = match r.version {
            Some(v) => state.store.flow_by_version(ws, FlowVersion::from_i64(v)).await?.is_some(),
            None => state.store.latest_flow(ws, &path).await?.is_some(),
        };
        if !exists {
            return Err(bad(&field, format!("no flow at '{}' in workspace '{ws}'", r.path)));
        }
    }
    Ok(def)
}

impl Definition {
    /// The secrets a request may be signed with: the current, then the previous.
    pub fn secrets(&self) -> Vec<String> {
        self.secret.iter().chain(self.previous_secret.iter()).cloned().collect()
    }

    pub fn header_list(&self) -> Vec<(String, String)> {
        self.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// The stored definition of `hook`, its secrets opened.
    pub fn from_hook(hook: &Hook, sealer: &Sealer) -> ApiResult<Self> {
        let mut def: Definition = serde_json::from_value(hook.config.clone())
            .map_err(|e| ApiError::Internal(format!("the stored inbound webhook {} cannot be read: {e}", hook.id)))?;
        for (field, v) in def.secret_fields() {
            *v = sealer.open(v, &context(&hook.id, &field)).map_err(|e| ApiError::Internal(e.0))?;
        }
        Ok(def)
    }

    /// The definition as stored for `hook_id`: its secrets sealed.
    pub fn to_config(&self, hook_id: &str, sealer: &Sealer) -> ApiResult<Value> {
        let mut sealed = self.clone();
        for (field, v) in sealed.secret_fields() {
            *v = sealer.seal(v, &context(hook_id, &field));
        }
        serde_json::to_value(&sealed).map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// Every value that is sealed at rest, with the field name it is bound to.
    fn secret_fields(&mut self) -> Vec<(String, &mut String)> {
        let mut out: Vec<(String, &mut String)> = Vec::new();
        if let Some(v) = self.secret.as_mut() {
            out.push(("secret".into(), v));
        }
        if let Some(v) = self.previous_secret.as_mut() {
            out.push(("previous_secret".into(), v));
        }
        for (name, v) in self.headers.iter_mut() {
            out.push((format!("header:{}", name.to_ascii_lowercase()), v));
        }
        out
    }
}

/// Where a sealed value belongs: it opens there only.
fn context(hook_id: &str, field: &str) -> String {
    format!("inbound_webhook:{hook_id}:{field}")
}

/// What a flows_to_start entry names: a flow (pinned or newest), else a script.
async fn target(state: &AppState, ws: &WorkspaceId, path: &str, version: Option<i64>) -> Result<Target, String> {
    let p = RunnablePath::parse(path).map_err(|e| e.to_string())?;
    let caches = &state.caches;
    if let Some(v) = version {
        let v = FlowVersion::from_i64(v);
        let found = caches.flows_by_version.get_or_load((ws.clone(), v), state.store.flow_by_version(ws, v)).await;
        return match found {
            Ok(Some(f)) if f.path == p => Ok(Target::FlowVersion(v)),
            Ok(_) => Err(format!("no flow version {v} at '{path}' in workspace '{ws}'")),
            Err(e) => Err(e.to_string()),
        };
    }
    let flow = caches.latest_flows.get_or_load((ws.clone(), p.clone()), state.store.latest_flow(ws, &p)).await;
    if flow.map_err(|e| e.to_string())?.is_some_and(|f| !f.archived) {
        return Ok(Target::FlowPath(p));
    }
    let script = caches.latest_scripts.get_or_load((ws.clone(), p.clone()), state.store.latest_script(ws, &p)).await;
    if script.map_err(|e| e.to_string())?.is_some_and(|s| !s.archived) {
        return Ok(Target::ScriptPath(p));
    }
    Err(format!("no flow or script at '{path}' in workspace '{ws}'"))
}

/// A definition as JSON, secrets masked.
pub fn view(hook: &Hook, base_url: &str) -> Value {
    let def: Option<Definition> = serde_json::from_value(hook.config.clone()).ok();
    let mask = |s: &Option<String>| s.as_ref().map(|_| MASK);
    let mut out = json!({
        "id": hook.id,
        "name": hook.name,
        "url": format!("{}/webhook/{}", base_url.trim_end_matches('/'), hook.id),
        "url_verified": hook.url_verified,
        "created_by": hook.created_by,
        "edited_by": hook.edited_by,
        "created_at": orvanta_core::millis_to_rfc3339(hook.created_at),
        "updated_at": orvanta_core::millis_to_rfc3339(hook.updated_at),
    });
    if let Some(d) = def {
        let headers: Map<String, Value> = d.headers.keys().map(|k| (k.clone(), Value::from(MASK))).collect();
        let extra = json!({
            "source_platform": d.source_platform,
            "verifier": d.verifier,
            "secret": mask(&d.secret),
            "previous_secret": mask(&d.previous_secret),
            "public_key": d.public_key,
            "headers": headers,
            "tolerance_s": d.tolerance_s,
            "receivers": d.receivers,
            "flows_to_start": d.flows_to_start,
        });
        if let (Value::Object(o), Value::Object(e)) = (&mut out, extra) {
            o.extend(e);
        }
    }
    out
}

/// Header names whose values are credentials: masked in the history.
const SECRET_HEADERS: [&str; 12] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-hub-signature",
    "x-hub-signature-256",
    "stripe-signature",
    "x-slack-signature",
    "webhook-signature",
    "svix-signature",
    "x-twilio-email-event-webhook-signature",
    "x-twitter-webhooks-signature",
    "x-api-key",
];

/// Whether a header's value is a credential: a known one, or one the
/// definition's header verifier checks (its value is the shared secret).
fn is_secret_header(def: &Definition, name: &str) -> bool {
    SECRET_HEADERS.contains(&name) || def.headers.keys().any(|h| h.eq_ignore_ascii_case(name))
}

/// The bytes of a refused request's body kept in its record.
const REFUSED_BODY_KEPT: usize = 4096;

/// A received request, as the receiver hands it over.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Names lower-case.
    pub headers: Vec<(String, String)>,
    pub query: String,
    pub body: Vec<u8>,
    pub received_at: i64,
}

/// What to answer the platform.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Answer {
    fn json(status: u16, v: Value) -> Self {
        Self { status, content_type: "application/json", body: v.to_string().into_bytes() }
    }
}

fn new_record(hook: &Hook, def: &Definition, req: &Received, event_id: Option<String>) -> HookEvent {
    let headers: Vec<Value> = req
        .headers
        .iter()
        .map(|(n, v)| {
            let secret = is_secret_header(def, n);
            json!([n, if secret { MASK } else { v.as_str() }])
        })
        .collect();
    let id = uuid::Uuid::now_v7().to_string();
    HookEvent {
        event_id: event_id.unwrap_or_else(|| id.clone()),
        id,
        hook_id: hook.id.clone(),
        workspace: hook.workspace.clone(),
        received_at: req.received_at,
        outcome: "verified".into(),
        reason: None,
        headers_matched: None,
        method: req.method.clone(),
        query: req.query.clone(),
        headers: Value::Array(headers),
        body: req.body.clone(),
        jobs: json!([]),
        waits: json!([]),
        replay_of: None,
    }
}

/// Handles one request to a definition's URL: verifies, records, starts.
pub async fn receive(state: &AppState, hook: &Hook, def: &Definition, req: Received) -> ApiResult<Answer> {
    let secrets = def.secrets();
    let header_list = def.header_list();
    let keys = orvanta_hooks::Keys { secrets: &secrets, public_key: def.public_key.as_deref(), headers: &header_list };
    let request =
        orvanta_hooks::Request { method: &req.method, headers: &req.headers, query: &req.query, body: &req.body };
    let now_s = req.received_at.div_euclid(1000);
    let verdict = orvanta_hooks::verify(def.verifier, &keys, &request, now_s, def.tolerance_s);
    let event_id = match &verdict {
        Ok(orvanta_hooks::Verdict::Event { event_id }) | Ok(orvanta_hooks::Verdict::Answer { event_id, .. }) => {
            event_id.clone()
        }
        Err(_) => None,
    };
    let mut record = new_record(hook, def, &req, event_id.clone());
    match verdict {
        Err(refusal) => {
            record.outcome = "refused".into();
            record.reason = Some(refusal.reason.clone());
            record.headers_matched = Some(false);
            // Anyone may call the URL: what a refused caller sent is kept only
            // in part, so that refused requests cannot fill the database.
            record.body.truncate(REFUSED_BODY_KEPT);
            commit_event(state, record, None, Vec::new(), Vec::new()).await?;
            // The reason goes back to the caller (a platform's integrator needs
            // it), except which headers a header verifier expects: that is the
            // secret's shape; the definition's history has the whole reason.
            let reason = if def.verifier == VerifierKind::Header {
                "the configured headers are missing or do not match (the webhook's history says which)".to_owned()
            } else {
                refusal.reason
            };
            Ok(Answer::json(
                401,
                json!({"error": {"code": "unauthorized", "message": format!("the request failed verification: {reason}")}}),
            ))
        }
        Ok(orvanta_hooks::Verdict::Answer { status, content_type, body, verifies_url, .. }) => {
            record.outcome = "answered".into();
            record.headers_matched = Some(true);
            record.reason = Some(if verifies_url { "the URL's verification".into() } else { "a challenge".into() });
            if verifies_url && !hook.url_verified {
                state.store.set_hook_verified(&hook.id).await?;
                state.caches.hooks.forget(&hook.id);
            }
            commit_event(state, record.clone(), None, Vec::new(), Vec::new()).await?;
            Ok(Answer { status, content_type, body })
        }
        Ok(orvanta_hooks::Verdict::Event { .. }) => {
            record.headers_matched = Some(true);
            // Slack: nothing acts until the URL answered its challenge.
            if def.verifier == VerifierKind::Slack && !hook.url_verified {
                record.outcome = "ignored".into();
                record.reason =
                    Some("the URL is not verified yet: Slack's url_verification challenge must come first".into());
                commit_event(state, record.clone(), None, Vec::new(), Vec::new()).await?;
                return Ok(Answer::json(200, json!({"ok": true, "ignored": record.reason})));
            }
            if !hook.url_verified {
                state.store.set_hook_verified(&hook.id).await?;
                state.caches.hooks.forget(&hook.id);
            }
            let (answer, _) = act(state, hook, def, &req, record, event_id.as_deref()).await?;
            Ok(answer)
        }
    }
}

/// Starts the runs of a verified event and records it, in one commit.
/// Answers what to tell the sender and the event's record id.
pub async fn act(
    state: &AppState,
    hook: &Hook,
    def: &Definition,
    req: &Received,
    mut record: HookEvent,
    delivery: Option<&str>,
) -> ApiResult<(Answer, String)> {
    // The document is parsed only when something reads it: an idempotency
    // key now, or a waiting step after the commit.
    let mut document = def.flows_to_start.iter().any(|s| s.idempotency_key.is_some()).then(|| event_document(req));
    let args = event_args(hook, def, req, &record.event_id);
    let mut failed: Vec<Value> = Vec::new();
    let mut jobs = Vec::new();
    let mut strategies = Vec::new();
    // Runs start as whoever saved the definition last.
    let creator = creator(state, &hook.edited_by).await;
    for start in &def.flows_to_start {
        let job = match &creator {
            Some(principal) => new_job(state, principal, hook, start, document.as_ref(), &args).await,
            None => Err(format!("'{}', who saved the definition last, no longer exists", hook.edited_by)),
        };
        match job {
            Ok(Some(job)) => {
                jobs.push(job);
                strategies.push(start.idempotency_strategy);
            }
            Ok(None) => {}
            Err(error) => failed.push(json!({"path": start.path, "error": error})),
        }
    }
    record.jobs = Value::Array(failed);
    let (record_id, event_id, replay) = (record.id.clone(), record.event_id.clone(), record.replay_of.is_some());
    // fail_on_running: a run that ended gives its key up, so this event starts a new one.
    let release = strategies.iter().map(|s| *s == Some(Strategy::FailOnRunning)).collect();
    let recorded = commit_event(state, record, delivery, jobs, release).await?;
    // A replay starts runs again but wakes no wait: a waiting step takes only
    // events that arrive after it started (§8.4).
    if let (HookRecorded::New(_, waits), false) = (&recorded, replay) {
        let woken = match waits.is_empty() {
            true => Vec::new(),
            false => wake_waits(state, waits, document.get_or_insert_with(|| event_document(req))).await?,
        };
        if !woken.is_empty() {
            state.store.set_hook_event_waits(&record_id, &Value::Array(woken)).await?;
        }
    }
    let answer = match recorded {
        HookRecorded::New(enqueued, _) => {
            // Under `fail` and `fail_on_running`, a key held by a run starts
            // nothing and answers no run (the queue never starts a second run
            // for a held key); `return_existing` answers the holder.
            let ids: Vec<String> = enqueued
                .iter()
                .zip(&strategies)
                .filter(|(q, strategy)| {
                    matches!(q, orvanta_store::Enqueued::Created(_))
                        || !matches!(strategy, Some(Strategy::Fail | Strategy::FailOnRunning))
                })
                .map(|(q, _)| q.id().to_string())
                .collect();
            Answer::json(200, json!({"ok": true, "event_id": event_id, "jobs": ids}))
        }
        HookRecorded::Duplicate => {
            Answer::json(200, json!({"ok": true, "event_id": event_id, "duplicate": true, "jobs": []}))
        }
    };
    Ok((answer, record_id))
}

pub(crate) async fn creator(state: &AppState, username: &Username) -> Option<Principal> {
    let user = state.caches.users.get_or_load(username.clone(), state.store.get_user(username)).await.ok()??;
    Some(Principal {
        username: user.username,
        super_admin: user.super_admin,
        scopes: None,
        workspace: None,
        job: None,
        expires_at: None,
        token_prefix: None,
    })
}

/// The job one flows_to_start entry starts for an event; `None` when its
/// idempotency strategy says to start nothing (the event records why).
async fn new_job(
    state: &AppState,
    caller: &Principal,
    hook: &Hook,
    start: &ToStart,
    document: Option<&Value>,
    args: &orvanta_core::JobArgs,
) -> Result<Option<orvanta_core::NewJob>, String> {
    let target = target(state, &hook.workspace, &start.path, start.version).await?;
    let runnable: Runnable = runs::resolve(state, caller, &hook.workspace, &target).await.map_err(|e| e.to_string())?;
    let trigger = Trigger::parse(Trigger::WEBHOOK).map_err(|e| e.to_string())?;
    let mut opts = RunOptions::new(trigger);
    if let Some(template) = &start.idempotency_key {
        let document = document.ok_or("the event's document was not parsed for its idempotency key")?;
        match orvanta_hooks::resolve_key(template, document) {
            Ok(Some(key)) => opts.idempotency_key = Some(format!("inbound:{}:{key}", hook.id)),
            Ok(None) => return Err(format!("the idempotency key '{template}' matches nothing in the event")),
            Err(e) => return Err(format!("the idempotency key '{template}' is not valid: {e}")),
        }
    }
    let tag = runs::job_tag(&runnable, None);
    Ok(Some(runs::new_job(caller, &runnable, args.clone(), &opts, &tag, true, true)))
}

/// Records a request whose body could not be read (over the limit, broken).
pub async fn record_unread(
    state: &AppState,
    hook: &Hook,
    def: &Definition,
    req: &Received,
    why: &ApiError,
) -> ApiResult<()> {
    let mut record = new_record(hook, def, req, None);
    record.outcome = if matches!(why, ApiError::PayloadTooLarge(_)) { "too_large" } else { "refused" }.into();
    record.reason = Some(why.to_string());
    commit_event(state, record.clone(), None, Vec::new(), Vec::new()).await?;
    Ok(())
}

/// Completes every step waiting on `hook` whose matches the event's
/// document holds, with the document as the step's result; answers
/// `[{"flow", "step_id", "job"}]` for the event's record.
async fn wake_waits(state: &AppState, waits: &[orvanta_store::HookWait], document: &Value) -> ApiResult<Vec<Value>> {
    let mut woken = Vec::new();
    for wait in waits {
        let Some(wanted) = wanted(&wait.matches) else { continue };
        if !orvanta_hooks::matches(document, &wanted) {
            continue;
        }
        if !state.engine().end_wait(wait, orvanta_core::JobStatus::Success, document.clone()).await? {
            continue;
        }
        woken.push(json!({"flow": wait.flow.to_string(), "step_id": wait.step_id, "job": wait.job.to_string()}));
    }
    Ok(woken)
}

/// A wait's stored matches as paths and values; `None` when a path no
/// longer parses (it was checked when the flow was saved).
fn wanted(matches: &Value) -> Option<Vec<(orvanta_hooks::Path, Value)>> {
    matches
        .as_array()?
        .iter()
        .map(|pair| {
            let path = orvanta_hooks::Path::parse(pair.get(0)?.as_str()?).ok()?;
            Some((path, pair.get(1).cloned().unwrap_or(Value::Null)))
        })
        .collect()
}

/// Fails the steps waiting on a definition that is going away.
pub async fn fail_waits(state: &AppState, hook: &Hook, why: &str) -> ApiResult<()> {
    for wait in state.store.hook_waits(&hook.id).await? {
        let message = format!("step '{}' waited for the inbound webhook '{}', which {why}", wait.step_id, hook.name);
        let error = json!({"error": {"name": "WebhookGone", "message": message}});
        state.engine().end_wait(&wait, orvanta_core::JobStatus::Failure, error).await?;
    }
    Ok(())
}

/// Records an event with its jobs through the group commit.
async fn commit_event(
    state: &AppState,
    event: HookEvent,
    delivery: Option<&str>,
    jobs: Vec<orvanta_core::NewJob>,
    release_ended_keys: Vec<bool>,
) -> ApiResult<HookRecorded> {
    let item = orvanta_store::HookRecord { event, delivery: delivery.map(str::to_owned), jobs, release_ended_keys };
    Ok(state.hook_recorder.record(item).await?)
}
