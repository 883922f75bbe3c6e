/**
 * Orvanta's client library for TypeScript scripts (Deno and Bun).
 *
 * Scripts import it as `import { S3Object, getJobId } from "orvanta-client"`:
 * Orvanta maps that name to this file (a Deno import map, a `node_modules`
 * package for Bun), so nothing is installed or downloaded. It reads the job's
 * context from the environment Orvanta sets (`ORVANTA_BASE_URL`,
 * `ORVANTA_WORKSPACE`, `ORVANTA_JOB_ID`, `ORVANTA_TOKEN`) and talks to the
 * server with `fetch`, which both runtimes have.
 *
 * @module
 */

/** A file in the workspace's object storage: `{ s3: "<key>" }`. */
export type S3Object = { s3: string };

/**
 * Makes an {@link S3Object} from a key (or checks and copies one).
 *
 * The value of the same name as the type lets `import { S3Object }` work
 * whether or not the runtime strips type-only imports.
 */
export function S3Object(key: string | S3Object): S3Object {
  return { s3: keyOf(key) };
}

/**
 * The Orvanta server refused a request, or could not be reached.
 *
 * `status` is the HTTP status (`undefined` when the server was not reached),
 * `code` the error code the server answered (e.g. `"not-found"`); the message
 * says what went wrong, in the server's words.
 */
export class OrvantaError extends Error {
  readonly status?: number;
  readonly code?: string;

  constructor(message: string, status?: number, code?: string) {
    super(message);
    this.name = "OrvantaError";
    this.status = status;
    this.code = code;
  }
}

function env(name: string): string {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  const value: string | undefined = g.Deno?.env?.get(name) ?? g.process?.env?.[name];
  if (value === undefined) {
    throw new Error(`${name} is not set: this function only works inside a job run by Orvanta`);
  }
  return value;
}

/** The base URL of the Orvanta server that runs this job. */
export function getBaseUrl(): string {
  return env("ORVANTA_BASE_URL");
}

/** The id of the workspace this job runs in. */
export function getWorkspace(): string {
  return env("ORVANTA_WORKSPACE");
}

/** The id of the running job (a UUID, as text). */
export function getJobId(): string {
  return env("ORVANTA_JOB_ID");
}

/** The job's short-lived API token (the job's rights, nothing more). */
export function getToken(): string {
  return env("ORVANTA_TOKEN");
}

function keyOf(obj: S3Object | string): string {
  const key = typeof obj === "string" ? obj : obj?.s3;
  if (typeof key !== "string" || key === "") {
    throw new TypeError(
      `expected an S3Object ({ s3: "<key>" }) or a key string, got ${JSON.stringify(obj) ?? String(obj)}`,
    );
  }
  return key;
}

function helperUrl(action: string, key: string | undefined): string {
  const base = getBaseUrl().replace(/\/+$/, "");
  let url = `${base}/api/w/${encodeURIComponent(getWorkspace())}/job_helpers/${action}`;
  if (key !== undefined) {
    url += `?file_key=${encodeURIComponent(key)}`;
  }
  return url;
}

/** Sends one request with the job's token; throws {@link OrvantaError} on a refusal. */
async function request(what: string, url: string, init: RequestInit): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("Authorization", `Bearer ${getToken()}`);
  let resp: Response;
  try {
    resp = await fetch(url, { ...init, headers });
  } catch (e) {
    const cause = e instanceof Error ? e.message : String(e);
    throw new OrvantaError(`${what} failed: the Orvanta server at ${getBaseUrl()} could not be reached (${cause})`);
  }
  if (resp.ok) {
    return resp;
  }
  const text = await resp.text();
  let message = text.trim();
  let code: string | undefined;
  try {
    const error = JSON.parse(text)?.error;
    if (typeof error?.message === "string") {
      message = error.message;
      code = typeof error.code === "string" ? error.code : undefined;
    }
  } catch {
    // Not Orvanta's JSON error: the text is the message.
  }
  throw new OrvantaError(`${what} failed (${resp.status}): ${message || resp.statusText}`, resp.status, code);
}

/**
 * The bytes of a file of the workspace object storage.
 *
 * `obj` is an {@link S3Object} (such as an uploaded file's argument) or the
 * key itself. A missing file throws an {@link OrvantaError} with status 404.
 */
export async function loadS3File(obj: S3Object | string): Promise<Uint8Array> {
  const key = keyOf(obj);
  const resp = await request(`loading ${JSON.stringify(key)}`, helperUrl("download_s3_file", key), { method: "GET" });
  return new Uint8Array(await resp.arrayBuffer());
}

/** The content of a file of the workspace object storage, as text (UTF-8 unless told). */
export async function loadS3FileText(obj: S3Object | string, encoding = "utf-8"): Promise<string> {
  return new TextDecoder(encoding).decode(await loadS3File(obj));
}

/**
 * Writes `data` to the workspace object storage; answers its {@link S3Object}.
 *
 * `obj` names the file (an {@link S3Object} or the key); `undefined` (or
 * `null`) lets the server pick a new key. `data` is bytes or text (stored as
 * UTF-8). `contentType` is recorded with the file and given back when it is
 * downloaded; by default `text/plain; charset=utf-8` for text and
 * `application/octet-stream` for bytes. An existing file of the same key is
 * replaced.
 */
export async function writeS3File(
  obj: S3Object | string | undefined | null,
  data: Uint8Array | string,
  contentType?: string,
): Promise<S3Object> {
  const key = obj == null ? undefined : keyOf(obj);
  let body: Uint8Array;
  if (typeof data === "string") {
    body = new TextEncoder().encode(data);
    contentType ??= "text/plain; charset=utf-8";
  } else if (data instanceof Uint8Array) {
    body = data;
    contentType ??= "application/octet-stream";
  } else {
    throw new TypeError(`writeS3File takes a Uint8Array or a string, got ${typeof data}`);
  }
  const what = `writing ${key === undefined ? "a new file" : JSON.stringify(key)}`;
  const resp = await request(what, helperUrl("upload_s3_file", key), {
    method: "POST",
    headers: { "Content-Type": contentType },
    // deno-lint-ignore no-explicit-any
    body: body as any,
  });
  const answer = await resp.json();
  return { s3: answer.file_key };
}

/** The URLs of a suspended step: see {@link getResumeUrls}. */
export type ResumeUrls = { approvalPage: string; resume: string; cancel: string };

/**
 * The URLs that resume or cancel the flow this step belongs to, once the
 * step ends (a step with `suspend`): send them to whoever must approve.
 * Opening `resume` (or POSTing a JSON payload to it) lets the flow go on,
 * `cancel` stops it, `approvalPage` is a page with both buttons. Each call
 * makes URLs with a fresh resume id; `approver` names who they are for.
 */
export async function getResumeUrls(approver?: string): Promise<ResumeUrls> {
  const base = getBaseUrl().replace(/\/+$/, "");
  const rid = crypto.getRandomValues(new Uint32Array(1))[0];
  let url = `${base}/api/w/${encodeURIComponent(getWorkspace())}/jobs/resume_urls/${encodeURIComponent(getJobId())}/${rid}`;
  if (approver) {
    url += `?approver=${encodeURIComponent(approver)}`;
  }
  const resp = await request("getting the resume URLs", url, { method: "GET" });
  return await resp.json();
}

function objectUrl(kind: string, action: string, path?: string): string {
  const base = getBaseUrl().replace(/\/+$/, "");
  let url = `${base}/api/w/${encodeURIComponent(getWorkspace())}/${kind}/${action}`;
  if (path !== undefined) {
    url += "/" + path.split("/").map(encodeURIComponent).join("/");
  }
  return url;
}

async function jsonRequest(what: string, url: string, method: string, body?: unknown): Promise<unknown> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "Content-Type": "application/json" };
  }
  const text = await (await request(what, url, init)).text();
  // Reads answer JSON; writes answer a sentence.
  return method === "GET" && text ? JSON.parse(text) : undefined;
}

async function exists(kind: string, path: string): Promise<boolean> {
  return (await jsonRequest(`checking ${kind} ${path}`, objectUrl(kind, "exists", path), "GET")) === true;
}

/**
 * The value of the variable at `path` (a secret one in clear). The job reads
 * with its user's rights: a variable it may not read throws an
 * {@link OrvantaError} (404, as if it did not exist).
 */
export async function getVariable(path: string): Promise<string> {
  return (await jsonRequest(`reading the variable ${path}`, objectUrl("variables", "get_value", path), "GET")) as string;
}

/** Sets the variable at `path`, creating it if needed (not secret unless `isSecret`). */
export async function setVariable(path: string, value: string, isSecret?: boolean, description?: string): Promise<void> {
  if (await exists("variables", path)) {
    const body: Record<string, unknown> = { value };
    if (isSecret !== undefined) body.is_secret = isSecret;
    if (description !== undefined) body.description = description;
    await jsonRequest(`updating the variable ${path}`, objectUrl("variables", "update", path), "POST", body);
  } else {
    const body = { path, value, is_secret: isSecret ?? false, description: description ?? "" };
    await jsonRequest(`creating the variable ${path}`, objectUrl("variables", "create"), "POST", body);
  }
}

/** The value of the resource at `path`, its `$var:` and `$res:` references resolved. */
export async function getResource(path: string): Promise<unknown> {
  return await jsonRequest(`reading the resource ${path}`, objectUrl("resources", "get_value_interpolated", path), "GET");
}

/** Sets the value of the resource at `path`, creating it (of `resourceType`, required then) if needed. */
export async function setResource(path: string, value: unknown, resourceType?: string): Promise<void> {
  if (await exists("resources", path)) {
    await jsonRequest(`updating the resource ${path}`, objectUrl("resources", "update_value", path), "POST", { value });
  } else if (resourceType === undefined) {
    throw new OrvantaError(`there is no resource at ${path}: pass resourceType to create it`);
  } else {
    const body = { path, value, resource_type: resourceType };
    await jsonRequest(`creating the resource ${path}`, objectUrl("resources", "create"), "POST", body);
  }
}
