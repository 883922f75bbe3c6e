//! The generator without a server: routes and webhooks in, a document out.

use super::*;
use serde_json::json;

fn all_routes() -> Request {
    let f = json!({"folder_regex": "*", "path_regex": "*", "route_path_regex": "*"});
    parse(&json!({"http_route_filters": [f], "openapi_spec_format": "json"})).unwrap()
}

fn route(method: &str, route_path: &str, path: &str) -> RouteDoc {
    RouteDoc {
        method: method.into(),
        route_path: route_path.into(),
        path: path.into(),
        summary: None,
        description: None,
        schema: None,
        request_type: "sync".into(),
        public: false,
        workspaced: false,
    }
}

fn hello() -> WebhookDoc {
    WebhookDoc {
        kind: RunnableKind::Script,
        path: "u/alice/hello".into(),
        summary: "Say hello".into(),
        description: "Greets someone.".into(),
        schema: json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "properties": {"name": {"type": "string"}}, "required": ["name"]}),
        error_status: Some(418),
    }
}

#[test]
fn route_params_become_path_parameters_under_api_r() {
    let mut orders = route("GET", "/orders/:id/items/:item", "f/shop/items");
    orders.summary = Some("One item".into());
    let mut create = route("post", "orders", "f/shop/create");
    create.schema = Some(json!({"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]}));
    create.request_type = "async".into();
    let doc = document("demo", &all_routes(), None, &[], &[orders, create]).unwrap();

    let get = &doc["paths"]["/api/r/orders/{id}/items/{item}"]["get"];
    assert_eq!(get["summary"], "One item");
    let names: Vec<&str> = get["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["id", "item"]);
    assert!(get["parameters"].as_array().unwrap().iter().all(|p| p["in"] == "path" && p["required"] == true));
    assert!(get.get("requestBody").is_none(), "a GET route takes no body");
    assert!(get["responses"]["200"].is_object());
    assert_eq!(get["security"], json!([{"bearerAuth": []}]));

    let post = &doc["paths"]["/api/r/orders"]["post"];
    assert!(post["responses"]["201"]["content"]["text/plain"].is_object(), "async answers the job id");
    let reference = post["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str().unwrap();
    let name = reference.strip_prefix("#/components/schemas/").unwrap();
    assert_eq!(doc["components"]["schemas"][name]["required"], json!(["sku"]));
    assert_eq!(post["requestBody"]["required"], true);
}

#[test]
fn public_workspaced_and_stream_routes() {
    let mut open = route("put", "hooks/:name", "f/shop/open");
    open.public = true;
    open.workspaced = true;
    open.request_type = "sync_sse".into();
    let doc = document("demo", &all_routes(), None, &[], &[open]).unwrap();
    let put = &doc["paths"]["/api/r/demo/hooks/{name}"]["put"];
    assert_eq!(put["security"], json!([]), "no authentication: no security requirement");
    assert!(put["responses"].get("401").is_none());
    assert!(put["responses"]["200"]["content"]["text/event-stream"].is_object());
    assert_eq!(put["requestBody"]["content"]["application/json"]["schema"], json!({}));
}

#[test]
fn route_filters_select_routes() {
    let f = json!({"folder_regex": "shop", "path_regex": "*", "route_path_regex": "orders*"});
    let req = parse(&json!({"http_route_filters": [f]})).unwrap();
    let routes = [
        route("get", "orders/:id", "f/shop/a"),
        route("get", "users/:id", "f/shop/b"),
        route("get", "orders", "f/x/c"),
    ];
    let doc = document("demo", &req, None, &[], &routes).unwrap();
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert_eq!(paths, ["/api/r/orders/{id}"]);
    let none = [route("get", "users", "f/shop/b")];
    assert!(document("demo", &req, None, &[], &none).is_none(), "nothing selected: no document");
}

#[test]
fn routes_that_clash_keep_the_first_and_odd_methods_are_skipped() {
    let routes = [route("get", "a/:x", "f/s/one"), route("get", "a/:y", "f/s/two"), route("trace", "b", "f/s/three")];
    let doc = document("demo", &all_routes(), None, &[], &routes).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 1);
    assert_eq!(paths["/api/r/a/{x}"]["get"]["tags"], json!(["f/s/one"]));
}

#[test]
fn each_webhook_has_async_sync_and_stream_operations() {
    let req = parse(&json!({"webhook_filters": [{"user_or_folder_regex": "u", "user_or_folder_regex_value": "alice",
        "path": "*", "runnable_kind": "script"}], "url": "https://orv.example.com/"}))
    .unwrap();
    let doc = document("demo", &req, Some("http://127.0.0.1:1"), &[hello()], &[]).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"], json!([{"url": "https://orv.example.com"}]), "the caller's url wins");
    assert_eq!(doc["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
    let run = &doc["paths"]["/api/w/demo/jobs/run/p/u/alice/hello"]["post"];
    assert_eq!(run["summary"], "Say hello (async)");
    assert!(run["description"].as_str().unwrap().starts_with("Greets someone."));
    assert_eq!(run["responses"]["201"]["content"]["text/plain"]["schema"]["format"], "uuid");
    assert!(run["responses"].get("418").is_none(), "an async run does not wait for the failure");
    let sync = &doc["paths"]["/api/w/demo/jobs/run_wait_result/p/u/alice/hello"]["post"];
    assert!(sync["responses"]["418"].is_object(), "the script's error_status_code is documented");
    assert_eq!(sync["responses"]["504"]["$ref"], "#/components/responses/Timeout");
    let stream = &doc["paths"]["/api/w/demo/jobs/run_and_stream/p/u/alice/hello"]["post"];
    assert!(stream["responses"]["200"]["content"]["text/event-stream"].is_object());
    let schema = &doc["components"]["schemas"]["Script_u_alice_hello"];
    assert!(schema.get("$schema").is_none());
    assert_eq!(schema["required"], json!(["name"]));
    let ids: BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .map(|op| op["operationId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 5, "three POSTs and two GET forms, each its own id: {ids:?}");
    let get = &doc["paths"]["/api/w/demo/jobs/run_wait_result/p/u/alice/hello"]["get"];
    assert!(get.get("requestBody").is_none());
    assert_eq!(get["parameters"][0]["name"], "payload");
    assert_eq!(get["parameters"][0]["schema"]["contentSchema"]["$ref"], "#/components/schemas/Script_u_alice_hello");
    assert!(doc["paths"]["/api/w/demo/jobs/run/p/u/alice/hello"].get("get").is_none(), "async takes POST only");
}

#[test]
fn a_flow_and_a_script_at_one_path_get_their_own_schemas() {
    let mut flow = hello();
    flow.kind = RunnableKind::Flow;
    flow.error_status = None;
    let req = parse(&json!({"webhook_filters": [
        {"user_or_folder_regex": "*", "user_or_folder_regex_value": "*", "path": "*", "runnable_kind": "script"},
        {"user_or_folder_regex": "*", "user_or_folder_regex_value": "*", "path": "*", "runnable_kind": "flow"}]}))
    .unwrap();
    let doc = document("demo", &req, None, &[hello(), flow], &[]).unwrap();
    assert!(doc["paths"]["/api/w/demo/jobs/run/f/u/alice/hello"].is_object());
    assert!(doc["components"]["schemas"]["Flow_u_alice_hello"].is_object());
    assert!(doc["components"]["schemas"]["Script_u_alice_hello"].is_object());
    assert_eq!(doc["tags"], json!([{"name": "u/alice/hello", "description": "Say hello"}]));
    assert!(doc.get("servers").is_none());
}

#[test]
fn yaml_and_json_say_the_same() {
    let req = parse(&json!({"webhook_filters": [{"user_or_folder_regex": "*", "user_or_folder_regex_value": "*",
        "path": "*", "runnable_kind": "script"}]}))
    .unwrap();
    let doc = document("demo", &req, None, &[hello()], &[]).unwrap();
    let yaml = render(&doc, Format::Yaml).unwrap();
    let back: Value = yaml_serde::from_str(&yaml).unwrap();
    assert_eq!(back, doc);
    let json = render(&doc, Format::Json).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), doc);
}
