//! Scripts and their immutable versions.

use crate::{Language, Millis, RunnablePath, ScriptHash, Username, WorkspaceId};
use serde::{Deserialize, Serialize};

/// Settings of a script version that change how its jobs run and answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScriptSettings {
    /// Sync routes delete args, logs and result once answered.
    #[serde(default)]
    pub delete_after_use: bool,
    /// Per-job timeout; the instance default applies when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    /// Worker tag the job is routed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Status code of sync answers when the script fails (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_status_code: Option<u16>,
    /// At most this many jobs of the script run at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_limit: Option<u32>,
    /// `Some(false)`: each job in a process of its own, never a warm one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm: Option<bool>,
    /// Memory of one job, in bytes; the instance's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Processes one job may run at once; the instance's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_processes: Option<u64>,
    /// Largest file one job may write, in bytes; the instance's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size_bytes: Option<u64>,
    /// Windmill's kind of script (`script`, `failure`, `trigger`, `command`,
    /// `approval`, `preprocessor`), kept for its clients; `script` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Windmill's template flag, kept for its clients.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_template: bool,
    /// The message the version was saved with (Windmill's `deployment_message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_message: Option<String>,
}

/// A new version of a script, as the store receives it.
#[derive(Debug, Clone)]
pub struct NewScript {
    pub workspace: WorkspaceId,
    pub path: RunnablePath,
    pub hash: ScriptHash,
    pub parent_hash: Option<ScriptHash>,
    pub language: Language,
    pub content: String,
    pub summary: String,
    pub description: String,
    pub schema: serde_json::Value,
    pub settings: ScriptSettings,
    pub created_by: Username,
    pub created_at: Millis,
}

/// A stored script version.
#[derive(Debug, Clone)]
pub struct Script {
    pub workspace: WorkspaceId,
    pub path: RunnablePath,
    pub hash: ScriptHash,
    pub parent_hash: Option<ScriptHash>,
    pub language: Language,
    pub content: String,
    pub summary: String,
    pub description: String,
    pub schema: serde_json::Value,
    pub settings: ScriptSettings,
    pub created_by: Username,
    pub created_at: Millis,
    pub archived: bool,
}
