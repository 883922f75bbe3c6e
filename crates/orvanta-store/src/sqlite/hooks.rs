//! Inbound webhook definitions and their history on SQLite.

use super::trip::Guard;
use super::SqliteStore;
use crate::rows::{convert, HookEventRow, HookRow, HookWaitRow, HOOK_COLUMNS, HOOK_EVENT_COLUMNS, HOOK_WAIT_COLUMNS};
use crate::{Hook, HookEvent, HookRecord, HookRecorded, HookWait, JobEvent, Result};
use async_trait::async_trait;
use orvanta_core::{JobId, Millis, NewJob, WorkspaceId};

/// Event records per multi-row insert (16 values each, under both databases' limits).
const EVENTS_PER_INSERT: usize = 64;

/// What goes with a deleted hook.
pub(super) const DELETE_HOOK_ROWS: [&str; 2] =
    ["DELETE FROM hook_events WHERE hook_id = ?", "DELETE FROM hook_deliveries WHERE hook_id = ?"];
/// The inbound history past its keeping time: the events, and the delivery ids acted on.
pub(super) const PURGE_EVENTS: &str = "DELETE FROM hook_events WHERE received_at < ?";
pub(super) const PURGE_DELIVERIES: &str = "DELETE FROM hook_deliveries WHERE received_at < ?";
/// Frees an idempotency key whose run ended. The run is looked up by its id:
/// as `job_id IN (SELECT id FROM jobs WHERE status IN ...)`, SQLite 3.46
/// read every ended job into a list first.
pub(super) const RELEASE_ENDED_KEY: &str = "DELETE FROM idempotency_keys WHERE workspace = ? AND runnable = ? \
     AND key = ? AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = idempotency_keys.job_id \
     AND j.status IN ('success', 'failure', 'canceled'))";

/// The waits of a hook, oldest first.
pub(super) fn waits_sql() -> String {
    format!("SELECT {HOOK_WAIT_COLUMNS} FROM hook_waits WHERE hook_id = ? ORDER BY created_at")
}

/// The waits whose deadline came, soonest first.
pub(super) fn expired_waits_sql() -> String {
    format!(
        "SELECT {HOOK_WAIT_COLUMNS} FROM hook_waits WHERE deadline IS NOT NULL AND deadline <= ? \
         ORDER BY deadline LIMIT ?"
    )
}

/// A page of a hook's events, newest first, before `?2` if given.
pub(super) fn events_page_sql() -> String {
    format!(
        "SELECT {HOOK_EVENT_COLUMNS} FROM hook_events WHERE hook_id = ?1 AND (?2 IS NULL OR id < ?2) \
         ORDER BY id DESC LIMIT ?3"
    )
}

/// A hook's event by its id; [`event_by_event_id_sql`] is the next try.
/// Two lookups, each through its own index: as one statement
/// (`id = ? OR event_id = ?`), SQLite 3.46 read every event of the hook.
pub(super) fn event_by_id_sql() -> String {
    format!("SELECT {HOOK_EVENT_COLUMNS} FROM hook_events WHERE hook_id = ? AND id = ?")
}

/// The newest of a hook's events with this platform event id. Sorted as
/// `+id`: ordered by `id` itself, SQLite 3.46 walked the hook's events
/// newest first through the list index until one had the event id.
pub(super) fn event_by_event_id_sql() -> String {
    format!("SELECT {HOOK_EVENT_COLUMNS} FROM hook_events WHERE hook_id = ? AND event_id = ? ORDER BY +id DESC LIMIT 1")
}

/// Binds an event record's values, in the order of [`HOOK_EVENT_COLUMNS`],
/// on a query or a trip: `$fresh` false records it as a duplicate delivery,
/// `$enq` are the ids its jobs were enqueued as.
macro_rules! bind_event {
    ($q:expr, $r:expr, $fresh:expr, $enq:expr) => {{
        let r: &HookRecord = $r;
        let e = &r.event;
        let (body, format) = crate::packed::pack_body(&e.body);
        let (outcome, reason) = if $fresh {
            (e.outcome.clone(), e.reason.clone())
        } else {
            ("duplicate".to_owned(), Some(crate::shared::duplicate_reason(r.delivery.as_deref())))
        };
        $q.bind(e.id.clone())
            .bind(e.hook_id.clone())
            .bind(e.workspace.as_str().to_owned())
            .bind(e.event_id.clone())
            .bind(e.received_at)
            .bind(outcome)
            .bind(reason)
            .bind(e.headers_matched)
            .bind(e.method.clone())
            .bind(e.query.clone())
            .bind(e.headers.to_string())
            .bind(body)
            .bind(crate::shared::hook_jobs_json(&e.jobs, &r.jobs, $enq).to_string())
            .bind(e.waits.to_string())
            .bind(e.replay_of.clone())
            .bind(format)
    }};
}

#[async_trait]
impl crate::HookStore for SqliteStore {
    async fn create_hook(&self, h: &Hook) -> Result<()> {
        sqlx::query(
            "INSERT INTO hooks (id, workspace, name, config, url_verified, created_by, created_at, updated_at, edited_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&h.id)
        .bind(h.workspace.as_str())
        .bind(&h.name)
        .bind(h.config.to_string())
        .bind(h.url_verified)
        .bind(h.created_by.as_str())
        .bind(h.created_at)
        .bind(h.updated_at)
        .bind(h.edited_by.as_str())
        .execute(&self.write)
        .await
        .map_err(|e| crate::shared::conflict_as(e, crate::shared::hook_name_taken(h)))?;
        Ok(())
    }

    async fn get_hook(&self, id: &str) -> Result<Option<Hook>> {
        let row: Option<HookRow> = sqlx::query_as(&format!("SELECT {HOOK_COLUMNS} FROM hooks WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        row.map(Hook::try_from).transpose()
    }

    async fn list_hooks(&self, ws: &WorkspaceId) -> Result<Vec<Hook>> {
        let rows: Vec<HookRow> =
            sqlx::query_as(&format!("SELECT {HOOK_COLUMNS} FROM hooks WHERE workspace = ? ORDER BY name"))
                .bind(ws.as_str())
                .fetch_all(&self.read)
                .await?;
        convert(rows)
    }

    async fn update_hook(&self, h: &Hook) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE hooks SET name = ?, config = ?, updated_at = ?, edited_by = ? WHERE id = ? AND workspace = ?",
        )
        .bind(&h.name)
        .bind(h.config.to_string())
        .bind(h.updated_at)
        .bind(h.edited_by.as_str())
        .bind(&h.id)
        .bind(h.workspace.as_str())
        .execute(&self.write)
        .await
        .map_err(|e| crate::shared::conflict_as(e, crate::shared::hook_name_taken(h)))?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_hook(&self, ws: &WorkspaceId, id: &str) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query("DELETE FROM hooks WHERE id = ? AND workspace = ?")
            .bind(id)
            .bind(ws.as_str())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 1 {
            for sql in DELETE_HOOK_ROWS {
                sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_hook_verified(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE hooks SET url_verified = 1 WHERE id = ? AND url_verified = 0")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn record_hook_events(&self, events: &[HookRecord]) -> Result<Vec<HookRecorded>> {
        let answers = match record_in_one_trip(&self.lane, events).await? {
            Some(answers) => answers,
            None => record_step_by_step(&self.lane, events).await?,
        };
        if answers.iter().any(|a| matches!(a, HookRecorded::New(jobs, _) if !jobs.is_empty())) {
            self.publish(JobEvent::Enqueued);
        }
        Ok(answers)
    }

    async fn list_hook_events(&self, hook_id: &str, before: Option<&str>, limit: i64) -> Result<Vec<HookEvent>> {
        let rows: Vec<HookEventRow> =
            sqlx::query_as(&events_page_sql()).bind(hook_id).bind(before).bind(limit).fetch_all(&self.read).await?;
        convert(rows)
    }

    async fn get_hook_event(&self, hook_id: &str, id: &str) -> Result<Option<HookEvent>> {
        let mut row: Option<HookEventRow> =
            sqlx::query_as(&event_by_id_sql()).bind(hook_id).bind(id).fetch_optional(&self.read).await?;
        if row.is_none() {
            row = sqlx::query_as(&event_by_event_id_sql()).bind(hook_id).bind(id).fetch_optional(&self.read).await?;
        }
        row.map(HookEvent::try_from).transpose()
    }

    async fn purge_hook_events(&self, before: Millis) -> Result<u64> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(PURGE_EVENTS).bind(before).execute(&mut *tx).await?;
        sqlx::query(PURGE_DELIVERIES).bind(before).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn set_hook_event_waits(&self, id: &str, waits: &serde_json::Value) -> Result<()> {
        sqlx::query("UPDATE hook_events SET waits = ? WHERE id = ?")
            .bind(waits.to_string())
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn hook_waits(&self, hook_id: &str) -> Result<Vec<HookWait>> {
        let rows: Vec<HookWaitRow> = sqlx::query_as(&waits_sql()).bind(hook_id).fetch_all(&self.read).await?;
        convert(rows)
    }

    async fn expired_hook_waits(&self, now: Millis, limit: i64) -> Result<Vec<HookWait>> {
        let rows: Vec<HookWaitRow> =
            sqlx::query_as(&expired_waits_sql()).bind(now).bind(limit).fetch_all(&self.read).await?;
        convert(rows)
    }

    async fn take_hook_wait(&self, job: JobId) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM hook_waits WHERE job_id = ?").bind(job.to_string()).execute(&self.write).await?;
        Ok(done.rows_affected() == 1)
    }
}

/// What a statement of a one-trip record is.
#[derive(Clone, Copy)]
enum Part {
    /// The waits of the batch's `i`th hook.
    Waits(usize),
    Other,
}

/// Most values one trip binds (SQLite allows 32,766).
const TRIP_VALUES: usize = 30_000;

/// Records a batch in one round trip to the write connection, when nothing
/// in it needs a read first: no idempotency key to look up or free, no
/// delivery id twice. The delivery ids and the jobs are inserted under
/// guards: if a delivery was acted on before (a platform's retry) or a job
/// id is taken, nothing is written and `None` sends the batch the step by
/// step way, which records the retry as a duplicate. The waits are read in
/// the same transaction, so a step that began waiting before the event
/// committed is woken by it.
async fn record_in_one_trip(lane: &super::lane::Lane, events: &[HookRecord]) -> Result<Option<Vec<HookRecorded>>> {
    use sqlx::FromRow;
    let keyed =
        |r: &HookRecord| r.release_ended_keys.iter().any(|k| *k) || r.jobs.iter().any(|j| j.idempotency_key.is_some());
    let deliveries: Vec<&HookRecord> = events.iter().filter(|r| r.delivery.is_some()).collect();
    let distinct: std::collections::HashSet<(&str, &str)> =
        deliveries.iter().map(|r| (r.event.hook_id.as_str(), r.delivery.as_deref().unwrap_or_default())).collect();
    let jobs: Vec<&NewJob> = events.iter().flat_map(|r| r.jobs.iter()).collect();
    let values = 3 * deliveries.len() + crate::shared::NEW_JOB_VALUES * jobs.len() + 16 * events.len();
    if events.is_empty() || events.iter().any(keyed) || distinct.len() < deliveries.len() || values > TRIP_VALUES {
        return Ok(None);
    }
    let mut t = super::trip::Trip::begin();
    if !deliveries.is_empty() {
        let rows = vec!["(?, ?, ?)"; deliveries.len()].join(", ");
        t = t.statement(
            Part::Other,
            &format!(
                "INSERT INTO hook_deliveries (hook_id, delivery_id, received_at) VALUES {rows} ON CONFLICT DO NOTHING"
            ),
        );
        for r in &deliveries {
            t = t.bind(r.event.hook_id.clone()).bind(r.delivery.clone()).bind(r.event.received_at);
        }
        t = t.guard_count(Guard::Conflict, deliveries.len());
    }
    for chunk in jobs.chunks(super::queue::INSERT_CHUNK) {
        t = t.statement(Part::Other, &super::queue::insert_jobs_sql(chunk.len()));
        for job in chunk {
            t = crate::shared::bind_new_job!(t, job, crate::packed::pack);
        }
        t = t.guard_count(Guard::Conflict, chunk.len());
    }
    let created: Vec<Vec<crate::Enqueued>> =
        events.iter().map(|r| r.jobs.iter().map(|j| crate::Enqueued::Created(j.id)).collect()).collect();
    for chunk in events.iter().zip(&created).collect::<Vec<_>>().chunks(EVENTS_PER_INSERT) {
        t = t.statement(Part::Other, &events_insert_sql(chunk.len()));
        for (r, enq) in chunk {
            t = bind_event!(t, r, true, enq);
        }
    }
    let mut hooks: Vec<&str> = Vec::new();
    for r in events {
        if !hooks.contains(&r.event.hook_id.as_str()) {
            t = t.statement(Part::Waits(hooks.len()), &waits_sql()).bind(r.event.hook_id.clone());
            hooks.push(&r.event.hook_id);
        }
    }
    let answers = match t.commit(lane).await {
        Ok(answers) => answers,
        Err(e) if Guard::failed(&e) == Some(Guard::Conflict) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // Committed: from here on nothing may fail the batch (its events would
    // be recorded again), so a wait that cannot be read is left out.
    let mut waits: Vec<Vec<HookWait>> = vec![Vec::new(); hooks.len()];
    for a in answers {
        if let Part::Waits(i) = a.part {
            waits[i] = readable_waits(a.rows.iter().map(|r| HookWaitRow::from_row(r).map_err(Into::into)));
        }
    }
    Ok(Some(
        events
            .iter()
            .zip(created)
            .map(|(r, enq)| {
                let of_hook = hooks.iter().position(|h| *h == r.event.hook_id).map(|i| waits[i].clone());
                HookRecorded::New(enq, of_hook.unwrap_or_default())
            })
            .collect(),
    ))
}

/// Records a batch in one transaction, statement by statement: what
/// [`record_in_one_trip`] leaves (idempotency keys, delivery ids seen before).
async fn record_step_by_step(lane: &super::lane::Lane, events: &[HookRecord]) -> Result<Vec<HookRecorded>> {
    let mut turn = lane.turn().await?;
    let mut tx = sqlx::Connection::begin(&mut *turn).await?;
    // Which events act: those whose delivery id was not acted on before
    // (nor earlier in this batch).
    let mut fresh = Vec::with_capacity(events.len());
    for r in events {
        let new = match &r.delivery {
            None => true,
            Some(d) => {
                sqlx::query(
                    "INSERT INTO hook_deliveries (hook_id, delivery_id, received_at) VALUES (?, ?, ?) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&r.event.hook_id)
                .bind(d)
                .bind(r.event.received_at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1
            }
        };
        fresh.push(new);
    }
    for (r, _) in events.iter().zip(&fresh).filter(|(_, f)| **f) {
        for (job, _) in r.jobs.iter().zip(&r.release_ended_keys).filter(|(_, release)| **release) {
            release_ended_key(&mut tx, job).await?;
        }
    }
    // The jobs of every acting event in one enqueue (multi-row inserts).
    let refs: Vec<&NewJob> = events.iter().zip(&fresh).filter(|(_, f)| **f).flat_map(|(r, _)| r.jobs.iter()).collect();
    let mut enqueued = super::queue::enqueue_in(&mut tx, &refs).await?.into_iter();
    let mut per_event: Vec<Vec<crate::Enqueued>> = Vec::with_capacity(events.len());
    for (r, f) in events.iter().zip(&fresh) {
        per_event.push(if *f { enqueued.by_ref().take(r.jobs.len()).collect() } else { Vec::new() });
    }
    // The records, many rows per statement.
    for chunk in events.iter().zip(&fresh).zip(&per_event).collect::<Vec<_>>().chunks(EVENTS_PER_INSERT) {
        let sql = events_insert_sql(chunk.len());
        let mut q = sqlx::query(&sql);
        for ((r, f), enq) in chunk {
            q = bind_event!(q, r, **f, enq);
        }
        q.execute(&mut *tx).await?;
    }
    // The waits as this transaction sees them: one read per hook and batch.
    let mut waits: Vec<(String, Vec<HookWait>)> = Vec::new();
    let mut answers = Vec::with_capacity(events.len());
    for ((r, f), enq) in events.iter().zip(&fresh).zip(per_event) {
        if !*f {
            answers.push(HookRecorded::Duplicate);
            continue;
        }
        let hook = &r.event.hook_id;
        if !waits.iter().any(|(h, _)| h == hook) {
            let rows: Vec<HookWaitRow> = sqlx::query_as(&waits_sql()).bind(hook).fetch_all(&mut *tx).await?;
            waits.push((hook.clone(), readable_waits(rows.into_iter().map(Ok))));
        }
        let of_hook = waits.iter().find(|(h, _)| h == hook).map(|(_, w)| w.clone()).unwrap_or_default();
        answers.push(HookRecorded::New(enq, of_hook));
    }
    tx.commit().await?;
    Ok(answers)
}

/// The waits that can be read; one that cannot is logged and left out (it
/// ends at its deadline, or waits), so that it does not fail every event of
/// its hook.
fn readable_waits(rows: impl Iterator<Item = Result<HookWaitRow>>) -> Vec<HookWait> {
    rows.filter_map(|r| match r.and_then(HookWait::try_from) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::error!(error = %e, "a step waiting for an inbound webhook cannot be read; it is not woken");
            None
        }
    })
    .collect()
}

/// The insert of `n` event records.
fn events_insert_sql(n: usize) -> String {
    let row = format!("({})", vec!["?"; 16].join(", "));
    format!("INSERT INTO hook_events ({HOOK_EVENT_COLUMNS}) VALUES {}", vec![row; n].join(", "))
}

/// Frees `job`'s idempotency key when the run holding it has ended, so that
/// enqueuing `job` starts a new run; a queued or running holder keeps it.
async fn release_ended_key(tx: &mut sqlx::SqliteConnection, job: &NewJob) -> Result<()> {
    let Some(key) = &job.idempotency_key else { return Ok(()) };
    sqlx::query(RELEASE_ENDED_KEY)
        .bind(job.workspace.as_str())
        .bind(crate::rows::runnable_key(job))
        .bind(key)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
