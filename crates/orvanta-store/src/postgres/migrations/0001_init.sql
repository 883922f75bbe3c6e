-- Orvanta's first schema (PostgreSQL). Times are milliseconds since the Unix
-- epoch; JSON is stored as text so that it comes back byte for byte.
CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    username TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    super_admin BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

CREATE TABLE members (
    workspace TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (workspace, username)
);

CREATE TABLE tokens (
    hash TEXT PRIMARY KEY,
    prefix TEXT NOT NULL,
    owner TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    scopes TEXT,
    workspace TEXT
);
CREATE INDEX tokens_owner ON tokens(owner);
CREATE INDEX tokens_expiry ON tokens(expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE scripts (
    hash TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    path TEXT NOT NULL,
    parent_hash TEXT,
    language TEXT NOT NULL,
    content TEXT NOT NULL,
    summary TEXT NOT NULL,
    description TEXT NOT NULL,
    schema TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    archived BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX scripts_version ON scripts(workspace, path, seq);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    kind TEXT NOT NULL,
    path TEXT,
    script_hash TEXT,
    language TEXT,
    args TEXT,
    created_by TEXT NOT NULL,
    permissioned_as TEXT NOT NULL,
    tag TEXT NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    scheduled_for BIGINT NOT NULL,
    started_at BIGINT,
    completed_at BIGINT,
    result TEXT,
    parent_job TEXT,
    timeout_s BIGINT,
    worker TEXT,
    lease_until BIGINT,
    retries INTEGER NOT NULL DEFAULT 0,
    cancel_requested TEXT,
    token_prefix TEXT,
    purged BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX jobs_queue ON jobs(tag, scheduled_for, id) WHERE status = 'queued';
CREATE INDEX jobs_running ON jobs(lease_until) WHERE status = 'running';
CREATE INDEX jobs_list ON jobs(workspace, created_at DESC);

CREATE TABLE idempotency_keys (
    workspace TEXT NOT NULL,
    runnable TEXT NOT NULL,
    key TEXT NOT NULL,
    job_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (workspace, runnable, key)
);

CREATE TABLE job_logs (
    job_id TEXT NOT NULL,
    pos BIGINT NOT NULL,
    chunk TEXT NOT NULL,
    PRIMARY KEY (job_id, pos)
);

CREATE TABLE job_stream (
    job_id TEXT NOT NULL,
    pos BIGINT NOT NULL,
    chunk TEXT NOT NULL,
    PRIMARY KEY (job_id, pos)
);

CREATE TABLE instance_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    slots BIGINT NOT NULL,
    last_ping BIGINT NOT NULL
);
