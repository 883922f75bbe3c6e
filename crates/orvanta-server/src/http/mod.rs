//! The HTTP API, one module per area of the contract, each with its own
//! `router()`. Handlers stay thin: they parse, authorize, call a plain
//! function, and shape the answer.

mod apps;
pub mod body;
pub mod custom_routes;
mod extract;
mod flows;
mod folders;
mod groups;
pub mod guard;
mod health;
mod http_triggers;
mod inbound;
mod invites;
mod jobs_read;
pub mod jobs_run;
mod jobs_stream;
mod objects;
mod openapi;
pub mod request_args;
mod resources;
pub mod respond;
mod resume;
pub mod routes;
mod scripts;
mod tokens;
mod ui;
mod users;
mod variables;
mod views;
mod webhook;
mod workspaces;

pub use extract::JsonBody;
pub use routes::{RouteSpec, Routes};

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::Router;

/// Every route of the API, with its methods.
pub fn routes() -> Routes {
    let workspace = Routes::new()
        .merge(scripts::router())
        .merge(flows::router())
        .merge(resume::router())
        .merge(jobs_run::router())
        .merge(jobs_read::router())
        .merge(objects::router())
        .merge(inbound::router())
        .merge(jobs_stream::router())
        .merge(users::workspace_router())
        .merge(groups::router())
        .merge(folders::router())
        .merge(invites::workspace_router())
        .merge(variables::router())
        .merge(resources::router())
        .merge(apps::router())
        .merge(webhook::router())
        .merge(http_triggers::router())
        .merge(openapi::router());
    Routes::new()
        .merge(health::router())
        .merge(tokens::router())
        .merge(users::router())
        .merge(workspaces::router())
        .merge(invites::router())
        .merge(webhook::instance_router())
        .nest("/api/w/{ws}", workspace)
        .merge(resume::page_router())
        .merge(inbound::receiver())
        .merge(custom_routes::router())
        .merge(ui::router())
}

/// The route table, as `orvanta routes` prints it.
pub fn route_table() -> Vec<RouteSpec> {
    routes().into_parts().1
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let limit = state.cfg.server.body_limit_bytes;
    let (router, _) = routes().into_parts();
    router
        .fallback(|| async {
            ApiError::NotFound(
                "no such route; the routes Orvanta serves are listed in docs/API.md of its repository".into(),
            )
        })
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(guard::guard))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    /// Every route the router serves is listed in `docs/API.md`, with its methods.
    #[test]
    fn docs_list_every_route() {
        let docs = include_str!("../../../../docs/API.md");
        let missing: Vec<String> = super::route_table()
            .into_iter()
            .map(|r| format!("{} {}", r.methods.join(", "), r.path))
            .filter(|line| !docs.lines().any(|l| l.trim() == line))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/API.md does not list these routes (see `orvanta routes`):\n{}",
            missing.join("\n")
        );
    }
}
