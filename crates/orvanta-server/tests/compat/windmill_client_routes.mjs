// Drives Orvanta's custom HTTP routes and the OpenAPI export with Windmill's
// published TypeScript client (`windmill-client` on npm), unchanged:
// HttpTriggerService (create, exists, existsRoute, get, list, update,
// delete) and OpenapiService.generateOpenapiSpec; the route it made is
// called over plain HTTP. Each answer is checked against the fields its
// TypeScript type requires (`missing`). Prints one JSON object of what it saw.
//
// Usage: node windmill_client_routes.mjs BASE_URL TOKEN WORKSPACE
import * as wmill from "windmill-client";

const [base, token, ws] = process.argv.slice(2);
wmill.setClient(token, base);
const { HttpTriggerService, OpenapiService } = wmill;
const seen = {};
const REQUIRED = {
  HttpTrigger: ["path", "script_path", "route_path", "http_method", "request_type", "authentication_method",
    "is_static_website", "workspaced_route", "wrap_body", "raw_string", "permissioned_as", "workspace_id",
    "edited_by", "edited_at", "is_flow", "extra_perms", "mode"],
};
const missing = (t, v) =>
  v && typeof v === "object" ? REQUIRED[t].filter((k) => v[k] === undefined || v[k] === null) : ["<not an object>"];

async function call(name, fn, pick = (v) => ({ value: v })) {
  try {
    seen[name] = pick(await fn());
  } catch (e) {
    const body = typeof e?.body === "string" ? e.body.slice(0, 600) : e?.body;
    seen[name] = { error: String(e?.message ?? e), status: e?.status, body };
  }
}

const path = "u/admin/wm_ts_route";
await call("create", () => HttpTriggerService.createHttpTrigger({
  workspace: ws,
  requestBody: {
    path, script_path: "u/admin/echo", route_path: "ts/:id", is_flow: false, http_method: "post",
    authentication_method: "none", is_static_website: false, request_type: "sync", summary: "made by windmill-client",
  },
}));
await call("exists", () => HttpTriggerService.existsHttpTrigger({ workspace: ws, path }));
await call("route_exists", () => HttpTriggerService.existsRoute({
  workspace: ws, requestBody: { route_path: "ts/:other", http_method: "post" },
}));
await call("get", () => HttpTriggerService.getHttpTrigger({ workspace: ws, path }),
  (t) => ({ route_path: t.route_path, summary: t.summary, missing: missing("HttpTrigger", t) }));
await call("list", () => HttpTriggerService.listHttpTriggers({ workspace: ws }),
  (l) => ({ paths: l.map((t) => t.path), missing: [...new Set(l.flatMap((t) => missing("HttpTrigger", t)))] }));
await call("update", () => HttpTriggerService.updateHttpTrigger({
  workspace: ws, path,
  requestBody: { path, script_path: "u/admin/echo", is_flow: false, is_static_website: false, route_path: "ts2/:id" },
}));
const served = await fetch(`${base}/r/ts2/5`, {
  method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "ts" }),
});
seen.served = { status: served.status, body: await served.json() };
await call("openapi", () => OpenapiService.generateOpenapiSpec({
  workspace: ws,
  requestBody: { openapi_spec_format: "json", http_route_filters: [{ folder_regex: "*", path_regex: "*", route_path_regex: "*" }],
    webhook_filters: [{ user_or_folder_regex: "u", user_or_folder_regex_value: "admin", path: "echo", runnable_kind: "script" }] },
}), (text) => {
  const doc = typeof text === "string" ? JSON.parse(text) : text;
  return { openapi: doc.openapi, paths: Object.keys(doc.paths).sort() };
});
await call("delete", () => HttpTriggerService.deleteHttpTrigger({ workspace: ws, path }));
await call("exists_after_delete", () => HttpTriggerService.existsHttpTrigger({ workspace: ws, path }));
console.log(JSON.stringify(seen));
