-- Flow steps waiting for an inbound webhook's event (contract §8.4): one row
-- per waiting `waitforwebhook` step, written with the flow's state, deleted
-- by whoever ends the wait (a matching event, the timeout, the definition's
-- deletion), so that a wait ends once.
CREATE TABLE hook_waits (
    job_id TEXT PRIMARY KEY,
    hook_id TEXT NOT NULL,
    workspace TEXT NOT NULL,
    flow_job TEXT NOT NULL,
    step_id TEXT NOT NULL,
    matches TEXT NOT NULL,
    deadline BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX hook_waits_hook ON hook_waits(hook_id);
CREATE INDEX hook_waits_deadline ON hook_waits(deadline) WHERE deadline IS NOT NULL;
