//! Object storage in an S3-compatible bucket (AWS S3, MinIO, moto, R2, ...),
//! through the `object_store` crate: `{bucket}/{workspace}/{key}`, with the
//! content type as the object's `Content-Type`.
//!
//! Retries and timeouts are short on purpose: a run request that writes an
//! upload waits for the store, and an unreachable store must become a 503
//! within seconds, not after `object_store`'s default three minutes.

use super::{check_key, Object, ObjectError, ObjectStore};
use crate::cfg::{Config, ConfigError};
use async_trait::async_trait;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{Attribute, Attributes, BackoffConfig, ClientOptions, PutOptions, RetryConfig};
use object_store::{ObjectStore as _, ObjectStoreExt as _};
use orvanta_core::WorkspaceId;
use std::time::Duration;

/// An S3-compatible bucket as object storage.
pub struct S3Objects {
    store: AmazonS3,
    description: String,
}

impl S3Objects {
    /// The store `cfg` describes; `bucket` is `cfg.storage.s3_bucket`. Nothing is
    /// contacted here: the server starts even when the store is down, and
    /// requests that need it answer 503 naming it.
    pub fn new(cfg: &Config, bucket: &str) -> Result<Self, ConfigError> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&cfg.storage.s3_region)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(2),
                    base: 2.0,
                },
                max_retries: 2,
                retry_timeout: Duration::from_secs(15),
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    // Uploads may be as large as the multipart limit (256 MiB by default).
                    .with_timeout(Duration::from_secs(300)),
            );
        let description = match &cfg.storage.s3_endpoint {
            Some(endpoint) => {
                // Path-style requests (`{endpoint}/{bucket}/{key}`), which every S3-compatible server accepts.
                builder = builder
                    .with_endpoint(endpoint)
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_virtual_hosted_style_request(false);
                format!("S3 bucket '{bucket}' at {endpoint}")
            }
            None => format!("S3 bucket '{bucket}' in region {}", cfg.storage.s3_region),
        };
        match (&cfg.storage.s3_access_key_id, &cfg.storage.s3_secret_access_key) {
            (Some(id), Some(secret)) => {
                builder = builder.with_access_key_id(id).with_secret_access_key(secret.expose());
            }
            (None, None) => {} // the instance's role (instance metadata), as on AWS
            _ => {
                return Err(ConfigError(
                    "set both ORVANTA_S3_ACCESS_KEY_ID and ORVANTA_S3_SECRET_ACCESS_KEY, or neither (to use the instance's role)"
                        .into(),
                ))
            }
        }
        let store = builder.build().map_err(|e| ConfigError(format!("the S3 object store is not usable: {e}")))?;
        Ok(Self { store, description })
    }

    fn location(ws: &WorkspaceId, key: &str) -> Result<Path, ObjectError> {
        check_key(key)?;
        Path::parse(format!("{ws}/{key}"))
            .map_err(|e| ObjectError::InvalidKey(format!("the object key '{key}' is not valid: {e}")))
    }

    fn unavailable(&self, e: object_store::Error) -> ObjectError {
        ObjectError::Unavailable { store: self.description.clone(), cause: e.to_string() }
    }
}

#[async_trait]
impl ObjectStore for S3Objects {
    fn describe(&self) -> String {
        self.description.clone()
    }

    async fn put(&self, ws: &WorkspaceId, key: &str, object: Object) -> Result<(), ObjectError> {
        let location = Self::location(ws, key)?;
        let mut attributes = Attributes::new();
        if let Some(ct) = object.content_type {
            attributes.insert(Attribute::ContentType, ct.into());
        }
        let opts = PutOptions { attributes, ..Default::default() };
        self.store.put_opts(&location, object.bytes.into(), opts).await.map_err(|e| self.unavailable(e))?;
        Ok(())
    }

    async fn get(&self, ws: &WorkspaceId, key: &str) -> Result<Option<Object>, ObjectError> {
        let location = Self::location(ws, key)?;
        let result = match self.store.get(&location).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.unavailable(e)),
        };
        let content_type = result.attributes.get(&Attribute::ContentType).map(|v| v.to_string());
        let bytes = result.bytes().await.map_err(|e| self.unavailable(e))?;
        Ok(Some(Object { bytes, content_type }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfg::Secret;

    fn cfg(endpoint: &str) -> Config {
        let mut cfg = Config::default();
        cfg.storage.s3_bucket = Some("b".into());
        cfg.storage.s3_endpoint = Some(endpoint.into());
        cfg.storage.s3_access_key_id = Some("id".into());
        cfg.storage.s3_secret_access_key = Some(Secret::new("secret"));
        cfg
    }

    #[tokio::test]
    async fn an_unreachable_store_is_unavailable_and_named() {
        let store = S3Objects::new(&cfg("http://127.0.0.1:1"), "b").unwrap();
        let ws = WorkspaceId::parse("demo").unwrap();
        let obj = Object { bytes: "x".into(), content_type: None };
        match store.put(&ws, "a/b.txt", obj).await {
            Err(ObjectError::Unavailable { store, .. }) => {
                assert!(store.contains("127.0.0.1:1") && store.contains("'b'"), "{store}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(store.get(&ws, "../x").await, Err(ObjectError::InvalidKey(_))));
    }

    #[test]
    fn half_credentials_are_refused() {
        let mut c = cfg("http://127.0.0.1:1");
        c.storage.s3_secret_access_key = None;
        // (No `unwrap_err`: the store has no `Debug`, which could print credentials.)
        let err = S3Objects::new(&c, "b").err().expect("half credentials must be refused");
        assert!(err.0.contains("ORVANTA_S3_SECRET_ACCESS_KEY"), "{err}");
    }
}
