//! The HTTP API, one module per area of the contract, each with its own
//! `router()`. Handlers stay thin: they parse, authorize, call a plain
//! function, and shape the answer.

mod extract;
mod health;
mod jobs_read;
pub mod jobs_run;
mod jobs_stream;
mod objects;
mod scripts;
mod tokens;
mod views;

pub use extract::JsonBody;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::Router;

/// The whole API.
pub fn router(state: AppState) -> Router {
    let limit = state.cfg.body_limit_bytes;
    let workspace = Router::new()
        .merge(scripts::router())
        .merge(jobs_run::with_cors(jobs_run::router()))
        .merge(jobs_read::router())
        .merge(objects::router())
        .merge(jobs_stream::router());
    Router::new()
        .merge(health::router())
        .merge(tokens::router())
        .nest("/api/w/{ws}", workspace)
        .fallback(|| async {
            ApiError::NotFound(
                "no such route; the routes Orvanta serves are listed in docs/API.md of its repository".into(),
            )
        })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
