//! `GET /api/version` and `GET /api/health`: no token needed.

use super::routes::Routes;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::json;

pub fn router() -> Routes {
    Routes::new().get("/api/version", version).get("/api/health", health)
}

async fn version() -> &'static str {
    concat!("Orvanta v", env!("CARGO_PKG_VERSION"))
}

/// Without a valid token: the contract's fields only. With one: also the
/// backend, runtimes, sandbox and warm processes (what an operator debugs with).
async fn health(
    State(state): State<AppState>,
    caller: Result<crate::auth::Principal, crate::error::ApiError>,
) -> (StatusCode, Json<serde_json::Value>) {
    let db = state.store.ping().await;
    let since = orvanta_core::now_millis() - (state.cfg.worker.lease_s as i64 * 2000).max(10_000);
    let workers = match state.store.count_workers(since).await {
        Ok(n) => n,
        Err(_) => state.embedded_workers as i64,
    };
    let status = if db.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    if caller.is_err() {
        let body = json!({
            "status": if db.is_ok() { "ok" } else { "degraded" },
            "database": if db.is_ok() { "ok" } else { "unreachable" },
            "workers": workers,
        });
        return (status, Json(body));
    }
    let body = json!({
        "status": if db.is_ok() { "ok" } else { "degraded" },
        "database": if db.is_ok() { "ok" } else { "unreachable" },
        "backend": state.store.backend(),
        "workers": workers,
        "runtimes": state.runtimes.to_json(),
        // The sandbox of this process's jobs; null where no worker runs.
        "sandbox": (state.embedded_workers > 0).then(|| state.runtimes.sandbox().report()),
        // This process's warm processes and spare sandboxes; null where no worker runs.
        "warm": state.warm.as_ref().map(|pool| {
            let mut stats = serde_json::to_value(pool.stats()).unwrap_or_default();
            stats["enabled"] = state.cfg.warm.enabled.into();
            stats
        }),
        "version": env!("CARGO_PKG_VERSION"),
    });
    (status, Json(body))
}
