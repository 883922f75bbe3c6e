//! What every handler and the worker share.

use crate::auth::{JobTokenKey, TokenCache};
use crate::cfg::Config;
use orvanta_exec::Runtimes;
use orvanta_store::Store;
use std::sync::Arc;

/// The server's shared state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub cfg: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub tokens: Arc<TokenCache>,
    /// Slows down clients that keep failing authentication.
    pub throttle: Arc<crate::auth::throttle::Throttle>,
    pub job_key: Arc<JobTokenKey>,
    /// The runtimes this process found (reported by `/api/health`).
    pub runtimes: Arc<Runtimes>,
    /// Short-lived caches of the hot reads.
    pub caches: Arc<crate::cache::Caches>,
    /// Group-commits the jobs requests enqueue.
    pub enqueuer: Arc<crate::enqueue::Enqueuer>,
    /// Group-commits inbound webhook events with their jobs.
    pub hook_recorder: Arc<crate::enqueue::HookRecorder>,
    /// The workspace object storage (uploads, non-UTF-8 bodies).
    pub objects: Arc<dyn crate::objects::ObjectStore>,
    /// Parsed flow versions (flow status views, resume URLs).
    pub defs: Arc<crate::flows::FlowDefs>,
    /// The body bytes all requests in flight may hold together.
    pub bodies: Arc<crate::http::body::BodyBudget>,
    /// Job slots of the workers embedded in this process.
    pub embedded_workers: usize,
    /// The warm processes of the worker embedded in this process.
    pub warm: Option<Arc<orvanta_exec::WarmPool>>,
    /// Seals the secrets the database keeps.
    pub sealer: Arc<crate::secrets::Sealer>,
}

impl AppState {
    /// The flow engine on this process's store.
    pub fn engine(&self) -> crate::flows::Engine<'_> {
        crate::flows::Engine { store: &*self.store, defs: &self.defs }
    }

    /// Loads or creates the instance's job-token key (shared by every process on the database).
    pub async fn job_key(store: &dyn Store) -> Result<JobTokenKey, orvanta_store::StoreError> {
        let hex = store.instance_setting("job_token_key", &JobTokenKey::generate().to_hex()).await?;
        JobTokenKey::from_hex(&hex).ok_or_else(|| {
            orvanta_store::StoreError::Corrupt("instance setting job_token_key is not a 64-hex key".into())
        })
    }
}
