//! The store's one error type.

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness or precondition failed; the message says which.
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be reached right now (connection, pool timeout).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The store was configured wrong (bad URL, unreadable file).
    #[error("{0}")]
    Config(String),
    /// A value the database cannot hold (text with a NUL character in
    /// PostgreSQL); the caller sent it, so it is the caller's to fix.
    #[error("{0}")]
    Invalid(String),
    /// Stored data that does not parse: a bug or a hand-edited database.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Anything else from the driver; logged, never shown to clients.
    #[error("database error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                tracing::debug!(cause = db.message(), "unique violation");
                StoreError::Conflict("an object with the same identity exists already".to_owned())
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                tracing::debug!(cause = db.message(), "foreign key violation");
                StoreError::Conflict("the object refers to a workspace, user or job that does not exist".to_owned())
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            // 22021: invalid byte sequence (a NUL in text); 22P05: untranslatable character.
            sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("22021" | "22P05")) => {
                StoreError::Invalid(format!("a text value cannot be stored: {}; remove NUL characters", db.message()))
            }
            sqlx::Error::Database(db) if is_connection_class(db.code().as_deref()) => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Internal(e.to_string()),
        }
    }
}

/// PostgreSQL SQLSTATE classes 08 (connection) and 57P (operator intervention: shutdown).
fn is_connection_class(code: Option<&str>) -> bool {
    code.is_some_and(|c| c.starts_with("08") || c.starts_with("57P"))
}

impl From<orvanta_core::ParseError> for StoreError {
    fn from(e: orvanta_core::ParseError) -> Self {
        StoreError::Corrupt(e.0)
    }
}
