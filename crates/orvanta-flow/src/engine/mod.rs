//! The engine: (module list, flow state, what just happened) → next actions.
//!
//! [`advance`] is a plain function. It reads nothing and writes nothing but
//! the state it is given; the worker turns its [`Action`]s into jobs and
//! commits them together with the new state and the completion of the job
//! that ended, in one transaction (so a finished step is never lost and
//! never repeated). Events about jobs the state no longer waits for (a
//! duplicate, an iteration of a loop that already failed) change nothing.

use crate::expr::{Evaluator, ExprError, Scope};
use crate::state::{FlowState, IterState, ModuleState, ModuleStatus, SuspendState};
use orvanta_core::openflow::{FlowModule, InputTransform, ModuleValue, Transforms};
use orvanta_core::{JobId, JobStatus, Millis};
use serde_json::{json, Map, Value};

/// What happened to the flow run.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The flow job was claimed: start the first module.
    Start,
    /// A job of module `step_id` ended: its step or sub-flow, or (with
    /// `index`) one of its iterations or branches.
    Ended { step_id: String, job: JobId, index: Option<i64>, status: JobStatus, result: Value },
    /// The results of the iterations or branches of `step_id`, in index
    /// order: the answer to [`Action::Collect`].
    Collected { step_id: String, results: Vec<(JobStatus, Value)> },
    /// A resume event for the suspend step that ran as job `job`.
    Resumed { job: JobId, resume_id: u32, payload: Value },
    /// The suspended step's deadline passed.
    TimedOut,
}

/// What code a step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepCode {
    /// The module's own `rawscript` (the worker reads it from the flow).
    Inline,
    /// A saved script: the newest version at `path`, or the version `hash`.
    Saved { path: String, hash: Option<String> },
}

/// What the worker must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Run module `step_id` as a step job `job`.
    RunStep {
        step_id: String,
        job: JobId,
        code: StepCode,
        args: Map<String, Value>,
        timeout_s: Option<u64>,
        tag: Option<String>,
        /// Start no earlier than this many milliseconds from now (`sleep`, retry delay).
        delay_ms: i64,
        /// The failure module (its job's node is the failure node).
        failure: bool,
        /// Its result stream is the flow's (the last top-level step).
        stream: bool,
    },
    /// Run iteration or branch `index` of module `step_id` as a nested flow
    /// job over the module list `node`.
    RunNested {
        step_id: String,
        job: JobId,
        node: String,
        index: i64,
        /// `flow_input.iter` inside a loop.
        iter: Option<Value>,
        /// `previous_result` for the nested list's first module.
        previous: Value,
        /// Created now but left waiting until an [`Action::Activate`].
        parked: bool,
        delay_ms: i64,
    },
    /// Wait for an event of the inbound webhook `webhook` (id or name) whose
    /// JSONPaths give these values; its end comes as [`Event::Ended`] for
    /// `job` (the event's payload, or a failure at the timeout).
    WaitWebhook { step_id: String, job: JobId, webhook: String, matches: Vec<(String, Value)>, timeout_s: Option<u64> },
    /// Run the flow at `path` (its newest version) as a sub-flow job.
    RunSubflow { step_id: String, job: JobId, path: String, args: Map<String, Value>, delay_ms: i64 },
    /// Make the parked iteration or branch `index` of `step_id` due.
    Activate { step_id: String, index: i64 },
    /// Read the results of the iterations or branches of `step_id` and come
    /// back with [`Event::Collected`].
    Collect { step_id: String },
    /// The early-return step finished: waiting callers get this result now.
    EarlyReturn { result: Value },
    /// Wait for resume events; cancel at `until` if set.
    Suspend { until: Option<Millis> },
    /// The flow run ended.
    End { status: JobStatus, result: Value },
}

/// What the run sees besides its state.
#[derive(Debug, Clone)]
pub struct Ctx<'a> {
    /// `flow_input` (with `iter` inside loops).
    pub flow_input: &'a Value,
    /// Results of the modules of enclosing lists, by id (inside loops and branches).
    pub outer_results: &'a Map<String, Value>,
    /// `previous_result` of the first module: the flow input at the top, the
    /// iteration value in a loop, the result before the container in a branch.
    pub initial_previous: &'a Value,
    /// The top-level list of a flow run started by a caller (early return,
    /// streaming and the failure module apply there only).
    pub is_root: bool,
    /// The id of the early-return step (root runs only).
    pub early_return: Option<&'a str>,
    pub now: Millis,
}

/// Advances one flow run: applies `event` to `state` and answers what to do.
/// `failure` is the flow's failure module (root runs only).
pub fn advance(
    list: &[FlowModule],
    failure: Option<&FlowModule>,
    state: &mut FlowState,
    event: Event,
    ctx: &Ctx<'_>,
    ev: &Evaluator,
) -> Vec<Action> {
    if state.ended {
        return Vec::new();
    }
    let mut run = Run { list, failure, state, ctx, ev, actions: Vec::new() };
    run.on(event);
    run.actions
}

mod run;

struct Run<'a, 'b> {
    list: &'a [FlowModule],
    failure: Option<&'a FlowModule>,
    state: &'b mut FlowState,
    ctx: &'b Ctx<'b>,
    ev: &'b Evaluator,
    actions: Vec<Action>,
}

/// After a module finished: go on, wait (suspend), or the run ended.
enum Next {
    Continue,
    Wait,
}

/// A module's error value: the failed job's `{"error": {...}}` with the step id added.
fn step_error(id: &str, result: Value) -> Value {
    let mut error = match result {
        Value::Object(mut m) => match m.remove("error") {
            Some(Value::Object(e)) => e,
            Some(other) => Map::from_iter([("name".into(), json!("Error")), ("message".into(), other)]),
            None => Map::from_iter([("name".into(), json!("Error")), ("message".into(), Value::Object(m))]),
        },
        other => Map::from_iter([("name".into(), json!("Error")), ("message".into(), other)]),
    };
    error.insert("step_id".into(), json!(id));
    json!({ "error": error })
}

fn flow_error(id: &str, name: &str, message: String) -> Value {
    json!({"error": {"name": name, "message": message, "step_id": id}})
}

/// JavaScript's truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// A failure module's argument whose transform failed: it gets the error
/// text instead, so that the failure module still runs and reports.
fn tracing_free_note(args: &mut Map<String, Value>, name: &str, e: &ExprError) {
    args.insert(name.to_owned(), json!(format!("[orvanta: the transform of this argument failed: {e}]")));
}
