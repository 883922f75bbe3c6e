//! JavaScript input transforms, in QuickJS (through `rquickjs`): no file
//! system, no network, no timers; each evaluation under a time limit, and
//! each [`Evaluator`] under a memory and a stack limit. One evaluator serves
//! one advance of the engine (a fresh heap each time, so no state leaks
//! between flow runs). The heap is made by the first expression: an advance
//! that evaluates none (most of a flow's steps) does not pay for one.
//!
//! An expression sees `flow_input`, `results` (`results.<step id>`),
//! `previous_result`, `resume` and `resumes` (after a suspend), `result`
//! (in `stop_after_if`), and, inside loops, `flow_input.iter.value` and
//! `flow_input.iter.index`. It is evaluated as an expression; if that is not
//! valid JavaScript, as the body of a function (so `return` works).

use rquickjs::{Context, Ctx, Runtime};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long one expression may run.
pub const TIME_LIMIT: Duration = Duration::from_secs(2);
/// How much memory the JavaScript heap of one advance may take.
pub const MEMORY_LIMIT: usize = 64 << 20;
/// How deep JavaScript may recurse (bytes of native stack).
const STACK_LIMIT: usize = 512 << 10;

/// Why an expression gave no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    #[error("it threw: {0}")]
    Threw(String),
    #[error("it ran longer than {} s and was stopped", TIME_LIMIT.as_secs())]
    TimedOut,
    #[error("it took more memory than the {} MiB allowed and was stopped", MEMORY_LIMIT >> 20)]
    OutOfMemory,
    #[error("it is not valid JavaScript: {0}")]
    Syntax(String),
    #[error("its value cannot be turned into JSON: {0}")]
    NotJson(String),
}

/// The names an expression sees, as JSON.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub vars: Map<String, Value>,
}

impl Scope {
    pub fn with(mut self, name: &str, v: Value) -> Self {
        self.vars.insert(name.to_owned(), v);
        self
    }
}

/// A JavaScript heap with the limits above, made when first used.
#[derive(Default)]
pub struct Evaluator {
    heap: OnceLock<Result<Heap, ExprError>>,
}

/// A QuickJS runtime and its context, with the deadline its interrupt handler watches.
struct Heap {
    runtime: Runtime,
    context: Context,
    deadline: Arc<Mutex<Option<Instant>>>,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Evaluator")
    }
}

impl Heap {
    fn new() -> Result<Self, ExprError> {
        let runtime = Runtime::new().map_err(|e| ExprError::Threw(format!("cannot start JavaScript: {e}")))?;
        runtime.set_memory_limit(MEMORY_LIMIT);
        runtime.set_max_stack_size(STACK_LIMIT);
        let deadline: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
        let watch = deadline.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || {
            watch.lock().map(|d| d.is_some_and(|d| Instant::now() >= d)).unwrap_or(false)
        })));
        let context = Context::full(&runtime).map_err(|e| ExprError::Threw(format!("cannot start JavaScript: {e}")))?;
        Ok(Self { runtime, context, deadline })
    }
}

impl Evaluator {
    /// An evaluator; its heap is made by the first expression (and its
    /// error, if QuickJS cannot start, is that expression's).
    pub fn new() -> Self {
        Self::default()
    }

    fn heap(&self) -> Result<&Heap, ExprError> {
        self.heap.get_or_init(Heap::new).as_ref().map_err(Clone::clone)
    }

    /// Evaluates `expr` with `scope`'s names defined.
    pub fn eval(&self, expr: &str, scope: &Scope) -> Result<Value, ExprError> {
        self.heap()?.eval(expr, scope)
    }

    /// Checks that `expr` is valid JavaScript, without running it.
    pub fn check_syntax(&self, expr: &str) -> Result<(), ExprError> {
        self.heap()?.check_syntax(expr)
    }
}

impl Heap {
    fn eval(&self, expr: &str, scope: &Scope) -> Result<Value, ExprError> {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + TIME_LIMIT);
        let out = self.context.with(|ctx| run(&ctx, expr, scope));
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = None;
        // Free what the expression allocated before the next one runs.
        self.runtime.run_gc();
        out
    }

    fn check_syntax(&self, expr: &str) -> Result<(), ExprError> {
        self.context.with(|ctx| {
            let src = format!("new Function({}); new Function({});", js_string(&as_expression(expr)), js_string(expr));
            match ctx.eval::<(), _>(src.as_str()) {
                Ok(()) => Ok(()),
                Err(_) => {
                    // Valid either as an expression or as a function body.
                    let as_expr = ctx.eval::<(), _>(format!("new Function({});", js_string(&as_expression(expr))));
                    let as_body = ctx.eval::<(), _>(format!("new Function({});", js_string(expr)));
                    if as_expr.is_ok() || as_body.is_ok() {
                        Ok(())
                    } else {
                        Err(ExprError::Syntax(exception_text(&ctx)))
                    }
                }
            }
        })
    }
}

fn as_expression(expr: &str) -> String {
    format!("return (\n{expr}\n);")
}

/// A JavaScript string literal of `s` (JSON string syntax is valid JavaScript).
fn js_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn run(ctx: &Ctx<'_>, expr: &str, scope: &Scope) -> Result<Value, ExprError> {
    let globals = ctx.globals();
    for (name, value) in &scope.vars {
        let js = ctx.json_parse(value.to_string()).map_err(|e| classify(ctx, e))?;
        globals.set(name.as_str(), js).map_err(|e| classify(ctx, e))?;
    }
    // As an expression first; as a function body when that does not parse.
    let body = if ctx.eval::<(), _>(format!("new Function({});", js_string(&as_expression(expr)))).is_ok() {
        as_expression(expr)
    } else {
        expr.to_owned()
    };
    let src = format!("JSON.stringify((function() {{\n{body}\n}})())");
    let text: Option<String> = ctx.eval(src.as_str()).map_err(|e| classify(ctx, e))?;
    match text {
        // `undefined` (and functions) have no JSON: they are null.
        None => Ok(Value::Null),
        Some(t) => orvanta_core::json::parse_limited(t.as_bytes(), orvanta_core::json::MAX_DEPTH)
            .map_err(|e| ExprError::NotJson(e.to_string())),
    }
}

/// The text of the pending exception (message and first stack lines).
fn exception_text(ctx: &Ctx<'_>) -> String {
    let caught = ctx.catch();
    if let Some(ex) = caught.as_exception() {
        let message = ex.message().unwrap_or_default();
        let name: String = ex.get("name").unwrap_or_else(|_| "Error".into());
        return format!("{name}: {message}");
    }
    match caught.as_string().and_then(|s| s.to_string().ok()) {
        Some(s) => s,
        None => format!("{caught:?}"),
    }
}

fn classify(ctx: &Ctx<'_>, e: rquickjs::Error) -> ExprError {
    match e {
        rquickjs::Error::Exception => {
            let text = exception_text(ctx);
            if text.contains("interrupted") {
                ExprError::TimedOut
            } else if text.contains("out of memory") || text.contains("stack overflow") {
                ExprError::OutOfMemory
            } else if text.starts_with("SyntaxError") || text.contains("SyntaxError") {
                ExprError::Syntax(text)
            } else {
                ExprError::Threw(text)
            }
        }
        rquickjs::Error::Allocation => ExprError::OutOfMemory,
        other => {
            let text = other.to_string();
            if text.contains("memory") {
                ExprError::OutOfMemory
            } else {
                ExprError::Threw(text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expr: &str) -> Result<Value, ExprError> {
        let scope = Scope::default()
            .with("flow_input", json!({"x": 2, "iter": {"value": "v", "index": 3}}))
            .with("results", json!({"a": [1, 2, 3]}))
            .with("previous_result", json!({"n": 5}));
        Evaluator::new().eval(expr, &scope)
    }

    #[test]
    fn expressions_see_the_flow() {
        assert_eq!(eval("flow_input.x * 10").unwrap(), json!(20));
        assert_eq!(eval("results.a.map(v => v * 2)").unwrap(), json!([2, 4, 6]));
        assert_eq!(eval("previous_result.n + flow_input.iter.index").unwrap(), json!(8));
        assert_eq!(eval("`${flow_input.iter.value}!`").unwrap(), json!("v!"));
        assert_eq!(eval("({a: 1})").unwrap(), json!({"a": 1}));
        assert_eq!(eval("undefined").unwrap(), Value::Null);
        assert_eq!(eval("const y = flow_input.x + 1;\nreturn y * 2;").unwrap(), json!(6));
    }

    #[test]
    fn errors_and_limits() {
        assert!(matches!(eval("results.nope.x"), Err(ExprError::Threw(m)) if m.contains("TypeError")));
        assert!(matches!(eval("throw new Error('boom')"), Err(ExprError::Threw(m)) if m.contains("boom")));
        assert_eq!(eval("while (true) {}"), Err(ExprError::TimedOut));
        let e = eval("let a = []; while (true) { a.push(new Array(100000).fill(1)); }").unwrap_err();
        assert_eq!(e, ExprError::OutOfMemory);
        assert!(matches!(eval("function f() { return f(); } f()"), Err(ExprError::OutOfMemory | ExprError::Threw(_))));
        assert!(matches!(eval("1 +* 2"), Err(ExprError::Syntax(_))));
        // No file system, no network, no host modules.
        assert!(eval("typeof require").unwrap() == json!("undefined"));
        assert!(eval("typeof fetch").unwrap() == json!("undefined"));
    }

    #[test]
    fn syntax_is_checked_without_running() {
        let ev = Evaluator::new();
        assert!(ev.check_syntax("while (true) {}").is_ok(), "checked, not run");
        assert!(ev.check_syntax("results.a.map(x => x)").is_ok());
        assert!(ev.check_syntax("return 1;").is_ok());
        assert!(matches!(ev.check_syntax("1 +* 2"), Err(ExprError::Syntax(_))));
    }

    #[test]
    fn an_evaluator_is_reusable_after_a_limit() {
        let ev = Evaluator::new();
        assert_eq!(ev.eval("while (true) {}", &Scope::default()), Err(ExprError::TimedOut));
        assert_eq!(ev.eval("1 + 1", &Scope::default()).unwrap(), json!(2));
    }
}
