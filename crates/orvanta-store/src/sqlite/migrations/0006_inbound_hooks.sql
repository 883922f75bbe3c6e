-- Inbound webhook definitions (contract §8): platforms call /webhook/{id}
-- without a token; `config` holds the verifier and its keys (secrets sealed
-- with the instance key, never stored in the clear), the flows to start.
CREATE TABLE hooks (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    url_verified INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX hooks_name ON hooks(workspace, name);

-- Every request to a hook's URL, verified or not: the execution history.
CREATE TABLE hook_events (
    id TEXT PRIMARY KEY,
    hook_id TEXT NOT NULL,
    workspace TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    headers_matched INTEGER,
    method TEXT NOT NULL,
    query TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    jobs TEXT NOT NULL,
    waits TEXT NOT NULL,
    replay_of TEXT
);
CREATE INDEX hook_events_list ON hook_events(hook_id, id);
CREATE INDEX hook_events_event ON hook_events(hook_id, event_id);
CREATE INDEX hook_events_age ON hook_events(received_at);

-- The platforms' delivery ids already acted on: a retried delivery is
-- recorded but starts nothing a second time.
CREATE TABLE hook_deliveries (
    hook_id TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (hook_id, delivery_id)
);
