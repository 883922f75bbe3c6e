/**
 * Orvanta's client library for TypeScript scripts (Deno and Bun).
 *
 * Scripts import it as `import { S3Object, getJobId } from "orvanta-client"`:
 * Orvanta maps that name to this file (a Deno import map, a `node_modules`
 * package for Bun). It reads the job's context from the environment Orvanta
 * sets (`ORVANTA_BASE_URL`, `ORVANTA_WORKSPACE`, `ORVANTA_JOB_ID`,
 * `ORVANTA_TOKEN`).
 *
 * @module
 */

/** A file in the workspace's object storage: `{ s3: "<key>" }`. */
export type S3Object = { s3: string };

/**
 * Makes an {@link S3Object} from a key.
 *
 * The value of the same name as the type lets `import { S3Object }` work
 * whether or not the runtime strips type-only imports.
 */
export function S3Object(key: string): S3Object {
  return { s3: key };
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
