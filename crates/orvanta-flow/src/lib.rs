//! Orvanta's flow engine, as plain functions.
//!
//! - `engine`: (module list, flow state, what just happened) → next actions.
//! - `state`: the durable state of a flow run, stored in its job row.
//! - `expr`: JavaScript input transforms in QuickJS, with time and memory limits.
//! - `validate`: the checks a flow passes before it is saved.
//! - `locate`: the module lists nested in a flow (loop bodies, branches).
//! - `status`: a flow run's state as Windmill's `flow_status` shape.
//!
//! Nothing here touches a database, a process or the network: the worker
//! loads what the engine needs, calls [`engine::advance`], and commits what
//! it answers in one transaction. Tests drive the engine directly.

pub mod engine;
pub mod expr;
pub mod locate;
pub mod state;
pub mod status;
pub mod validate;

pub use engine::{advance, Action, Ctx, Event, StepCode};
pub use expr::Evaluator;
pub use state::FlowState;
pub use validate::validate;
