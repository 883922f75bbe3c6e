//! Transactions sent to the write connection in one round trip.
//!
//! Each statement sent on its own costs two thread switches (sqlx runs a
//! connection on a thread of its own) and holds the one write connection
//! across them, so a transaction of many statements keeps every other writer
//! waiting for as many switches. A [`Trip`] sends `BEGIN IMMEDIATE`, its
//! statements and `COMMIT` as one multi-statement query.
//!
//! A condition that must hold for the rest to be written (the job is still
//! this worker's, the flow run is still at the state it was read at) is a
//! guard: `INSERT INTO commit_guard` of the previous statement's change count,
//! which aborts the query when that count is not 1 (the view and its
//! triggers are migration 0018). What was begun is then rolled back.

use super::lane::Lane;
use sqlx::sqlite::{SqliteArguments, SqliteQueryResult, SqliteRow};
use sqlx::{Arguments, Either};

/// What a guard protects, and so what its failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Guard {
    /// The finished job is no longer this worker's.
    Lost,
    /// A flow run changed since it was read; or a batch met what it
    /// cannot write blind (a delivery id seen before, a job id taken), and
    /// goes the way that reads first.
    Conflict,
}

impl Guard {
    fn name(self) -> &'static str {
        match self {
            Guard::Lost => "lost",
            Guard::Conflict => "conflict",
        }
    }

    /// The guard whose failure `e` is, if it is one.
    pub(super) fn failed(e: &sqlx::Error) -> Option<Guard> {
        let sqlx::Error::Database(db) = e else { return None };
        let what = db.message().strip_prefix("orvanta guard: ")?;
        [Guard::Lost, Guard::Conflict].into_iter().find(|g| g.name() == what)
    }
}

/// A transaction being built: its statements, their arguments (bound in
/// order, `?` by `?`), and what each statement is, `P`, for reading the answers.
pub(super) struct Trip<P> {
    sql: String,
    args: SqliteArguments<'static>,
    parts: Vec<Option<P>>,
    /// The first argument that could not be encoded.
    bad: Option<String>,
}

/// The answer of one statement of a [`Trip`].
pub(super) struct Answer<P> {
    pub part: P,
    pub rows_affected: u64,
    pub rows: Vec<SqliteRow>,
}

impl<P: Copy> Trip<P> {
    pub fn begin() -> Self {
        Self { sql: "BEGIN IMMEDIATE;\n".to_owned(), args: SqliteArguments::default(), parts: vec![None], bad: None }
    }

    /// Adds a statement, whose answer comes back as `part`; its arguments follow.
    pub fn statement(mut self, part: P, sql: &str) -> Self {
        self.push(Some(part), sql);
        self
    }

    /// Aborts the transaction unless the statement before changed exactly one row.
    pub fn guard(self, guard: Guard) -> Self {
        self.guard_count(guard, 1)
    }

    /// Aborts the transaction unless the statement before changed exactly `n` rows.
    pub fn guard_count(mut self, guard: Guard, n: usize) -> Self {
        let sql = format!("INSERT INTO commit_guard (what, ok) VALUES ('{}', changes() = {n})", guard.name());
        self.push(None, &sql);
        self
    }

    /// Binds the next `?`.
    pub fn bind<T>(mut self, value: T) -> Self
    where
        T: 'static + Send + sqlx::Encode<'static, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    {
        if let Err(e) = self.args.add(value) {
            self.bad.get_or_insert(e.to_string());
        }
        self
    }

    fn push(&mut self, part: Option<P>, sql: &str) {
        self.sql.push_str(sql);
        self.sql.push_str(";\n");
        self.parts.push(part);
    }

    /// Commits: the answers of the statements added, in order; a failed
    /// guard is an error that [`Guard::failed`] names.
    pub async fn commit(mut self, lane: &Lane) -> Result<Vec<Answer<P>>, sqlx::Error> {
        if let Some(bad) = self.bad {
            return Err(sqlx::Error::Encode(bad.into()));
        }
        self.push(None, "COMMIT");
        let answers = in_one_round_trip(lane, sqlx::query_with(&self.sql, self.args)).await?;
        // A statement's rows come before its result; each statement has one.
        let mut out = Vec::new();
        let mut parts = self.parts.into_iter();
        let mut rows = Vec::new();
        for answer in answers {
            match answer {
                Either::Right(row) => rows.push(row),
                Either::Left(done) => {
                    let Some(part) = parts.next() else { break };
                    let rows = std::mem::take(&mut rows);
                    if let Some(part) = part {
                        out.push(Answer { part, rows_affected: done.rows_affected(), rows });
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Runs a query of several statements that begins a transaction and
/// commits it, in one round trip, in a turn of the write lane. If a
/// statement fails, the transaction is rolled back before the turn ends; if
/// the caller stops waiting part way, the connection is closed instead
/// (SQLite rolls back what it began): sqlx does not know of a transaction
/// begun by a statement, and the next user of the one write connection
/// would write into it.
pub(super) async fn in_one_round_trip<'q>(
    lane: &Lane,
    q: sqlx::query::Query<'q, sqlx::Sqlite, SqliteArguments<'q>>,
) -> Result<Vec<Either<SqliteQueryResult, SqliteRow>>, sqlx::Error> {
    use futures::TryStreamExt;
    use sqlx::Executor;
    let mut turn = lane.turn().await?;
    turn.settled = false;
    let answers: Result<Vec<_>, sqlx::Error> = turn.fetch_many(q).try_collect().await;
    // After a failed statement, the transaction it left is ended; if that
    // fails too (none began, or it cannot end), the connection goes with it.
    turn.settled = answers.is_ok() || turn.execute("ROLLBACK").await.is_ok();
    answers
}
