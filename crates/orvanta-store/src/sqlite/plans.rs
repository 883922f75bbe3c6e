//! The plans SQLite makes for the statements that read or change the tables
//! that grow with use (jobs, their output, the inbound history, the outbox,
//! tokens and their notices), as `EXPLAIN QUERY PLAN` run through sqlx: the
//! planner of the bundled SQLite, not of whatever `sqlite3` a shell has.
//!
//! Every statement runs per request, per job or in a periodic loop, so none
//! may read a whole large table: a `SCAN` of one (through an alias too)
//! fails, unless [`ACCEPTED`] says why it is meant. A statement may also name
//! the index lines its plan must show: the scans that hide in a `SEARCH` of
//! a broader index (all of a workspace's jobs) are caught there. Statements
//! that find their rows by primary key alone (`WHERE id = ?`) are left out.
//!
//! A fresh store has no statistics (the store never runs `ANALYZE`), so
//! these are the plans a production database gets.

use super::SqliteStore;
use crate::JobFilter;
use orvanta_core::{JobId, JobKind, JobStatus, RunnablePath, ScriptHash, Username, WorkspaceId};

/// The tables that grow with use.
const LARGE: &[&str] = &[
    "jobs",
    "job_logs",
    "job_stream",
    "hook_events",
    "hook_deliveries",
    "hook_waits",
    "workspace_events",
    "event_attempts",
    "token_notices",
    "idempotency_keys",
    "tokens",
];

/// Scans that are meant: statement, plan line, why.
const ACCEPTED: &[(&str, &str, &str)] = &[(
    "outbox claim, all workspaces",
    "SCAN p USING COVERING INDEX workspace_events_pending",
    "the oldest pending event of every workspace: a walk of the partial index of pending events (the \
     backlog), never of the settled ones",
)];

struct Statement {
    name: String,
    sql: String,
    /// Text that lines of its plan must show (each in some line).
    uses: Vec<&'static str>,
}

fn st(name: impl Into<String>, sql: impl Into<String>, uses: &[&'static str]) -> Statement {
    Statement { name: name.into(), sql: sql.into(), uses: uses.to_vec() }
}

/// The job lists a request can ask for: one per filter, and the index each reads.
fn job_lists() -> Vec<Statement> {
    let ws = WorkspaceId::parse("ws").unwrap();
    let none = JobFilter::default();
    let filters = [
        ("none", none.clone()),
        ("path", JobFilter { path: Some(RunnablePath::parse("u/a/b").unwrap()), ..none.clone() }),
        ("path prefix", JobFilter { path_prefix: Some("u/a".into()), ..none.clone() }),
        ("script hash", JobFilter { script_hash: Some(ScriptHash::from_u64(7)), ..none.clone() }),
        ("statuses", JobFilter { statuses: vec![JobStatus::Queued, JobStatus::Running], ..none.clone() }),
        ("kinds", JobFilter { kinds: vec![JobKind::Flow], ..none.clone() }),
        ("trigger", JobFilter { trigger: Some("webhook".into()), ..none.clone() }),
        ("created by", JobFilter { created_by: Some(Username::parse("alice").unwrap()), ..none.clone() }),
        ("since and before", JobFilter { since: Some(1), before: Some(2), ..none.clone() }),
        ("root only", JobFilter { root_only: true, ..none.clone() }),
        ("parent", JobFilter { parent_job: Some(JobId::new()), ..none.clone() }),
        (
            "parent, status and time",
            JobFilter { parent_job: Some(JobId::new()), statuses: vec![JobStatus::Queued], since: Some(1), ..none },
        ),
    ];
    filters
        .iter()
        .map(|(name, f)| {
            let sql = crate::shared::jobs_query::<sqlx::Sqlite>(&ws, f).sql().to_owned();
            let uses: &[&str] = if f.parent_job.is_some() {
                &["USING INDEX jobs_children (parent_job=?)"]
            } else {
                &["USING INDEX jobs_list (workspace="]
            };
            st(format!("job list, {name}"), sql, uses)
        })
        .collect()
}

/// Every statement audited, with its final text.
fn statements() -> Vec<Statement> {
    use crate::{notices as n, outbox as o};
    let lock = |sql: &str| n::with_lock(sql, "");
    let mut all = vec![
        // The queue.
        st(
            "enqueue: the job of an idempotency key",
            super::queue::KEY_LOOKUP,
            &["sqlite_autoindex_idempotency_keys_1"],
        ),
        st(
            "claim, one tag",
            super::queue::claim_sql(1),
            &["jobs_queue (tag=? AND scheduled_for<?)", "jobs_concurrency"],
        ),
        st("claim, three tags", super::queue::claim_sql(3), &["jobs_queue (tag=? AND scheduled_for<?)"]),
        st(
            "claim flow runs, one tag",
            super::queue::claim_flows_sql(1),
            &["jobs_flow_queue (tag=? AND scheduled_for<?)"],
        ),
        st(
            "claim flow runs, two tags",
            super::queue::claim_flows_sql(2),
            &["jobs_flow_queue (tag=? AND scheduled_for<?)"],
        ),
        st("sweep: canceled", super::queue::SWEEP_CANCELED, &["USING INDEX jobs_running (lease_until<?)"]),
        st("sweep: requeue", super::queue::SWEEP_REQUEUE, &["USING INDEX jobs_running (lease_until<?)"]),
        st("sweep: stale", super::queue::SWEEP_STALE, &["USING INDEX jobs_running (lease_until<?)"]),
        // Flow runs.
        st(
            "flow: ask the steps below a run to stop",
            super::flow_runs::ask_below_sql(),
            &["SEARCH j USING INDEX jobs_children (parent_job=?)", "USING INDEX sqlite_autoindex_jobs_1 (id=?)"],
        ),
        st(
            "flow: cancel what is queued below a run",
            super::flow_runs::cancel_below_sql(),
            &["SEARCH j USING INDEX jobs_children (parent_job=?)", "USING INDEX sqlite_autoindex_jobs_1 (id=?)"],
        ),
        st(
            "flow: activate",
            super::flow_runs::ACTIVATE,
            &["jobs_children (parent_job=? AND step_id=? AND flow_index=?)"],
        ),
        st("flow: children", super::flow_runs::CHILDREN, &["USING INDEX jobs_children (parent_job=?)"]),
        st("flow: due wakes", super::flow_runs::DUE_WAKES, &["USING INDEX jobs_wake"]),
        st("flow: running runs", super::flow_runs::running_sql(), &["USING INDEX jobs_running (lease_until=?)"]),
        // Job output.
        st("logs", super::outputs::chunks_sql("job_logs"), &["sqlite_autoindex_job_logs_1 (job_id=?)"]),
        st("stream", super::outputs::chunks_sql("job_stream"), &["sqlite_autoindex_job_stream_1 (job_id=?)"]),
        // Inbound webhooks.
        st("hook delete: events", super::hooks::DELETE_HOOK_ROWS[0], &["(hook_id=?)"]),
        st("hook delete: deliveries", super::hooks::DELETE_HOOK_ROWS[1], &["(hook_id=?)"]),
        st("hook purge: events", super::hooks::PURGE_EVENTS, &["USING INDEX hook_events_age"]),
        st("hook purge: deliveries", super::hooks::PURGE_DELIVERIES, &["USING INDEX hook_deliveries_age"]),
        st("idempotency key purge", super::queue::PURGE_KEYS, &["COVERING INDEX idempotency_keys_expiry"]),
        st(
            "hook: release an ended key",
            super::hooks::RELEASE_ENDED_KEY,
            &["SEARCH j USING INDEX sqlite_autoindex_jobs_1 (id=?)"],
        ),
        st("hook: waits", super::hooks::waits_sql(), &["USING INDEX hook_waits_hook (hook_id=?)"]),
        st("hook: expired waits", super::hooks::expired_waits_sql(), &["USING INDEX hook_waits_deadline"]),
        st("hook: events page", super::hooks::events_page_sql(), &["hook_events_list (hook_id=?)"]),
        st("hook: event by id", super::hooks::event_by_id_sql(), &["sqlite_autoindex_hook_events_1 (id=?)"]),
        st(
            "hook: event by event id",
            super::hooks::event_by_event_id_sql(),
            &["hook_events_event (hook_id=? AND event_id=?)"],
        ),
        // Tokens.
        st("tokens of a user", super::accounts::TOKENS_OF, &["USING INDEX tokens_owner (owner=?)"]),
        st("token delete", super::accounts::DELETE_TOKEN, &["USING INDEX tokens_owner (owner=?)"]),
        st("user delete: tokens", crate::access::DELETE_USER_ROWS[2], &["tokens_owner (owner=?)"]),
        st(
            "token touch",
            crate::shared::touch_query::<sqlx::Sqlite>(&["a".into(), "b".into()], 0).sql(),
            &["(hash=?)"],
        ),
        st("token sweep: mark", lock(n::MARK_SOON), &["USING INDEX tokens_expiry"]),
        st("token sweep: delete", lock(n::DELETE_EXPIRED), &["USING INDEX tokens_expiry"]),
        // Token notices.
        st("notice claim", lock(n::CLAIM_NOTICES), &["INDEX token_notices_due (next_attempt_at<?)"]),
        st("notice finish", lock(n::FINISH_NOTICE), &["(rowid=?)"]),
        st("notice purge", lock(n::PURGE_NOTICES), &["USING INDEX token_notices_created"]),
        st("notice list", lock(n::LIST_NOTICES), &["(rowid>?)"]),
        // The outbox.
        st("event list", n::LIST_EVENTS, &["workspace_events_workspace (workspace=? AND id>?)"]),
        st(
            "outbox claim, all workspaces",
            o::claim_sql(false, ""),
            &["workspace_events_pending (workspace=? AND id>?"],
        ),
        st("outbox claim, one workspace", o::claim_sql(true, ""), &["workspace_events_pending (workspace=?)"]),
        st("outbox finish", o::finish_sql(3), &["(rowid=?)"]),
        st("outbox release", o::RELEASE_EVENTS, &["workspace_events_pending (workspace=?)"]),
        st("outbox purge", o::PURGE_EVENTS.replace(" FOR_UPDATE", ""), &["USING INDEX workspace_events_created"]),
        st(
            "outbox purge: attempts",
            o::PURGE_ATTEMPTS,
            &["sqlite_autoindex_event_attempts_1 (event_id>? AND event_id<?)"],
        ),
        st("event log", o::EVENT_LOG, &["workspace_events_workspace (workspace=?)"]),
        st("event delivery", o::EVENT_ONE, &["(rowid=?)"]),
        st("event attempts", o::ATTEMPTS, &["sqlite_autoindex_event_attempts_1 (event_id=?)"]),
        st("replay one", o::REPLAY_ONE, &["(rowid=?)"]),
        st("replay failed", o::REPLAY_FAILED, &["workspace_events_workspace (workspace=?)"]),
    ];
    all.extend(job_lists());
    all
}

async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("plan.db").display());
    let store = SqliteStore::open(&url, &Default::default()).await.unwrap();
    (dir, store)
}

/// The detail lines of the plan of `sql` (its parameters unbound: NULL),
/// made on the write connection: EXPLAIN plans with the schema a connection
/// has cached, without checking that it is current, and the write connection
/// is the one that changed it (migrations, a dropped index).
async fn plan(store: &SqliteStore, sql: &str) -> Vec<String> {
    let text = format!("EXPLAIN QUERY PLAN {sql}");
    let rows: Vec<(i64, i64, i64, String)> =
        sqlx::query_as(&text).fetch_all(&store.write).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter().map(|r| r.3).collect()
}

/// The tables `sql` names after FROM and JOIN, by their aliases too: (name, table).
fn names(sql: &str) -> Vec<(&str, &str)> {
    const NOT_ALIAS: &[&str] = &["WHERE", "JOIN", "ON", "LEFT", "INNER", "CROSS", "ORDER", "GROUP", "LIMIT", "UNION"];
    let words: Vec<&str> =
        sql.split(|c: char| c.is_whitespace() || ",()".contains(c)).filter(|w| !w.is_empty()).collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if !(w.eq_ignore_ascii_case("FROM") || w.eq_ignore_ascii_case("JOIN")) {
            continue;
        }
        let Some(&table) = words.get(i + 1) else { continue };
        out.push((table, table));
        let mut next = i + 2;
        if words.get(next).is_some_and(|w| w.eq_ignore_ascii_case("AS")) {
            next += 1;
        }
        if let Some(&alias) = words.get(next) {
            if !NOT_ALIAS.iter().any(|k| k.eq_ignore_ascii_case(alias)) {
                out.push((alias, table));
            }
        }
    }
    out
}

/// What is wrong with the plan `lines` of `s`: scans of large tables not
/// accepted, and lines it must show that it does not.
fn problems(s: &Statement, lines: &[String]) -> Vec<String> {
    let names = names(&s.sql);
    let mut out = Vec::new();
    for line in lines {
        let Some(object) = line.strip_prefix("SCAN ").and_then(|rest| rest.split(' ').next()) else { continue };
        let large = LARGE.contains(&object) || names.iter().any(|(n, t)| *n == object && LARGE.contains(t));
        let accepted = ACCEPTED.iter().any(|(name, l, _)| *name == s.name && l == line);
        if large && !accepted {
            out.push(format!("reads a whole large table: {line}"));
        }
    }
    for want in &s.uses {
        if !lines.iter().any(|l| l.contains(want)) {
            out.push(format!("no line shows '{want}'"));
        }
    }
    out
}

#[tokio::test]
async fn no_statement_reads_a_whole_large_table_where_an_index_serves() {
    let (_dir, store) = store().await;
    let mut failures = Vec::new();
    for s in statements() {
        let lines = plan(&store, &s.sql).await;
        for p in problems(&s, &lines) {
            failures.push(format!("{}: {p}\n    {}\n    plan: {lines:?}", s.name, s.sql));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn every_accepted_scan_is_still_in_its_plan() {
    let (_dir, store) = store().await;
    let all = statements();
    for (name, line, _) in ACCEPTED {
        let s = all.iter().find(|s| s.name == *name).unwrap_or_else(|| panic!("no statement '{name}'"));
        assert!(plan(&store, &s.sql).await.iter().any(|l| l == line), "{name} no longer plans '{line}'");
    }
}

/// The statements these checks replaced, and the check that sees each one's fault.
#[tokio::test]
async fn the_check_sees_the_plans_it_guards_against() {
    let (_dir, store) = store().await;
    let columns = crate::rows::HOOK_EVENT_COLUMNS;
    let ws = WorkspaceId::parse("ws").unwrap();
    let parent = JobFilter { parent_job: Some(JobId::new()), ..Default::default() };
    let list = crate::shared::jobs_query::<sqlx::Sqlite>(&ws, &parent).sql().replace("workspace || ''", "workspace");
    let by_id = crate::notices::CLAIM_NOTICES.replace("ORDER BY +id", "ORDER BY id");
    let old = [
        // A flow run's tree joined back to jobs: a scan of every job.
        st(
            "flow: a run's tree",
            "WITH RECURSIVE tree(id) AS (SELECT ? UNION ALL SELECT j.id FROM jobs j JOIN tree t ON j.parent_job = t.id) \
             SELECT j.id, j.status, j.kind FROM jobs j JOIN tree t ON j.id = t.id",
            &[],
        ),
        // The ended runs as a list: every ended job read into it.
        st(
            "hook: release an ended key",
            "DELETE FROM idempotency_keys WHERE workspace = ? AND runnable = ? AND key = ? \
             AND job_id IN (SELECT id FROM jobs WHERE status IN ('success', 'failure', 'canceled'))",
            &[],
        ),
        // Due notices in id order: a walk of every notice.
        st("notice claim", crate::notices::with_lock(&by_id, ""), &[]),
        // By id or event id in one statement: every event of the hook.
        st(
            "hook: event by id",
            format!(
                "SELECT {columns} FROM hook_events WHERE hook_id = ?1 AND (id = ?2 OR event_id = ?2) \
                 ORDER BY id = ?2 DESC, id DESC LIMIT 1"
            ),
            &["sqlite_autoindex_hook_events_1 (id=?)"],
        ),
        // A parent's jobs through the workspace's list index: every job of the workspace.
        st("job list, parent", list, &["USING INDEX jobs_children (parent_job=?)"]),
    ];
    for s in &old {
        let lines = plan(&store, &s.sql).await;
        assert!(!problems(s, &lines).is_empty(), "{}: the check passes the old plan {lines:?}", s.name);
    }
    // The deliveries purge before their age index.
    sqlx::query("DROP INDEX hook_deliveries_age").execute(&store.write).await.unwrap();
    let purge = st("hook purge: deliveries", super::hooks::PURGE_DELIVERIES, &[]);
    let lines = plan(&store, &purge.sql).await;
    assert!(problems(&purge, &lines).iter().any(|p| p.contains("SCAN hook_deliveries")), "{lines:?}");
}

#[test]
fn aliases_lead_to_their_tables() {
    let sql = "SELECT x FROM tree t JOIN jobs AS j ON j.id = t.id WHERE j.id IN (SELECT id FROM hook_waits)";
    assert_eq!(
        names(sql),
        [("tree", "tree"), ("t", "tree"), ("jobs", "jobs"), ("j", "jobs"), ("hook_waits", "hook_waits")]
    );
}
