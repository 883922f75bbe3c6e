//! The route table: every route is added through [`Routes`], which builds
//! the axum router and, from the same calls, the list of routes with their
//! methods. `orvanta routes` prints that list, the fuzz suite attacks every
//! entry of it, and a test checks that `docs/API.md` names each one: a new
//! route is documented and fuzzed without anyone remembering to.
//!
//! Every route answers a method it does not serve with a JSON 405 that names
//! the methods it does (and the `Allow` header), never axum's empty body.

use crate::error::ApiError;
use crate::state::AppState;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter};
use axum::Router;
use serde::Serialize;

/// One route: its path pattern (axum's syntax, `{param}` and `{*rest}`) and methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteSpec {
    pub path: String,
    pub methods: Vec<String>,
}

/// A router and the table of what it routes, built together.
pub struct Routes {
    router: Router<AppState>,
    table: Vec<RouteSpec>,
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl Routes {
    pub fn new() -> Self {
        Self { router: Router::new(), table: Vec::new() }
    }

    /// Routes `methods` of `path` to `handler`.
    pub fn add<H, T>(mut self, path: &str, methods: &[Method], handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = methods
            .iter()
            .map(|m| {
                MethodFilter::try_from(m.clone())
                    .unwrap_or_else(|_| panic!("route {path}: method {m} cannot be routed"))
            })
            .reduce(MethodFilter::or)
            .unwrap_or_else(|| panic!("route {path} has no method"));
        let names: Vec<String> = methods.iter().map(|m| m.as_str().to_owned()).collect();
        let allowed = names.join(", ");
        let refuse = move |method: Method| {
            let allowed = allowed.clone();
            async move { ApiError::MethodNotAllowed(format!("this route does not take {method}; it takes {allowed}")) }
        };
        self.router = self.router.route(path, on(filter, handler).fallback(refuse));
        self.table.push(RouteSpec { path: path.to_owned(), methods: names });
        self
    }

    /// A path whose GET and POST go to two handlers.
    pub fn get_post<G, TG, P, TP>(mut self, path: &str, get: G, post: P) -> Self
    where
        G: Handler<TG, AppState>,
        TG: 'static,
        P: Handler<TP, AppState>,
        TP: 'static,
    {
        let refuse = |method: Method| async move {
            ApiError::MethodNotAllowed(format!("this route does not take {method}; it takes GET, POST"))
        };
        let methods = axum::routing::get(get).post(post).fallback(refuse);
        self.router = self.router.route(path, methods);
        self.table.push(RouteSpec { path: path.to_owned(), methods: vec!["GET".into(), "POST".into()] });
        self
    }

    /// Shorthand for a GET route.
    pub fn get<H: Handler<T, AppState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(path, &[Method::GET], handler)
    }

    /// Shorthand for a POST route.
    pub fn post<H: Handler<T, AppState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(path, &[Method::POST], handler)
    }

    /// Shorthand for a DELETE route.
    pub fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(path, &[Method::DELETE], handler)
    }

    /// Adds the routes of `other`.
    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }

    /// Adds the routes of `other` under `prefix`.
    pub fn nest(mut self, prefix: &str, other: Routes) -> Self {
        self.router = self.router.nest(prefix, other.router);
        self.table.extend(other.table.into_iter().map(|r| RouteSpec { path: format!("{prefix}{}", r.path), ..r }));
        self
    }

    /// Changes the router (to add a layer to these routes only).
    pub fn map_router(mut self, f: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Self {
        self.router = f(self.router);
        self
    }

    pub fn into_parts(self) -> (Router<AppState>, Vec<RouteSpec>) {
        (self.router, self.table)
    }
}
