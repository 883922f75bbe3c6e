//! The durable state of one flow run (one module list), stored as JSON in
//! the flow job's row and changed only through [`crate::engine::advance`].
//!
//! Results of modules are kept inline, so that the next step's transforms
//! need no other read than the flow job itself: a step costs one read and
//! one write of its flow. (Very large step results are therefore copied into
//! the state; see `docs/decisions.md`.)

use orvanta_core::{JobId, Millis};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a flow run is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowState {
    /// The index of the module being run; the list's length once through.
    pub step: usize,
    /// One entry per module of the list, in order, added as they are reached.
    #[serde(default)]
    pub modules: Vec<ModuleState>,
    /// The run of the failure module, once a step failed (root runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<ModuleState>,
    /// The error that made the flow fail, while its failure module runs.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub error: Option<Value>,
    /// The result of the early-return step, once it finished (root runs only).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub early: Option<Value>,
    /// Set while the flow waits for resume events after a step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<SuspendState>,
    /// Resume events that came for a step that was still running (its
    /// suspend begins when it ends; they count then).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_resumes: Vec<PendingResume>,
    /// The payloads of the last completed suspend (`resume`, `resumes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumes: Vec<Value>,
    /// The job whose result stream is the flow's (its last step's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_job: Option<JobId>,
    /// True once the run ended (its job has its final status).
    #[serde(default)]
    pub ended: bool,
}

/// What became of a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleStatus {
    /// Its job(s) are queued or running.
    Running,
    /// It finished and the flow waits for resume events (`suspend`).
    Suspended,
    Success,
    Failure,
    /// `skip_if` held: it did not run.
    Skipped,
}

/// One module of the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleState {
    pub id: String,
    pub status: ModuleStatus,
    /// The job that runs it (a step or a sub-flow), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobId>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub result: Option<Value>,
    /// Retries done so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// Loops and `branchall`: the iterations or branches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iter: Option<IterState>,
    /// `branchone`: the branch taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<BranchChosen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Millis>,
}

/// The branch a `branchone` took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BranchChosen {
    Branch(usize),
    Default,
}

/// A field that is there holds a value, `null` included (`Some(Null)`); only
/// a missing field is `None`. (serde's default reads `null` as `None`, which
/// would lose a step whose result is `null`.)
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl ModuleState {
    pub fn new(id: &str, now: Millis) -> Self {
        Self {
            id: id.to_owned(),
            status: ModuleStatus::Running,
            job: None,
            result: None,
            attempts: 0,
            iter: None,
            branch: None,
            started_at: Some(now),
            completed_at: None,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.status, ModuleStatus::Success | ModuleStatus::Failure | ModuleStatus::Skipped)
    }
}

/// The iterations of a loop, or the branches of a `branchall`, each a
/// nested flow run (a child job numbered by its index).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IterState {
    /// How many there are (for a `whileloopflow`: started so far).
    pub total: i64,
    /// How many ended.
    pub done: i64,
    /// The next index to start (or make due, when it waits parked).
    pub next: i64,
    /// How many ended in failure.
    #[serde(default)]
    pub failed: i64,
    /// A `stop_after_if` held: no more iterations start.
    #[serde(default)]
    pub stopped: bool,
}

/// A resume event that arrived before its step's suspend began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingResume {
    pub job: JobId,
    pub resume_id: u32,
    pub payload: Value,
}

/// Whether a resume event for step job `job` would be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeCheck {
    /// It counts (now, or when the step's suspend begins).
    Accept,
    /// This resume id was used already.
    AlreadyUsed,
    /// The flow does not wait for this step (it ended, or the step is not a suspend step).
    NotWaiting,
}

/// A flow waiting after a suspend step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuspendState {
    /// The index of the suspended module.
    pub module: usize,
    /// The job of the suspended step (resume URLs name it).
    pub job: Option<JobId>,
    /// How many resume events are needed.
    pub required: u32,
    /// The payloads received so far.
    #[serde(default)]
    pub events: Vec<Value>,
    /// The resume ids used so far: each resumes once.
    #[serde(default)]
    pub used: Vec<u32>,
    /// When the flow is canceled if not resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Millis>,
}

impl FlowState {
    /// Whether a resume event for step job `job` with `resume_id` would count.
    pub fn resume_check(&self, job: JobId, resume_id: u32) -> ResumeCheck {
        if self.ended {
            return ResumeCheck::NotWaiting;
        }
        if let Some(s) = self.suspend.as_ref().filter(|s| s.job == Some(job)) {
            return if s.used.contains(&resume_id) { ResumeCheck::AlreadyUsed } else { ResumeCheck::Accept };
        }
        let running = self.modules.iter().any(|m| m.job == Some(job) && m.status == ModuleStatus::Running);
        if !running {
            return ResumeCheck::NotWaiting;
        }
        if self.pending_resumes.iter().any(|p| p.job == job && p.resume_id == resume_id) {
            ResumeCheck::AlreadyUsed
        } else {
            ResumeCheck::Accept
        }
    }

    /// The state stored in a flow job, or a fresh one.
    pub fn from_json(v: Option<&Value>) -> Self {
        v.and_then(|v| Self::deserialize(v).ok()).unwrap_or_default()
    }

    /// The state as JSON text, as it is stored.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "null".to_owned())
    }

    /// The state of the module with this id.
    pub fn module(&self, id: &str) -> Option<&ModuleState> {
        self.modules.iter().find(|m| m.id == id).or(self.failure.as_ref().filter(|f| f.id == id))
    }

    /// The results of the modules that have one, by id.
    pub fn results(&self) -> serde_json::Map<String, Value> {
        self.modules
            .iter()
            .chain(self.failure.iter())
            .filter_map(|m| m.result.clone().map(|r| (m.id.clone(), r)))
            .collect()
    }
}

/// The early-return result stored in a flow job's state, if any.
pub fn early_result(state: &Value) -> Option<&Value> {
    state.get("early")
}

/// The job whose result stream is the flow's, if any.
pub fn stream_job(state: &Value) -> Option<JobId> {
    state.get("stream_job").and_then(Value::as_str).and_then(|s| JobId::parse(s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_state_survives_its_json() {
        let job = JobId::new();
        let mut m = ModuleState::new("a", 5);
        m.job = Some(job);
        m.result = Some(json!({"x": [1, null]}));
        m.attempts = 2;
        m.iter = Some(IterState { total: 3, done: 1, next: 2, failed: 1, stopped: true });
        let mut d = ModuleState::new("b", 6);
        d.branch = Some(BranchChosen::Default);
        let mut k = ModuleState::new("c", 7);
        k.branch = Some(BranchChosen::Branch(2));
        k.status = ModuleStatus::Suspended;
        let state = FlowState {
            step: 2,
            modules: vec![m, d, k],
            failure: Some(ModuleState::new("f", 8)),
            error: Some(json!({"error": {}})),
            early: Some(json!(null)),
            suspend: Some(SuspendState {
                module: 2,
                job: Some(job),
                required: 2,
                events: vec![json!(1)],
                used: vec![9],
                until: Some(10),
            }),
            pending_resumes: vec![PendingResume { job, resume_id: 3, payload: json!("p") }],
            resumes: vec![json!("r")],
            stream_job: Some(job),
            ended: false,
        };
        let stored: Value = serde_json::from_str(&state.to_text()).unwrap();
        assert_eq!(FlowState::from_json(Some(&stored)), state);
        assert_eq!(early_result(&stored), Some(&json!(null)));
        assert_eq!(stream_job(&stored), Some(job));
    }
}
