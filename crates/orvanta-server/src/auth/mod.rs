//! Authentication and authorization.
//!
//! A request's token comes from `Authorization: Bearer`, else the `token`
//! cookie, else `?token=`. User tokens are random secrets stored as SHA-256;
//! job tokens (`ORVANTA_TOKEN` inside scripts) are signed, short-lived and
//! never stored. Both resolve to a [`Principal`], which the handlers check
//! against a workspace ([`Principal::role_in`]) and a scope ([`Principal::require`]).

mod job_token;
pub mod password;
pub mod throttle;

pub use job_token::{JobClaims, JobTokenKey};
pub use orvanta_core::Scope;

use crate::cache::TtlCache;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use orvanta_core::{JobId, Username, WorkspaceId};
use orvanta_store::{Role, TokenRecord};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Who is calling, and with what limits.
#[derive(Debug, Clone)]
pub struct Principal {
    pub username: Username,
    pub super_admin: bool,
    /// `None`: all of the owner's rights.
    pub scopes: Option<Vec<Scope>>,
    /// `Some`: the token works in that workspace only.
    pub workspace: Option<WorkspaceId>,
    /// Set for the token a job runs with.
    pub job: Option<JobId>,
    /// The latest a token it creates may expire (millis): the token's own expiry, so that a
    /// token cannot outlive the token that made it; none for a login session, which is the
    /// user at the keyboard (a token made in the web UI keeps the expiry its user chose).
    pub expires_at: Option<i64>,
    /// The prefix of the user token (none for job tokens): jobs record it.
    pub token_prefix: Option<String>,
}

impl Principal {
    /// The caller's role in `ws`: 404 when the workspace does not exist or the
    /// user is not a member (existence is not revealed), 403 when the token is
    /// restricted to another workspace.
    pub async fn role_in(&self, state: &AppState, ws: &WorkspaceId) -> ApiResult<Role> {
        let not_found = || ApiError::NotFound(format!("workspace '{ws}' not found, or you are not a member of it"));
        let exists = state
            .caches
            .workspaces
            .get_or_load(ws.clone(), async { state.store.get_workspace(ws).await.map(|w| w.is_some()) })
            .await?;
        if !exists {
            return Err(not_found());
        }
        let role = if self.super_admin {
            Role::Admin
        } else {
            let key = (ws.clone(), self.username.clone());
            let role = state.caches.roles.get_or_load(key, state.store.get_role(ws, &self.username)).await?;
            role.ok_or_else(not_found)?
        };
        if let Some(only) = &self.workspace {
            if only != ws {
                return Err(ApiError::Forbidden(format!(
                    "this token is restricted to the workspace '{only}'; use a token of the workspace '{ws}'"
                )));
            }
        }
        Ok(role)
    }

    /// 403 unless the token's scopes allow `needed`.
    pub fn require(&self, needed: &Scope) -> ApiResult<()> {
        match &self.scopes {
            None => Ok(()),
            Some(granted) if granted.iter().any(|g| g.allows(needed)) => Ok(()),
            Some(_) => Err(ApiError::Forbidden(format!("this token lacks the scope '{needed}'"))),
        }
    }

    /// Whether the token's scopes allow `needed` (no error).
    pub fn allows(&self, needed: &Scope) -> bool {
        self.require(needed).is_ok()
    }
}

/// A new user token: `orv_` and 43 URL-safe characters (32 random bytes).
pub fn generate_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("orv_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a token: SHA-256, hex.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The displayed prefix of a token.
pub fn token_prefix(secret: &str) -> String {
    secret.chars().take(10).collect()
}

/// Where a request's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenFrom {
    Header,
    Cookie,
    Query,
}

/// The token of a request, from the header, the cookie or the query.
fn find_token(parts: &Parts) -> Option<(String, TokenFrom)> {
    if let Some(h) = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let h = h.trim();
        if let Some(t) = h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")) {
            return Some((t.trim().to_owned(), TokenFrom::Header));
        }
    }
    for cookie in parts.headers.get_all(axum::http::header::COOKIE) {
        if let Ok(c) = cookie.to_str() {
            for pair in c.split(';') {
                if let Some(v) = pair.trim().strip_prefix("token=") {
                    return Some((v.to_owned(), TokenFrom::Cookie));
                }
            }
        }
    }
    let query = parts.uri.query()?;
    query.split('&').find_map(|kv| kv.strip_prefix("token=").map(|t| (percent_decode(t), TokenFrom::Query)))
}

/// A browser sends cookies with requests other sites make it send; a request
/// that changes something and authenticates with the cookie must show that
/// our own page made it: an `Origin` (or `Sec-Fetch-Site: same-origin`) of
/// this server, or the header `X-Requested-With`, which no other site can set
/// without our consent.
fn cookie_request_allowed(parts: &Parts, base_url: Option<&str>) -> bool {
    use axum::http::Method;
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if header("x-requested-with").is_some() || header("sec-fetch-site") == Some("same-origin") {
        return true;
    }
    let Some(origin) = header("origin") else { return false };
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or(origin);
    header("host").is_some_and(|host| host.eq_ignore_ascii_case(origin_host))
        || base_url.is_some_and(|b| b.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes `%XX` escapes and `+` of a query value.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let (token, from) = find_token(parts).ok_or_else(|| {
            ApiError::Unauthorized(
                "no token: send 'Authorization: Bearer <token>', the 'token' cookie or '?token=<token>'".into(),
            )
        })?;
        if from == TokenFrom::Cookie && !cookie_request_allowed(parts, state.cfg.server.base_url.as_deref()) {
            return Err(ApiError::Forbidden(
                "a request that changes something and authenticates with the session cookie must come from \
                 Orvanta's own page (same-origin Origin) or carry 'X-Requested-With'; API clients send \
                 'Authorization: Bearer <token>'"
                    .into(),
            ));
        }
        let client = throttle::client_of(&parts.extensions);
        if JobTokenKey::is_job_token(&token) {
            state.throttle.check(client)?;
            let Some(claims) = state.job_key.verify(&token) else {
                state.throttle.failed(client);
                return Err(ApiError::Unauthorized(
                    "the job token is not valid or has expired; job tokens work only inside their job".into(),
                ));
            };
            return job_principal(state, claims).await;
        }
        let hash = hash_token(&token);
        // A blocked client still gets in with a token already seen valid here.
        if !state.tokens.known_valid(&hash) {
            state.throttle.check(client)?;
        }
        let record = state.tokens.lookup(state, &hash).await?;
        let Some(record) = record else {
            state.throttle.failed(client);
            return Err(ApiError::Unauthorized("the token is not valid; create a new one".into()));
        };
        let now = orvanta_core::now_millis();
        if record.expires_at.is_some_and(|e| e <= now) {
            state.throttle.failed(client);
            return Err(ApiError::Unauthorized("the token has expired; create a new one".into()));
        }
        let user = state.caches.users.get_or_load(record.owner.clone(), state.store.get_user(&record.owner)).await?;
        let user = user.ok_or_else(|| ApiError::Unauthorized("the token's owner no longer exists".into()))?;
        // Scopes were checked when the token was made.
        let scopes = record.scopes.as_ref().map(|list| list.iter().filter_map(|s| Scope::parse(s).ok()).collect());
        Ok(Principal {
            username: record.owner,
            super_admin: user.super_admin,
            scopes,
            workspace: record.workspace,
            job: None,
            expires_at: if record.session { None } else { record.expires_at },
            token_prefix: Some(record.prefix),
        })
    }
}

/// The principal of a job token, from the database: the job's
/// `permissioned_as` user as its row says now, in the job's workspace,
/// within the scopes of the token that started the job, and only while the
/// job runs. Not cached: a job token stops working the moment its job ends.
async fn job_principal(state: &AppState, claims: JobClaims) -> ApiResult<Principal> {
    let ended = || {
        ApiError::Unauthorized(
            "this job token's job is not running (it ended, or never started); job tokens work only while their job runs"
                .into(),
        )
    };
    let job = state.store.job_by_id(claims.job).await?.ok_or_else(ended)?;
    if job.status != orvanta_core::JobStatus::Running {
        return Err(ended());
    }
    let user =
        state.caches.users.get_or_load(job.permissioned_as.clone(), state.store.get_user(&job.permissioned_as)).await?;
    let user = user.ok_or_else(|| ApiError::Unauthorized("the job's user no longer exists".into()))?;
    // Unparsable scopes grant nothing: an empty list, not all rights.
    let scopes = job.scopes.as_ref().map(|list| list.iter().filter_map(|s| Scope::parse(s).ok()).collect());
    Ok(Principal {
        username: job.permissioned_as,
        super_admin: user.super_admin,
        scopes,
        workspace: Some(job.workspace),
        job: Some(job.id),
        expires_at: Some(claims.expires_at),
        // The jobs this job starts are started by the same token.
        token_prefix: job.token_prefix,
    })
}

/// A short-lived cache of token lookups, so a busy webhook does not cost a
/// database read per request. A deleted token stays valid on other servers
/// for at most [`TokenCache::TTL`]. Uses are written in batches: each token's
/// `last_used_at` at most once a minute, all tokens used since the last
/// flush in one statement ([`TokenCache::flush_uses`]).
pub struct TokenCache {
    entries: TtlCache<String, Option<TokenRecord>>,
    /// Tokens whose use was noted within the last minute.
    touched: TtlCache<String, ()>,
    /// Tokens used since the last flush.
    used: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self {
            entries: TtlCache::new(Self::TTL),
            touched: TtlCache::new(Duration::from_secs(60)),
            used: Default::default(),
        }
    }
}

impl TokenCache {
    pub const TTL: Duration = Duration::from_secs(5);
    /// How often noted token uses are written.
    pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

    async fn lookup(&self, state: &AppState, hash: &str) -> ApiResult<Option<TokenRecord>> {
        let record = self.entries.get_or_load(hash.to_owned(), state.store.get_token(hash)).await?;
        if record.is_some() && self.touched.get(&hash.to_owned()).is_none() {
            self.touched.put(hash.to_owned(), ());
            self.used.lock().unwrap_or_else(|p| p.into_inner()).insert(hash.to_owned());
        }
        Ok(record)
    }

    /// Writes the uses noted since the last flush, in one statement.
    pub async fn flush_uses(&self, store: &dyn orvanta_store::Store) {
        let batch: Vec<String> =
            std::mem::take(&mut *self.used.lock().unwrap_or_else(|p| p.into_inner())).into_iter().collect();
        if let Err(e) = store.touch_tokens(&batch, orvanta_core::now_millis()).await {
            tracing::warn!(error = %e, tokens = batch.len(), "token uses could not be written; they are noted again at their next use");
            for hash in batch {
                self.touched.forget(&hash);
            }
        }
    }

    /// Flushes the noted uses every few seconds until `stop`, then once more.
    pub async fn flush_every(
        self: std::sync::Arc<Self>,
        store: std::sync::Arc<dyn orvanta_store::Store>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Self::FLUSH_EVERY) => self.flush_uses(&*store).await,
                _ = stop.cancelled() => break,
            }
        }
        self.flush_uses(&*store).await;
    }

    /// Whether this process found `hash` valid within the last [`TokenCache::TTL`].
    pub fn known_valid(&self, hash: &str) -> bool {
        matches!(self.entries.get(&hash.to_owned()), Some(Some(_)))
    }

    /// Forgets a token at once (after its deletion).
    pub fn forget(&self, hash: &str) {
        self.entries.forget(&hash.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_hashed() {
        let t = generate_token();
        assert!(t.starts_with("orv_") && t.len() == 47, "{t}");
        assert_eq!(hash_token(&t).len(), 64);
        assert_ne!(generate_token(), t);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Bb+c"), "a+b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
