//! Short-lived caches of what every run request reads (users, memberships,
//! the newest script of a path), so that a busy webhook costs no database
//! read per request.
//!
//! A change made through this process invalidates its entry at once; other
//! processes (several servers on PostgreSQL) see it within the TTL.

use orvanta_core::{Flow, FlowVersion, RunnablePath, Script, ScriptHash, Username, WorkspaceId};
use orvanta_store::{Role, User};
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A map whose entries expire after a fixed time.
pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    const MAX_ENTRIES: usize = 10_000;

    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The fresh value of `key`, if cached.
    pub fn get(&self, key: &K) -> Option<V> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).filter(|(_, at)| at.elapsed() < self.ttl).map(|(v, _)| v.clone())
    }

    pub fn put(&self, key: K, value: V) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= Self::MAX_ENTRIES {
            let ttl = self.ttl;
            map.retain(|_, (_, at)| at.elapsed() < ttl);
            if map.len() >= Self::MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(key, (value, Instant::now()));
    }

    /// The cached value of `key`, else the one `load` reads (then cached).
    pub async fn get_or_load<E>(&self, key: K, load: impl std::future::Future<Output = Result<V, E>>) -> Result<V, E> {
        if let Some(v) = self.get(&key) {
            return Ok(v);
        }
        let v = load.await?;
        self.put(key, v.clone());
        Ok(v)
    }

    /// Keeps only the entries whose key passes `keep`.
    pub fn retain(&self, keep: impl Fn(&K) -> bool) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).retain(|k, _| keep(k));
    }

    pub fn forget(&self, key: &K) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

/// The caches of one server process.
pub struct Caches {
    pub users: TtlCache<Username, Option<User>>,
    /// `None` value: the workspace does not exist.
    pub workspaces: TtlCache<WorkspaceId, bool>,
    pub roles: TtlCache<(WorkspaceId, Username), Option<Role>>,
    pub latest_scripts: TtlCache<(WorkspaceId, RunnablePath), Option<Script>>,
    pub scripts_by_hash: TtlCache<(WorkspaceId, ScriptHash), Option<Script>>,
    pub latest_flows: TtlCache<(WorkspaceId, RunnablePath), Option<Flow>>,
    pub flows_by_version: TtlCache<(WorkspaceId, FlowVersion), Option<Flow>>,
    /// Whether a live worker claims a tag.
    pub served_tags: TtlCache<String, bool>,
    /// Inbound webhook definitions by URL id (each request to `/webhook/{id}` reads one).
    /// With their definitions parsed and secrets opened.
    pub hooks: TtlCache<String, Option<std::sync::Arc<(orvanta_store::Hook, crate::inbound::Definition)>>>,
    /// The groups a user is in, per workspace.
    pub groups_of: TtlCache<(WorkspaceId, Username), Arc<Vec<String>>>,
    /// Folders by name (`None`: no such folder).
    pub folders: TtlCache<(WorkspaceId, String), Option<Arc<orvanta_store::Folder>>>,
    /// The `extra_perms` of a script or flow path.
    pub item_perms: TtlCache<(WorkspaceId, crate::authz::ItemKind, RunnablePath), Arc<BTreeMap<String, bool>>>,
    /// Every custom HTTP route of the instance.
    pub http_routes: TtlCache<(), Arc<Vec<crate::http::custom_routes::Loaded>>>,
}

impl Default for Caches {
    fn default() -> Self {
        let short = Duration::from_secs(2);
        Self {
            users: TtlCache::new(short),
            workspaces: TtlCache::new(short),
            roles: TtlCache::new(short),
            latest_scripts: TtlCache::new(short),
            scripts_by_hash: TtlCache::new(short),
            latest_flows: TtlCache::new(short),
            flows_by_version: TtlCache::new(short),
            served_tags: TtlCache::new(short),
            hooks: TtlCache::new(short),
            groups_of: TtlCache::new(short),
            folders: TtlCache::new(short),
            item_perms: TtlCache::new(short),
            http_routes: TtlCache::new(short),
        }
    }
}

impl Caches {
    /// Forgets what this process cached about a user (after a deletion).
    pub fn forget_user(&self, username: &Username) {
        self.users.forget(username);
        self.roles.retain(|(_, u)| u != username);
        self.groups_of.retain(|(_, u)| u != username);
    }

    /// Forgets what this process cached about the flow at `path`.
    pub fn forget_flow(&self, ws: &WorkspaceId, path: &RunnablePath) {
        self.latest_flows.forget(&(ws.clone(), path.clone()));
    }

    /// Forgets what this process cached about the scripts at `path`.
    pub fn forget_path(&self, ws: &WorkspaceId, path: &RunnablePath) {
        if let Some(Some(s)) = self.latest_scripts.get(&(ws.clone(), path.clone())) {
            self.scripts_by_hash.forget(&(ws.clone(), s.hash));
        }
        self.latest_scripts.forget(&(ws.clone(), path.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire() {
        let c: TtlCache<u8, u8> = TtlCache::new(Duration::from_millis(20));
        c.put(1, 2);
        assert_eq!(c.get(&1), Some(2));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(c.get(&1), None);
        c.put(1, 3);
        c.forget(&1);
        assert_eq!(c.get(&1), None);
    }
}
