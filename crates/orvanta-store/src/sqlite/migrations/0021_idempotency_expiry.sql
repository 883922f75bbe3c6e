-- Idempotency keys whose window ended are purged by age (the sweep, a
-- batch at a time); without this index each purge read the whole table.
CREATE INDEX idempotency_keys_expiry ON idempotency_keys(expires_at);
