-- Instance events (users added, invited, joining a workspace) go through the
-- outbox on the channel '_instance', which no workspace id can take; the
-- instance events webhook is the row '_instance' of workspace_settings, so
-- that row may not reference a workspace.
ALTER TABLE workspace_settings DROP CONSTRAINT IF EXISTS workspace_settings_workspace_fkey;
