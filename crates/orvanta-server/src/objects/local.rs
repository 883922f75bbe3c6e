//! Object storage in a local folder: `{root}/{workspace}/{key}`, with the
//! content type beside it in `{key}.orvanta-meta`.

use super::{check_key, Object, ObjectError, ObjectStore};
use async_trait::async_trait;
use orvanta_core::WorkspaceId;
use std::io::ErrorKind::{IsADirectory, NotADirectory, NotFound};
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

    /// An I/O error as the client may see it: what the key clashes with, or
    /// an unavailable store; the folder's path goes to the log only.
    fn failed(&self, key: &str, e: std::io::Error) -> ObjectError {
        use std::io::ErrorKind::*;
        match e.kind() {
            NotADirectory | AlreadyExists => ObjectError::Conflict(format!(
                "the object key '{key}' passes through an existing file: a file cannot also be a folder; choose another key"
            )),
            IsADirectory | DirectoryNotEmpty => ObjectError::Conflict(format!(
                "the object key '{key}' names a folder of other objects; choose another key"
            )),
            InvalidFilename => ObjectError::InvalidKey(format!("the object key '{key}' is not a valid file name")),
            _ => ObjectError::Unavailable {
                store: self.describe(),
                cause: format!("{} under {}: {e}", key, self.root.display()),
            },
        }
    }
}

/// The suffix of the file that holds an object's content type.
pub(crate) const META_SUFFIX: &str = ".orvanta-meta";
const META: &str = META_SUFFIX;

#[async_trait]
impl ObjectStore for LocalObjects {
    fn describe(&self) -> String {
        // Clients see this: the folder is named by its setting, not its path.
        "local folder {data_dir}/objects".into()
    }

    async fn put(&self, ws: &WorkspaceId, key: &str, object: Object) -> Result<(), ObjectError> {
        let path = self.path(ws, key)?;
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        tokio::fs::create_dir_all(&dir).await.map_err(|e| self.failed(key, e))?;
        // Write then rename, so a reader never sees half a file. The temporary
        // name has a fixed length, so it fits wherever the key's name fits.
        let tmp = dir.join(format!(".orvanta-tmp-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&tmp, &object.bytes).await.map_err(|e| self.failed(key, e))?;
        if let Err(e) = tokio::fs::rename(&tmp, &path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(self.failed(key, e));
        }
        let meta = path.with_file_name(format!("{}{META}", file_name(&path)));
        match object.content_type {
            Some(ct) => tokio::fs::write(&meta, ct).await.map_err(|e| self.failed(key, e))?,
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
            // A folder, or a path under a file, holds no object at this key.
            Err(e) if matches!(e.kind(), NotFound | IsADirectory | NotADirectory) => return Ok(None),
            Err(e) => return Err(self.failed(key, e)),
        };
        let meta = path.with_file_name(format!("{}{META}", file_name(&path)));
        let content_type = tokio::fs::read_to_string(&meta).await.ok();
        Ok(Some(Object { bytes: bytes.into(), content_type }))
    }
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
