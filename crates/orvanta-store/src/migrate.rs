//! A small migration runner: numbered SQL files embedded in the binary,
//! applied in order, each in its own transaction, recorded in
//! `orvanta_migrations`. The same list shape for both backends keeps their
//! schemas moving together.

/// One migration: its number, name and SQL.
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub(crate) const SQLITE: &[Migration] = &[
    Migration { version: 1, name: "init", sql: include_str!("sqlite/migrations/0001_init.sql") },
    Migration { version: 2, name: "worker_tags", sql: include_str!("sqlite/migrations/0002_worker_tags.sql") },
    Migration { version: 3, name: "flows", sql: include_str!("sqlite/migrations/0003_flows.sql") },
    Migration { version: 4, name: "job_scopes", sql: include_str!("sqlite/migrations/0004_job_scopes.sql") },
    Migration { version: 5, name: "concurrency", sql: include_str!("sqlite/migrations/0005_concurrency.sql") },
    Migration { version: 6, name: "inbound_hooks", sql: include_str!("sqlite/migrations/0006_inbound_hooks.sql") },
    Migration { version: 7, name: "hook_waits", sql: include_str!("sqlite/migrations/0007_hook_waits.sql") },
    Migration { version: 8, name: "hook_editor", sql: include_str!("sqlite/migrations/0008_hook_editor.sql") },
    Migration { version: 9, name: "identity", sql: include_str!("sqlite/migrations/0009_identity.sql") },
    Migration { version: 10, name: "token_notices", sql: include_str!("sqlite/migrations/0010_token_notices.sql") },
    Migration { version: 11, name: "invites", sql: include_str!("sqlite/migrations/0011_invites.sql") },
    Migration { version: 12, name: "objects", sql: include_str!("sqlite/migrations/0012_objects.sql") },
    Migration { version: 13, name: "outbox", sql: include_str!("sqlite/migrations/0013_outbox.sql") },
    Migration { version: 14, name: "instance_events", sql: include_str!("sqlite/migrations/0014_instance_events.sql") },
    Migration {
        version: 15,
        name: "outbox_retention",
        sql: include_str!("sqlite/migrations/0015_outbox_retention.sql"),
    },
    Migration { version: 16, name: "http_triggers", sql: include_str!("sqlite/migrations/0016_http_triggers.sql") },
    Migration {
        version: 17,
        name: "hook_deliveries_age",
        sql: include_str!("sqlite/migrations/0017_hook_deliveries_age.sql"),
    },
    Migration { version: 18, name: "commit_guards", sql: include_str!("sqlite/migrations/0018_commit_guards.sql") },
    Migration { version: 19, name: "flow_queue", sql: include_str!("sqlite/migrations/0019_flow_queue.sql") },
    Migration {
        version: 20,
        name: "hook_body_format",
        sql: include_str!("sqlite/migrations/0020_hook_body_format.sql"),
    },
    Migration {
        version: 21,
        name: "idempotency_expiry",
        sql: include_str!("sqlite/migrations/0021_idempotency_expiry.sql"),
    },
];

pub(crate) const POSTGRES: &[Migration] = &[
    Migration { version: 1, name: "init", sql: include_str!("postgres/migrations/0001_init.sql") },
    Migration { version: 2, name: "worker_tags", sql: include_str!("postgres/migrations/0002_worker_tags.sql") },
    Migration { version: 3, name: "flows", sql: include_str!("postgres/migrations/0003_flows.sql") },
    Migration { version: 4, name: "job_scopes", sql: include_str!("postgres/migrations/0004_job_scopes.sql") },
    Migration { version: 5, name: "concurrency", sql: include_str!("postgres/migrations/0005_concurrency.sql") },
    Migration { version: 6, name: "inbound_hooks", sql: include_str!("postgres/migrations/0006_inbound_hooks.sql") },
    Migration { version: 7, name: "hook_waits", sql: include_str!("postgres/migrations/0007_hook_waits.sql") },
    Migration { version: 8, name: "hook_editor", sql: include_str!("postgres/migrations/0008_hook_editor.sql") },
    Migration { version: 9, name: "identity", sql: include_str!("postgres/migrations/0009_identity.sql") },
    Migration { version: 10, name: "token_notices", sql: include_str!("postgres/migrations/0010_token_notices.sql") },
    Migration { version: 11, name: "invites", sql: include_str!("postgres/migrations/0011_invites.sql") },
    Migration { version: 12, name: "objects", sql: include_str!("postgres/migrations/0012_objects.sql") },
    Migration { version: 13, name: "outbox", sql: include_str!("postgres/migrations/0013_outbox.sql") },
    Migration {
        version: 14,
        name: "instance_events",
        sql: include_str!("postgres/migrations/0014_instance_events.sql"),
    },
    Migration {
        version: 15,
        name: "outbox_retention",
        sql: include_str!("postgres/migrations/0015_outbox_retention.sql"),
    },
    Migration { version: 16, name: "http_triggers", sql: include_str!("postgres/migrations/0016_http_triggers.sql") },
    Migration {
        version: 17,
        name: "hook_deliveries_age",
        sql: include_str!("postgres/migrations/0017_hook_deliveries_age.sql"),
    },
    Migration { version: 18, name: "commit_guards", sql: include_str!("postgres/migrations/0018_commit_guards.sql") },
    Migration { version: 19, name: "flow_queue", sql: include_str!("postgres/migrations/0019_flow_queue.sql") },
    Migration {
        version: 20,
        name: "hook_body_format",
        sql: include_str!("postgres/migrations/0020_hook_body_format.sql"),
    },
    Migration {
        version: 21,
        name: "idempotency_expiry",
        sql: include_str!("postgres/migrations/0021_idempotency_expiry.sql"),
    },
];

/// Creates the bookkeeping table if absent.
pub(crate) const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS orvanta_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";
