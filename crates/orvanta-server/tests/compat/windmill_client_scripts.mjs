// Drives Orvanta's script, job, user and workspace routes with Windmill's
// published TypeScript client (`windmill-client` on npm), unchanged:
// ScriptService to create, read, list, archive and delete a script; JobService
// and the SDK's runScriptByPath / runScriptByPathAsync / waitJob to run it and
// read the job back; UserService and WorkspaceService for whoami and the
// workspace lists. The generated client does not check answers, so each answer
// is checked here against the fields its TypeScript type requires (`missing`).
// A failing call is recorded (status, message, body) instead of stopping the
// run. Prints one JSON object of what it saw.
//
// Usage: node windmill_client_scripts.mjs BASE_URL TOKEN WORKSPACE
import * as wmill from "windmill-client";

const [base, token, ws] = process.argv.slice(2);
process.env.WM_WORKSPACE = ws;
wmill.setClient(token, base);
const path = "u/admin/wm_ts_script";
const seen = {};

// Required fields of the client's TypeScript types (types.gen.d.ts).
const REQUIRED = {
  Script: ["hash", "path", "summary", "description", "content", "created_by", "created_at", "archived", "deleted",
    "is_template", "extra_perms", "language", "kind", "starred", "has_preprocessor"],
  CompletedJob: ["id", "created_by", "created_at", "started_at", "duration_ms", "success", "canceled", "job_kind",
    "permissioned_as", "is_flow_step", "is_skipped", "email", "visible_to_owner", "tag"],
  QueuedJob: ["id", "running", "canceled", "job_kind", "permissioned_as", "is_flow_step", "email",
    "visible_to_owner", "tag"],
  ScriptHistory: ["script_hash"],
  User: ["email", "username", "is_admin", "is_super_admin", "created_at", "operator", "disabled", "folders",
    "folders_read", "folders_owners"],
  GlobalUserInfo: ["email", "login_type", "super_admin", "verified", "first_time_user", "role_source", "disabled"],
  Workspace: ["id", "name", "owner"],
  UserWorkspace: ["id", "name", "username", "color", "is_dev_workspace", "disabled"],
};
const missing = (type, v) =>
  v && typeof v === "object" ? REQUIRED[type].filter((k) => v[k] === undefined || v[k] === null) : ["<not an object>"];
const jobType = (j) => j?.type ?? ("running" in (j ?? {}) ? "QueuedJob(no type)" : "CompletedJob(no type)");
const jobMissing = (j) => missing(j?.type === "QueuedJob" || (!j?.type && "running" in (j ?? {})) ? "QueuedJob" : "CompletedJob", j);

// waitJob polls until the job completes: a job that never does must not hang the run.
const timeout = (ms) => new Promise((_, fail) => setTimeout(() => fail(new Error(`no answer in ${ms} ms`)), ms).unref());

async function call(name, fn, pick = (v) => ({ value: v })) {
  try {
    seen[name] = pick(await Promise.race([fn(), timeout(60000)]));
  } catch (e) {
    const body = typeof e?.body === "string" ? e.body.slice(0, 600) : e?.body;
    seen[name] = { error: String(e?.message ?? e), status: e?.status, body };
  }
  return seen[name];
}

const requestBody = {
  path,
  summary: "made by windmill-client",
  description: "",
  content: "export function main(x: number = 1) {\n  return x * 2;\n}\n",
  language: "bun",
  kind: "script",
  schema: {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    type: "object",
    properties: { x: { type: "number", default: 1, description: "" } },
    required: [],
  },
  is_template: false,
  envs: [],
  has_preprocessor: false,
  assets: [],
};

// --- scripts ---
const created = await call("create", () => wmill.ScriptService.createScript({ workspace: ws, requestBody }));
await call("exists", () => wmill.ScriptService.existsScriptByPath({ workspace: ws, path }));
const got = await call("get_by_path", () => wmill.ScriptService.getScriptByPath({ workspace: ws, path }), (s) => ({
  hash: s?.hash, summary: s?.summary, language: s?.language, kind: s?.kind, missing: missing("Script", s),
}));
const hash = got.hash ?? (typeof created.value === "string" ? created.value : undefined);
await call("get_by_hash", () => wmill.ScriptService.getScriptByHash({ workspace: ws, hash }), (s) => ({
  hash: s?.hash, path: s?.path, missing: missing("Script", s),
}));
await call("raw", () => wmill.ScriptService.rawScriptByPath({ workspace: ws, path }));
await call("history", () => wmill.ScriptService.getScriptHistoryByPath({ workspace: ws, path }), (h) => ({
  hashes: Array.isArray(h) ? h.map((x) => x.script_hash) : h,
  missing: Array.isArray(h) ? h.flatMap((x) => missing("ScriptHistory", x)) : ["<not an array>"],
}));
await call("list", () => wmill.ScriptService.listScripts({ workspace: ws }), (l) => ({
  paths: Array.isArray(l) ? l.map((s) => s.path) : l,
  missing: Array.isArray(l) ? [...new Set(l.flatMap((s) => missing("Script", s)))] : ["<not an array>"],
}));

// --- jobs ---
await call("run_wait_result", () =>
  wmill.JobService.runWaitResultScriptByPath({ workspace: ws, path, requestBody: { x: 21 } }));
await call("sdk_run", () => wmill.runScriptByPath(path, { x: 4 }));
const asyncId = await call("sdk_run_async", () => wmill.runScriptByPathAsync(path, { x: 3 }));
await call("sdk_wait", () => wmill.waitJob(asyncId.value));
const run = await call("run_async", () =>
  wmill.JobService.runScriptByPath({ workspace: ws, path, requestBody: { x: 5 } }));
const id = run.value;
await call("wait", () => wmill.waitJob(id));
await call("get_job", () => wmill.JobService.getJob({ workspace: ws, id }), (j) => ({
  type: jobType(j), success: j?.success, result: j?.result, job_kind: j?.job_kind, script_path: j?.script_path,
  missing: jobMissing(j),
}));
await call("get_completed_job", () => wmill.JobService.getCompletedJob({ workspace: ws, id }), (j) => ({
  success: j?.success, result: j?.result, missing: missing("CompletedJob", j),
}));
await call("get_completed_job_result", () => wmill.JobService.getCompletedJobResult({ workspace: ws, id }));
await call("get_job_updates", () => wmill.JobService.getJobUpdates({ workspace: ws, id }), (u) => ({
  running: u?.running, completed: u?.completed,
}));
await call("list_jobs", () =>
  wmill.JobService.listJobs({ workspace: ws, scriptPathExact: path, success: true, jobKinds: "script" }), (l) => ({
  has_job: Array.isArray(l) && l.some((j) => j.id === id),
  count: Array.isArray(l) ? l.length : l,
  types: Array.isArray(l) ? [...new Set(l.map(jobType))] : [],
  missing: Array.isArray(l) ? [...new Set(l.flatMap(jobMissing))] : ["<not an array>"],
}));

// --- users and workspaces ---
await call("global_whoami", () => wmill.UserService.globalWhoami(), (u) => ({
  email: u?.email, login_type: u?.login_type, missing: missing("GlobalUserInfo", u),
}));
await call("whoami", () => wmill.UserService.whoami({ workspace: ws }), (u) => ({
  username: u?.username, is_admin: u?.is_admin, missing: missing("User", u),
}));
await call("list_workspaces", () => wmill.WorkspaceService.listWorkspaces(), (l) => ({
  ids: Array.isArray(l) ? l.map((w) => w.id) : l,
  missing: Array.isArray(l) ? [...new Set(l.flatMap((w) => missing("Workspace", w)))] : ["<not an array>"],
}));
await call("list_user_workspaces", () => wmill.WorkspaceService.listUserWorkspaces(), (l) => ({
  email: l?.email,
  ids: Array.isArray(l?.workspaces) ? l.workspaces.map((w) => w.id) : l,
  missing: Array.isArray(l?.workspaces) ? [...new Set(l.workspaces.flatMap((w) => missing("UserWorkspace", w)))] : ["<no workspaces>"],
}));

// --- archive, delete ---
await call("archive", () => wmill.ScriptService.archiveScriptByPath({ workspace: ws, path }));
await call("delete", () => wmill.ScriptService.deleteScriptByPath({ workspace: ws, path }));
await call("exists_after_delete", () => wmill.ScriptService.existsScriptByPath({ workspace: ws, path }));
console.log(JSON.stringify(seen));
process.exit(0); // a timed-out waitJob may still be polling
