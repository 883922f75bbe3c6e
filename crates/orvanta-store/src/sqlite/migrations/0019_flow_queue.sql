-- Queued flow runs by tag and due time: a worker claims many at once (a
-- run's start holds no slot), straight from this index however many
-- scripts are queued before them.
CREATE INDEX jobs_flow_queue ON jobs(tag, scheduled_for, id) WHERE status = 'queued' AND kind = 'flow';
