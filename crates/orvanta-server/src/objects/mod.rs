//! The workspace object storage: where uploaded files and non-UTF-8 bodies go.
//!
//! A local folder by default (`{data_dir}/objects`); any S3-compatible store
//! when configured. Keys are relative to a workspace (`{"s3": "<key>"}` in a
//! job's arguments); the store keeps each workspace under its own prefix.

mod local;
mod s3;

pub use local::LocalObjects;
pub use s3::S3Objects;

use async_trait::async_trait;
use axum::body::Bytes;
use orvanta_core::WorkspaceId;

/// What can go wrong with object storage.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The store cannot be reached or refused the operation; `store` names it.
    #[error("the object store {store} is unavailable: {cause}")]
    Unavailable { store: String, cause: String },
    /// The key is not acceptable (empty, `..`, absolute, a segment too long).
    #[error("{0}")]
    InvalidKey(String),
    /// The key clashes with what the store holds (a file where a folder is
    /// needed, or the reverse); the message names the key, never a server path.
    #[error("{0}")]
    Conflict(String),
}

/// An object: its bytes and content type, if one was recorded.
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Bytes,
    pub content_type: Option<String>,
}

/// One workspace-aware object store.
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// A short description for messages, e.g. `local folder /data/objects` or `S3 bucket b at http://...`.
    fn describe(&self) -> String;
    async fn put(&self, ws: &WorkspaceId, key: &str, object: Object) -> Result<(), ObjectError>;
    async fn get(&self, ws: &WorkspaceId, key: &str) -> Result<Option<Object>, ObjectError>;
}

/// The object store the configuration names: S3-compatible when
/// `s3_bucket` is set, else the local folder `{data_dir}/objects`.
pub fn from_config(cfg: &crate::cfg::Config) -> Result<std::sync::Arc<dyn ObjectStore>, crate::cfg::ConfigError> {
    Ok(match &cfg.storage.s3_bucket {
        Some(bucket) => std::sync::Arc::new(S3Objects::new(cfg, bucket)?),
        None => std::sync::Arc::new(LocalObjects::new(cfg.storage.data_dir.join("objects"))),
    })
}

impl From<ObjectError> for crate::error::ApiError {
    fn from(e: ObjectError) -> Self {
        match e {
            // The store is named (endpoint and bucket, or folder) so that an
            // operator knows what to fix; the cause goes to the log only.
            ObjectError::Unavailable { store, cause } => {
                tracing::warn!(%store, %cause, "object store unavailable");
                Self::Unavailable(format!(
                    "the workspace object storage ({store}) could not be reached; the request was not carried out, try again shortly"
                ))
            }
            ObjectError::InvalidKey(m) => Self::BadRequest(m),
            ObjectError::Conflict(m) => Self::Conflict(m),
        }
    }
}

/// The longest segment of a key: a Linux file name (255 bytes) less room for
/// the local store's `.orvanta-meta` companion file.
pub const MAX_SEGMENT_BYTES: usize = 240;

/// Checks a key: relative, `/`-separated, no empty, `.` or `..` segment,
/// no segment over [`MAX_SEGMENT_BYTES`].
pub fn check_key(key: &str) -> Result<(), ObjectError> {
    if let Some(long) = key.split('/').find(|s| s.len() > MAX_SEGMENT_BYTES) {
        return Err(ObjectError::InvalidKey(format!(
            "the object key has a segment of {} bytes ('{}...'); each '/'-separated segment may have at most {MAX_SEGMENT_BYTES}",
            long.len(),
            long.chars().take(20).collect::<String>()
        )));
    }
    let bad = key.is_empty()
        || key.len() > 1024
        || key.starts_with('/')
        || key.split('/').any(|s| s.is_empty() || s == "." || s == "..")
        || key.chars().any(|c| c.is_control() || c == '\\')
        // The local store keeps each object's content type beside it under this suffix.
        || key.ends_with(local::META_SUFFIX);
    if bad {
        return Err(ObjectError::InvalidKey(format!(
            "the object key '{key}' is not valid: use a relative path like uploads/report.csv (no '..', no leading '/')"
        )));
    }
    Ok(())
}

/// A fresh key for an upload: `uploads/{uuid}/{name}` (the name sanitized).
pub fn upload_key(name: &str) -> String {
    let clean: String = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .collect();
    let clean = clean.trim_matches('.');
    // Sanitized to ASCII, so any byte is a character boundary.
    let clean = &clean[..clean.len().min(MAX_SEGMENT_BYTES - 1)];
    let clean = if clean.is_empty() { "file" } else { clean };
    let tail = if clean.ends_with(local::META_SUFFIX) { "_" } else { "" };
    format!("uploads/{}/{clean}{tail}", uuid::Uuid::now_v7())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(check_key("uploads/a/b.txt").is_ok());
        let long = format!("a/{}", "x".repeat(256));
        for bad in ["", "/abs", "a/../b", "a//b", "./a", "a/b.txt.orvanta-meta", &long] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
        let k = upload_key("../../etc/pass wd");
        assert!(k.starts_with("uploads/") && k.ends_with("/pass_wd"), "{k}");
        assert!(check_key(&k).is_ok());
        assert!(check_key(&upload_key("x.orvanta-meta")).is_ok());
        assert!(check_key(&upload_key(&"n".repeat(1000))).is_ok());
    }
}
