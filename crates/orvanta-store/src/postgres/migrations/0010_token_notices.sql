-- Token expiry notices: when the owner of a user token was told it expires
-- soon, the mails to send (an outbox), and the events of the workspace
-- webhook (an outbox, delivered by a later version).
ALTER TABLE tokens ADD COLUMN soon_notified_at BIGINT;

-- kind: 'TokenExpiringSoon' or 'TokenExpired'; workspace: the token's, NULL
-- when it was valid in all of its owner's; status: 'pending', 'sent',
-- 'failed' (no more attempts) or 'skipped' (stale before it could be sent).
CREATE TABLE token_notices (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    email TEXT NOT NULL,
    label TEXT NOT NULL,
    token_prefix TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    workspace TEXT,
    created_at BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    sent_at BIGINT
);
CREATE INDEX token_notices_due ON token_notices(next_attempt_at) WHERE status = 'pending';

-- payload: the event's JSON text, as the webhook will send it (without its
-- delivery timestamp). Ids increase: the order of a workspace's events.
CREATE TABLE workspace_events (
    id BIGSERIAL PRIMARY KEY,
    workspace TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX workspace_events_workspace ON workspace_events(workspace, id);
