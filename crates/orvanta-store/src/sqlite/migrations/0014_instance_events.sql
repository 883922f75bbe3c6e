-- Instance events (users added, invited, joining a workspace) go through the
-- outbox on the channel '_instance', which no workspace id can take; the
-- instance events webhook is the row '_instance' of workspace_settings, so
-- that row may not reference a workspace.
CREATE TABLE workspace_settings_0014 (
    workspace TEXT PRIMARY KEY,
    webhook TEXT,
    webhook_secret TEXT,
    webhook_disabled TEXT,
    updated_at INTEGER NOT NULL
);
INSERT INTO workspace_settings_0014 SELECT workspace, webhook, webhook_secret, webhook_disabled, updated_at
    FROM workspace_settings;
DROP TABLE workspace_settings;
ALTER TABLE workspace_settings_0014 RENAME TO workspace_settings;
