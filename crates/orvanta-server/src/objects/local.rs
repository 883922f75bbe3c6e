//! Object storage in a local folder: `{root}/{workspace}/{key}`, with the
//! content type beside it in `{key}.orvanta-meta`.

use super::{check_key, Object, ObjectError, ObjectStore};
use async_trait::async_trait;
use orvanta_core::WorkspaceId;
use std::path::PathBuf;

/// A local folder as object storage.
pub struct LocalObjects {
    root: PathBuf,
}

impl LocalObjects {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn path(&self, ws: &WorkspaceId, key: &str) -> Result<PathBuf, ObjectError> {
        check_key(key)?;
        Ok(self.root.join(ws.as_str()).join(key))
    }

    fn unavailable(&self, e: std::io::Error) -> ObjectError {
        ObjectError::Unavailable { store: self.describe(), cause: e.to_string() }
    }
}

/// The suffix of the file that holds an object's content type.
pub(crate) const META_SUFFIX: &str = ".orvanta-meta";
const META: &str = META_SUFFIX;

#[async_trait]
impl ObjectStore for LocalObjects {
    fn describe(&self) -> String {
        format!("local folder {}", self.root.display())
    }

    async fn put(&self, ws: &WorkspaceId, key: &str, object: Object) -> Result<(), ObjectError> {
        let path = self.path(ws, key)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(|e| self.unavailable(e))?;
        }
        // Write then rename, so a reader never sees half a file.
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&tmp, &object.bytes).await.map_err(|e| self.unavailable(e))?;
        tokio::fs::rename(&tmp, &path).await.map_err(|e| self.unavailable(e))?;
        let meta = path.with_file_name(format!("{}{META}", file_name(&path)));
        match object.content_type {
            Some(ct) => tokio::fs::write(&meta, ct).await.map_err(|e| self.unavailable(e))?,
            None => {
                let _ = tokio::fs::remove_file(&meta).await;
            }
        }
        Ok(())
    }

    async fn get(&self, ws: &WorkspaceId, key: &str) -> Result<Option<Object>, ObjectError> {
        let path = self.path(ws, key)?;
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.unavailable(e)),
        };
        let meta = path.with_file_name(format!("{}{META}", file_name(&path)));
        let content_type = tokio::fs::read_to_string(&meta).await.ok();
        Ok(Some(Object { bytes: bytes.into(), content_type }))
    }
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
