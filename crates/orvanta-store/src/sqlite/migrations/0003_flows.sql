-- Flows: every save is a new immutable version whose number (`version`) is
-- increasing and unique in the instance.
CREATE TABLE flows (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace TEXT NOT NULL,
    path TEXT NOT NULL,
    summary TEXT NOT NULL,
    description TEXT NOT NULL,
    value TEXT NOT NULL,
    schema TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX flows_path ON flows(workspace, path, version);

-- A flow run is a job (kind 'flow') whose steps are child jobs: 'flowstep'
-- jobs run code, 'flow' jobs run nested module lists (loop iterations,
-- branches) or sub-flows. The engine's state of a flow run is `flow_state`,
-- changed only with `flow_rev` checked and raised.
ALTER TABLE jobs ADD COLUMN flow_version INTEGER;
ALTER TABLE jobs ADD COLUMN flow_node TEXT;
ALTER TABLE jobs ADD COLUMN step_id TEXT;
ALTER TABLE jobs ADD COLUMN flow_index INTEGER;
ALTER TABLE jobs ADD COLUMN root_job TEXT;
ALTER TABLE jobs ADD COLUMN flow_state TEXT;
ALTER TABLE jobs ADD COLUMN flow_rev INTEGER NOT NULL DEFAULT 0;
-- When a suspended or sleeping flow run must be looked at again.
ALTER TABLE jobs ADD COLUMN wake_at INTEGER;
CREATE INDEX jobs_children ON jobs(parent_job, step_id, flow_index) WHERE parent_job IS NOT NULL;
CREATE INDEX jobs_root ON jobs(root_job) WHERE root_job IS NOT NULL;
CREATE INDEX jobs_wake ON jobs(wake_at) WHERE wake_at IS NOT NULL;
