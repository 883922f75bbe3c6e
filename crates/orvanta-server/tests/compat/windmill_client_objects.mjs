// Drives Orvanta's variables, resources, resource types, apps and the
// workspace webhook's settings with Windmill's published TypeScript client
// (`windmill-client` on npm), unchanged: VariableService, ResourceService,
// AppService and WorkspaceService, plus the SDK's getVariable / setVariable /
// getResource / setResource. The generated client does not check answers, so
// each answer is checked here against the fields its TypeScript type requires
// (`missing`). A failing call is recorded (status, message, body) instead of
// stopping the run. Prints one JSON object of what it saw.
//
// Usage: node windmill_client_objects.mjs BASE_URL TOKEN WORKSPACE
import * as wmill from "windmill-client";

const [base, token, ws] = process.argv.slice(2);
process.env.WM_WORKSPACE = ws;
wmill.setClient(token, base);
const { VariableService, ResourceService, AppService, WorkspaceService } = wmill;
const seen = {};

// Required fields of the client's TypeScript types (types.gen.d.ts); the
// answers of get routes also carry UserDraftOverlay's `is_draft`.
const REQUIRED = {
  ListableVariable: ["workspace_id", "path", "is_secret", "extra_perms"],
  ListableResource: ["path", "resource_type", "is_oauth", "is_linked", "is_refreshed"],
  ResourceType: ["name"],
  UserDraftOverlay: ["is_draft"],
  AppWithLastVersion: ["id", "workspace_id", "path", "summary", "versions", "created_by", "created_at", "value",
    "policy", "execution_mode", "extra_perms", "raw_app"],
  ListableApp: ["id", "workspace_id", "path", "summary", "version", "extra_perms", "edited_at", "execution_mode"],
  AppHistory: ["version"],
  AppDeployed: ["path", "version"],
};
const missing = (types, v) =>
  v && typeof v === "object"
    ? types.flatMap((t) => REQUIRED[t]).filter((k) => v[k] === undefined || v[k] === null)
    : ["<not an object>"];
const missingAll = (types, l) =>
  Array.isArray(l) ? [...new Set(l.flatMap((x) => missing(types, x)))] : ["<not an array>"];

async function call(name, fn, pick = (v) => ({ value: v })) {
  try {
    seen[name] = pick(await fn());
  } catch (e) {
    const body = typeof e?.body === "string" ? e.body.slice(0, 600) : e?.body;
    seen[name] = { error: String(e?.message ?? e), status: e?.status, body };
  }
  return seen[name];
}

// --- variables: one secret, one not ---
const secret = "u/admin/wm_ts_secret";
const plain = "u/admin/wm_ts_plain";
const plainMoved = "u/admin/wm_ts_plain_moved";
await call("create_secret", () => VariableService.createVariable({
  workspace: ws,
  requestBody: { path: secret, value: "s3cr3t-ts", is_secret: true, description: "made by windmill-client" },
}));
await call("create_plain", () => VariableService.createVariable({
  workspace: ws,
  requestBody: { path: plain, value: "plain-ts", is_secret: false, description: "not secret" },
}));
await call("get_secret", () => VariableService.getVariable({ workspace: ws, path: secret }), (v) => ({
  value: v?.value, is_secret: v?.is_secret, description: v?.description,
  missing: missing(["ListableVariable", "UserDraftOverlay"], v),
}));
await call("get_secret_sealed", () =>
  VariableService.getVariable({ workspace: ws, path: secret, decryptSecret: false }), (v) => ({
  has_value: v?.value !== undefined && v?.value !== null,
}));
await call("get_plain", () => VariableService.getVariable({ workspace: ws, path: plain }), (v) => ({
  value: v?.value, is_secret: v?.is_secret, missing: missing(["ListableVariable", "UserDraftOverlay"], v),
}));
await call("get_secret_value", () => VariableService.getVariableValue({ workspace: ws, path: secret }));
await call("exists_secret", () => VariableService.existsVariable({ workspace: ws, path: secret }));
await call("list_variables", () => VariableService.listVariable({ workspace: ws }), (l) => ({
  paths: Array.isArray(l) ? l.map((v) => v.path).sort() : l,
  secret_values_listed: Array.isArray(l) ? l.filter((v) => v.is_secret && v.value != null).length : l,
  missing: missingAll(["ListableVariable"], l),
}));
await call("update_secret", () => VariableService.updateVariable({
  workspace: ws, path: secret, requestBody: { value: "s3cr3t-ts-2" },
}));
await call("get_secret_value_after_update", () => VariableService.getVariableValue({ workspace: ws, path: secret }));
await call("update_plain", () => VariableService.updateVariable({
  workspace: ws, path: plain, requestBody: { path: plainMoved, value: "plain-ts-2", description: "moved" },
}));
await call("get_plain_after_update", () => VariableService.getVariable({ workspace: ws, path: plainMoved }), (v) => ({
  value: v?.value, description: v?.description,
}));
await call("exists_plain_old_path", () => VariableService.existsVariable({ workspace: ws, path: plain }));
await call("sdk_set_variable", () => wmill.setVariable(plainMoved, "plain-ts-3"));
await call("sdk_get_variable", () => wmill.getVariable(plainMoved));
await call("sdk_get_secret", () => wmill.getVariable(secret));

// --- resource types ---
await call("create_resource_type", () => ResourceService.createResourceType({
  workspace: ws,
  requestBody: { name: "wm_ts_api", schema: { type: "object", required: ["url"] }, description: "made by windmill-client" },
}));
await call("exists_resource_type", () => ResourceService.existsResourceType({ workspace: ws, path: "wm_ts_api" }));
await call("get_resource_type", () => ResourceService.getResourceType({ workspace: ws, path: "wm_ts_api" }), (t) => ({
  name: t?.name, schema: t?.schema, missing: missing(["ResourceType"], t),
}));
await call("update_resource_type", () => ResourceService.updateResourceType({
  workspace: ws, path: "wm_ts_api", requestBody: { description: "edited by windmill-client" },
}));
await call("list_resource_types", () => ResourceService.listResourceType({ workspace: ws }), (l) => ({
  names: Array.isArray(l) ? l.map((t) => t.name) : l,
  description: Array.isArray(l) ? l.find((t) => t.name === "wm_ts_api")?.description : l,
  missing: missingAll(["ResourceType"], l),
}));
await call("list_resource_type_names", () => ResourceService.listResourceTypeNames({ workspace: ws }));

// --- resources ---
const res = "u/admin/wm_ts_res";
const resMoved = "u/admin/wm_ts_res_moved";
await call("create_resource", () => ResourceService.createResource({
  workspace: ws,
  requestBody: { path: res, resource_type: "wm_ts_api", value: { url: "https://x", key: `$var:${secret}` }, description: "r" },
}));
await call("exists_resource", () => ResourceService.existsResource({ workspace: ws, path: res }));
await call("get_resource", () => ResourceService.getResource({ workspace: ws, path: res }), (r) => ({
  resource_type: r?.resource_type, value: r?.value, missing: missing(["ListableResource", "UserDraftOverlay"], r),
}));
await call("get_resource_value", () => ResourceService.getResourceValue({ workspace: ws, path: res }));
await call("get_resource_value_interpolated", () =>
  ResourceService.getResourceValueInterpolated({ workspace: ws, path: res }));
await call("list_resources", () => ResourceService.listResource({ workspace: ws, resourceType: "wm_ts_api" }), (l) => ({
  paths: Array.isArray(l) ? l.map((r) => r.path) : l,
  missing: missingAll(["ListableResource"], l),
}));
await call("update_resource", () => ResourceService.updateResource({
  workspace: ws, path: res, requestBody: { path: resMoved, description: "moved by windmill-client" },
}));
await call("update_resource_value", () => ResourceService.updateResourceValue({
  workspace: ws, path: resMoved, requestBody: { value: { url: "https://y" } },
}));
await call("get_resource_after_update", () => ResourceService.getResource({ workspace: ws, path: resMoved }), (r) => ({
  value: r?.value, description: r?.description,
}));
await call("sdk_set_resource", () => wmill.setResource({ url: "https://z", key: `$var:${secret}` }, resMoved));
await call("sdk_get_resource", () => wmill.getResource(resMoved));
await call("refused_resource", () => ResourceService.createResource({
  workspace: ws, requestBody: { path: "u/admin/wm_ts_bad", resource_type: "wm_ts_api", value: { key: "no url" } },
}));

// --- apps ---
const app = "u/admin/wm_ts_app";
await call("create_app", () => AppService.createApp({
  workspace: ws,
  requestBody: { path: app, summary: "made by windmill-client", value: { grid: [] }, policy: { execution_mode: "viewer" } },
}));
await call("exists_app", () => AppService.existsApp({ workspace: ws, path: app }));
await call("update_app", () => AppService.updateApp({
  workspace: ws, path: app, requestBody: { summary: "edited by windmill-client", value: { grid: [1] } },
}), (d) => ({ path: d?.path, version: d?.version, missing: missing(["AppDeployed"], d) }));
await call("get_app", () => AppService.getAppByPath({ workspace: ws, path: app }), (a) => ({
  summary: a?.summary, versions: a?.versions, value: a?.value, execution_mode: a?.execution_mode,
  missing: missing(["AppWithLastVersion", "UserDraftOverlay"], a),
}));
await call("list_apps", () => AppService.listApps({ workspace: ws }), (l) => ({
  paths: Array.isArray(l) ? l.map((a) => a.path) : l,
  versions: Array.isArray(l) ? l.map((a) => a.version) : l,
  missing: missingAll(["ListableApp"], l),
}));
await call("app_history", () => AppService.getAppHistoryByPath({ workspace: ws, path: app }), (h) => ({
  versions: Array.isArray(h) ? h.map((v) => v.version) : h,
  missing: missingAll(["AppHistory"], h),
}));
await call("delete_app", () => AppService.deleteApp({ workspace: ws, path: app }));
await call("exists_app_after_delete", () => AppService.existsApp({ workspace: ws, path: app }));

// --- the workspace webhook's settings (the test lets it point at this machine) ---
const hook = "http://127.0.0.1:9/wm-ts-hook";
await call("edit_webhook", () => WorkspaceService.editWebhook({ workspace: ws, requestBody: { webhook: hook } }));
await call("get_settings", () => WorkspaceService.getSettings({ workspace: ws }), (s) => ({
  webhook: s?.webhook, workspace_id: s?.workspace_id, has_secret: String(s?.webhook_secret).startsWith("whsec_"),
}));
await call("edit_webhook_off", () => WorkspaceService.editWebhook({ workspace: ws, requestBody: {} }));
await call("get_settings_off", () => WorkspaceService.getSettings({ workspace: ws }), (s) => ({
  webhook: s?.webhook ?? null,
}));

// --- deletes ---
await call("delete_resource", () => ResourceService.deleteResource({ workspace: ws, path: resMoved }));
await call("exists_resource_after_delete", () => ResourceService.existsResource({ workspace: ws, path: resMoved }));
await call("delete_resource_type", () => ResourceService.deleteResourceType({ workspace: ws, path: "wm_ts_api" }));
await call("exists_resource_type_after_delete", () =>
  ResourceService.existsResourceType({ workspace: ws, path: "wm_ts_api" }));
await call("delete_secret", () => VariableService.deleteVariable({ workspace: ws, path: secret }));
await call("delete_plain", () => VariableService.deleteVariable({ workspace: ws, path: plainMoved }));
await call("list_variables_after_delete", () => VariableService.listVariable({ workspace: ws }), (l) => ({
  paths: Array.isArray(l) ? l.map((v) => v.path) : l,
}));
console.log(JSON.stringify(seen));
