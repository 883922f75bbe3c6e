-- Settled workspace events and token notices are purged once past their
-- keeping time (ORVANTA_EVENT_RETENTION_DAYS): the purge finds them by age.
CREATE INDEX workspace_events_created ON workspace_events(created_at);
CREATE INDEX token_notices_created ON token_notices(created_at);
