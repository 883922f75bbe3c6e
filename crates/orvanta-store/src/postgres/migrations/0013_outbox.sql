-- The workspace webhook: where a workspace's events go, signed with a
-- secret the server seals; and the delivery state of every event, with each
-- attempt recorded.
CREATE TABLE workspace_settings (
    workspace TEXT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    webhook TEXT,
    webhook_secret TEXT,
    -- Why deliveries stopped (the endpoint answered 410); NULL while enabled.
    webhook_disabled TEXT,
    updated_at BIGINT NOT NULL
);

-- state: 'pending', 'delivered', 'failed' (no attempt left) or 'skipped'
-- (no webhook when it was due).
ALTER TABLE workspace_events ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE workspace_events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workspace_events ADD COLUMN next_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE workspace_events ADD COLUMN claimed_until BIGINT;
CREATE INDEX workspace_events_pending ON workspace_events(workspace, id) WHERE state = 'pending';

CREATE TABLE event_attempts (
    event_id BIGINT NOT NULL,
    n INTEGER NOT NULL,
    at BIGINT NOT NULL,
    -- NULL: no answer (refused, timed out).
    status INTEGER,
    latency_ms BIGINT NOT NULL,
    excerpt TEXT NOT NULL,
    PRIMARY KEY (event_id, n)
);
