//! What the fuzz targets share: a request built from fuzz bytes, turned into
//! arguments by the real `request_args::build`, with an object store that
//! keeps nothing.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use orvanta_core::WorkspaceId;
use orvanta_server::objects::{Object, ObjectError, ObjectStore};
use orvanta_server::http::request_args::{self, ArgsSettings, RequestInput};
use std::sync::OnceLock;

/// An object store that accepts every file and keeps none.
pub struct Discard;

#[async_trait::async_trait]
impl ObjectStore for Discard {
    fn describe(&self) -> String {
        "nowhere".into()
    }
    async fn put(&self, _: &WorkspaceId, key: &str, _: Object) -> Result<(), ObjectError> {
        orvanta_server::objects::check_key(key)
    }
    async fn get(&self, _: &WorkspaceId, _: &str) -> Result<Option<Object>, ObjectError> {
        Ok(None)
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().expect("runtime"))
}

/// Turns a request into arguments; any outcome but a panic is fine, and
/// whatever is accepted must nest within the stored limit.
pub fn build(method: Method, headers: &[(&str, &[u8])], query: &str, body: &[u8]) {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_bytes(v)) {
            map.append(k, v);
        }
    }
    let query = request_args::parse_query(Some(query));
    let ws = WorkspaceId::parse("fuzz").expect("workspace id");
    let input = RequestInput { method: &method, headers: &map, query: &query, body: Bytes::copy_from_slice(body), ws: &ws };
    let settings = ArgsSettings { include_headers: vec!["x-fuzz".into()] };
    if let Ok(args) = runtime().block_on(request_args::build(input, &Discard, &settings)) {
        let list = match args {
            request_args::RunArgs::One(a) => vec![a],
            request_args::RunArgs::Batch(list) => list,
        };
        for a in list {
            let depth = orvanta_core::json::depth(&serde_json_value(a));
            assert!(depth <= orvanta_core::json::MAX_DEPTH, "accepted arguments nest {depth} levels");
        }
    }
}

fn serde_json_value(m: serde_json::Map<String, serde_json::Value>) -> serde_json::Value {
    serde_json::Value::Object(m)
}
