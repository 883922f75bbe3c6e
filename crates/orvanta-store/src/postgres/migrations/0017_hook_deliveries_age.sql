-- The inbound history purge deletes delivery ids by age, as it does the
-- events: without this index each purge read every delivery id recorded.
CREATE INDEX hook_deliveries_age ON hook_deliveries(received_at);
