//! OpenFlow: the JSON a flow's `value` is written in (contract §7), as
//! Windmill defines it, parsed into types the engine can walk.
//!
//! Parsing is lenient where Windmill's editor adds fields Orvanta does not
//! use (`lock`, `tag`, `summary`, schema `order`, ...): they are ignored, and
//! the stored value keeps them verbatim. It is strict where the engine needs
//! to know: an unknown module type, a missing id or a transform that is
//! neither `static` nor `javascript` is a [`FlowError`] naming the module.

use crate::Language;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;

/// Why a flow value is not one Orvanta can run; `module` names the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowError {
    /// The id of the module at fault, when the fault is in one.
    pub module: Option<String>,
    pub message: String,
}

impl FlowError {
    pub fn at(module: &str, message: impl Into<String>) -> Self {
        Self { module: Some(module.to_owned()), message: message.into() }
    }
    pub fn flow(message: impl Into<String>) -> Self {
        Self { module: None, message: message.into() }
    }
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.module {
            Some(m) => write!(f, "module '{m}': {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for FlowError {}

/// A flow's `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowValue {
    pub modules: Vec<FlowModule>,
    /// Runs with the error when a step fails (and the flow then fails).
    pub failure_module: Option<Box<FlowModule>>,
    /// A sync call answers as soon as this step has finished.
    pub early_return: Option<String>,
    /// Kept for Windmill compatibility; Orvanta's steps share no folder.
    pub same_worker: bool,
}

/// How an argument of a step, or a setting such as `sleep`, gets its value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum InputTransform {
    Static {
        #[serde(default)]
        value: Value,
    },
    Javascript {
        expr: String,
    },
}

/// One step.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowModule {
    pub id: String,
    pub value: ModuleValue,
    pub summary: Option<String>,
    /// After the step: stop the flow (or the loop) when true.
    pub stop_after_if: Option<StopAfterIf>,
    /// In loops: after all iterations.
    pub stop_after_all_iters_if: Option<StopAfterIf>,
    /// Before the step: skip it when true (its result is `null`).
    pub skip_if: Option<String>,
    /// Seconds to wait before the step starts.
    pub sleep: Option<InputTransform>,
    /// Seconds the step may run.
    pub timeout: Option<InputTransform>,
    pub suspend: Option<Suspend>,
    pub retry: Option<Retry>,
    /// A failure of the step becomes its result and the flow goes on.
    pub continue_on_error: bool,
}

/// `stop_after_if`: an expression over `result` (the step's) and the flow.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StopAfterIf {
    pub expr: String,
    /// When stopping, the flow ends with success and the stopping step's result,
    /// or (with this set) the step counts as skipped.
    #[serde(default)]
    pub skip_if_stopped: bool,
    #[serde(default)]
    pub error_message: Option<String>,
}

/// Pause after the step until resumed (approval steps).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Suspend {
    /// How many resume events are needed (default 1).
    #[serde(default)]
    pub required_events: Option<u32>,
    /// Seconds to wait before the flow is canceled.
    #[serde(default)]
    pub timeout: Option<u64>,
}

/// Retries of a failed step.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Retry {
    #[serde(default)]
    pub constant: Option<ConstantRetry>,
    #[serde(default)]
    pub exponential: Option<ExponentialRetry>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConstantRetry {
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ExponentialRetry {
    #[serde(default)]
    pub attempts: u32,
    #[serde(default = "two")]
    pub multiplier: f64,
    #[serde(default)]
    pub seconds: u64,
    #[serde(default)]
    pub random_factor: Option<u32>,
}

fn two() -> f64 {
    2.0
}

impl Retry {
    /// The delay before retry number `n` (1 for the first retry), or `None`
    /// when no retry is left: constant attempts first, then exponential.
    pub fn delay(&self, n: u32) -> Option<std::time::Duration> {
        let constant = self.constant.as_ref().map_or(0, |c| c.attempts);
        if n == 0 {
            return None;
        }
        if n <= constant {
            return self.constant.as_ref().map(|c| std::time::Duration::from_secs(c.seconds));
        }
        let e = self.exponential.as_ref()?;
        let k = n - constant;
        if k > e.attempts {
            return None;
        }
        // seconds * multiplier^k, as Windmill computes it, capped at a day.
        let secs = (e.seconds as f64) * e.multiplier.max(1.0).powi(k as i32);
        Some(std::time::Duration::from_secs_f64(secs.clamp(0.0, 86_400.0)))
    }
}

/// What a step is.
#[derive(Debug, Clone, PartialEq)]
pub enum ModuleValue {
    /// Inline code.
    RawScript {
        content: String,
        language: Language,
        input_transforms: Transforms,
        tag: Option<String>,
    },
    /// A saved script, by path (newest) or hash.
    Script {
        path: String,
        hash: Option<String>,
        input_transforms: Transforms,
        tag: Option<String>,
    },
    /// Another flow, by path.
    Flow {
        path: String,
        input_transforms: Transforms,
    },
    ForLoop {
        iterator: InputTransform,
        modules: Vec<FlowModule>,
        skip_failures: bool,
        parallel: bool,
        /// At most this many iterations at once when `parallel`.
        parallelism: Option<InputTransform>,
    },
    WhileLoop {
        modules: Vec<FlowModule>,
        skip_failures: bool,
    },
    BranchOne {
        branches: Vec<Branch>,
        default: Vec<FlowModule>,
    },
    BranchAll {
        branches: Vec<Branch>,
        parallel: bool,
    },
    /// Passes the previous result on.
    Identity,
    /// Waits for a verified event of an inbound webhook (contract §8.4):
    /// `webhook` is the definition's id or name; each JSONPath of `matches`
    /// must give the resolved value; the event's payload is the result.
    WaitForWebhook {
        webhook: String,
        /// JSONPath -> the value it must give (static, or a transform resolved when the step starts).
        matches: Transforms,
        /// Fails the step when no event matched in this many seconds.
        timeout_s: Option<u64>,
    },
}

/// The arguments of a step: name → transform, in order.
pub type Transforms = Vec<(String, InputTransform)>;

/// One branch of `branchone` (with `expr`) or `branchall`.
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    /// `branchone`: taken when true. `branchall`: unused.
    pub expr: Option<String>,
    pub modules: Vec<FlowModule>,
    pub summary: Option<String>,
    /// `branchall`: a failure of this branch becomes its result.
    pub skip_failure: bool,
}

impl ModuleValue {
    /// The module type as OpenFlow spells it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::RawScript { .. } => "rawscript",
            Self::Script { .. } => "script",
            Self::Flow { .. } => "flow",
            Self::ForLoop { .. } => "forloopflow",
            Self::WhileLoop { .. } => "whileloopflow",
            Self::BranchOne { .. } => "branchone",
            Self::BranchAll { .. } => "branchall",
            Self::Identity => "identity",
            Self::WaitForWebhook { .. } => "waitforwebhook",
        }
    }

    /// The module lists this module holds (loop bodies, branches, default).
    pub fn children(&self) -> Vec<&[FlowModule]> {
        match self {
            Self::ForLoop { modules, .. } | Self::WhileLoop { modules, .. } => vec![modules.as_slice()],
            Self::BranchOne { branches, default } => {
                branches.iter().map(|b| b.modules.as_slice()).chain([default.as_slice()]).collect()
            }
            Self::BranchAll { branches, .. } => branches.iter().map(|b| b.modules.as_slice()).collect(),
            _ => Vec::new(),
        }
    }
}

impl FlowValue {
    /// Parses a flow's `value`.
    pub fn parse(v: &Value) -> Result<Self, FlowError> {
        let obj =
            v.as_object().ok_or_else(|| FlowError::flow("the flow's value must be a JSON object with modules"))?;
        let modules = match obj.get("modules") {
            Some(Value::Array(list)) => parse_modules(list)?,
            Some(Value::Null) | None => Vec::new(),
            Some(_) => return Err(FlowError::flow("value.modules must be an array of modules")),
        };
        let failure_module = match obj.get("failure_module") {
            None | Some(Value::Null) => None,
            Some(m) => Some(Box::new(parse_module(m)?)),
        };
        let early_return = match obj.get("early_return") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(FlowError::flow("value.early_return must be the id of a step")),
        };
        let same_worker = obj.get("same_worker").and_then(Value::as_bool).unwrap_or(false);
        Ok(Self { modules, failure_module, early_return, same_worker })
    }

    /// Every module of the flow, nested ones included, depth first; the failure module last.
    pub fn all_modules(&self) -> Vec<&FlowModule> {
        fn walk<'a>(list: &'a [FlowModule], out: &mut Vec<&'a FlowModule>) {
            for m in list {
                out.push(m);
                for child in m.value.children() {
                    walk(child, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.modules, &mut out);
        if let Some(f) = &self.failure_module {
            walk(std::slice::from_ref(f), &mut out);
        }
        out
    }
}

fn parse_modules(list: &[Value]) -> Result<Vec<FlowModule>, FlowError> {
    list.iter().map(parse_module).collect()
}

/// The fields of a module, with nested module lists left as JSON so that
/// each nested module is parsed (and its errors named) on its own.
#[derive(Deserialize)]
struct RawModule {
    id: String,
    value: Value,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    stop_after_if: Option<StopAfterIf>,
    #[serde(default)]
    stop_after_all_iters_if: Option<StopAfterIf>,
    #[serde(default)]
    skip_if: Option<SkipIf>,
    #[serde(default)]
    sleep: Option<NumberOrTransform>,
    #[serde(default)]
    timeout: Option<NumberOrTransform>,
    #[serde(default)]
    suspend: Option<Suspend>,
    #[serde(default)]
    retry: Option<Retry>,
    #[serde(default)]
    continue_on_error: Option<bool>,
}

#[derive(Deserialize)]
struct SkipIf {
    expr: String,
}

/// Windmill has taken both a number of seconds and a transform here.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrTransform {
    Number(f64),
    Transform(InputTransform),
}

impl From<NumberOrTransform> for InputTransform {
    fn from(v: NumberOrTransform) -> Self {
        match v {
            NumberOrTransform::Number(n) => InputTransform::Static { value: Value::from(n) },
            NumberOrTransform::Transform(t) => t,
        }
    }
}

fn parse_module(v: &Value) -> Result<FlowModule, FlowError> {
    let id = match v.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(_) => return Err(FlowError::flow("every module needs an \"id\" that is a non-empty string")),
        None => {
            let t = v.get("value").and_then(|x| x.get("type")).and_then(Value::as_str).unwrap_or("?");
            return Err(FlowError::flow(format!("a module of type '{t}' has no \"id\"; give every module an id")));
        }
    };
    let raw: RawModule = RawModule::deserialize(v).map_err(|e| FlowError::at(&id, e.to_string()))?;
    let value = parse_value(&id, &raw.value)?;
    Ok(FlowModule {
        id: raw.id,
        value,
        summary: raw.summary,
        stop_after_if: raw.stop_after_if,
        stop_after_all_iters_if: raw.stop_after_all_iters_if,
        skip_if: raw.skip_if.map(|s| s.expr),
        sleep: raw.sleep.map(Into::into),
        timeout: raw.timeout.map(Into::into),
        suspend: raw.suspend,
        retry: raw.retry,
        continue_on_error: raw.continue_on_error.unwrap_or(false),
    })
}

const TYPES: &str =
    "rawscript, script, flow, forloopflow, whileloopflow, branchone, branchall, identity or waitforwebhook";

fn parse_value(id: &str, v: &Value) -> Result<ModuleValue, FlowError> {
    let obj = v.as_object().ok_or_else(|| FlowError::at(id, "\"value\" must be an object with a \"type\""))?;
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| FlowError::at(id, format!("\"value\" has no \"type\"; the types are {TYPES}")))?;
    let transforms = |key: &str| parse_transforms(id, obj.get(key));
    let string = |key: &str| -> Result<String, FlowError> {
        obj.get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| FlowError::at(id, format!("a {kind} module needs \"{key}\" (a string)")))
    };
    let opt_string = |key: &str| obj.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let flag = |key: &str| obj.get(key).and_then(Value::as_bool).unwrap_or(false);
    let modules = |key: &str| -> Result<Vec<FlowModule>, FlowError> {
        match obj.get(key) {
            Some(Value::Array(list)) => parse_modules(list),
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(_) => Err(FlowError::at(id, format!("\"{key}\" must be an array of modules"))),
        }
    };
    Ok(match kind {
        "rawscript" => {
            let lang = string("language")?;
            let language = Language::parse(&lang).map_err(|e| FlowError::at(id, e.0))?;
            ModuleValue::RawScript {
                content: string("content")?,
                language,
                input_transforms: transforms("input_transforms")?,
                tag: opt_string("tag"),
            }
        }
        "script" => ModuleValue::Script {
            path: string("path")?,
            hash: opt_string("hash"),
            input_transforms: transforms("input_transforms")?,
            tag: opt_string("tag_override"),
        },
        "flow" => ModuleValue::Flow { path: string("path")?, input_transforms: transforms("input_transforms")? },
        "forloopflow" => ModuleValue::ForLoop {
            iterator: match obj.get("iterator") {
                Some(t) => transform(id, "iterator", t)?,
                None => {
                    return Err(FlowError::at(id, "a forloopflow needs an \"iterator\" (a transform giving an array)"))
                }
            },
            modules: modules("modules")?,
            skip_failures: flag("skip_failures"),
            parallel: flag("parallel"),
            parallelism: match obj.get("parallelism") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => Some(InputTransform::Static { value: Value::Number(n.clone()) }),
                Some(t) => Some(transform(id, "parallelism", t)?),
            },
        },
        "whileloopflow" => {
            ModuleValue::WhileLoop { modules: modules("modules")?, skip_failures: flag("skip_failures") }
        }
        "branchone" => ModuleValue::BranchOne {
            branches: parse_branches(id, obj.get("branches"), true)?,
            default: modules("default")?,
        },
        "branchall" => ModuleValue::BranchAll {
            branches: parse_branches(id, obj.get("branches"), false)?,
            parallel: flag("parallel"),
        },
        "identity" => ModuleValue::Identity,
        "waitforwebhook" => {
            ModuleValue::WaitForWebhook {
                webhook: string("webhook").and_then(|w| {
                    if w.trim().is_empty() {
                        Err(FlowError::at(id, "\"webhook\" must name an inbound webhook (its id or name)"))
                    } else {
                        Ok(w)
                    }
                })?,
                matches: match obj.get("matches") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Object(map)) => map
                        .iter()
                        .map(|(path, v)| {
                            // A transform object, or a plain value to equal.
                            let is_transform = v.as_object().is_some_and(|o| {
                                matches!(o.get("type").and_then(Value::as_str), Some("static" | "javascript"))
                            });
                            let t = if is_transform {
                                transform(id, &format!("matches['{path}']"), v)?
                            } else {
                                InputTransform::Static { value: v.clone() }
                            };
                            Ok((path.clone(), t))
                        })
                        .collect::<Result<_, FlowError>>()?,
                    Some(_) => return Err(FlowError::at(id, "\"matches\" must be an object: JSONPath -> value")),
                },
                timeout_s: match obj.get("timeout_s") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                        FlowError::at(id, "\"timeout_s\" must be a positive whole number of seconds")
                    })?),
                },
            }
        }
        other => {
            return Err(FlowError::at(id, format!("the module type '{other}' is not supported; the types are {TYPES}")))
        }
    })
}

fn transform(id: &str, what: &str, v: &Value) -> Result<InputTransform, FlowError> {
    InputTransform::deserialize(v).map_err(|e| {
        FlowError::at(
            id,
            format!("{what}: {e}; a transform is {{\"type\": \"static\", \"value\": ...}} or {{\"type\": \"javascript\", \"expr\": \"...\"}}"),
        )
    })
}

fn parse_transforms(id: &str, v: Option<&Value>) -> Result<Transforms, FlowError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => {
            map.iter().map(|(k, t)| Ok((k.clone(), transform(id, &format!("argument '{k}'"), t)?))).collect()
        }
        Some(_) => Err(FlowError::at(id, "\"input_transforms\" must be an object: argument name -> transform")),
    }
}

fn parse_branches(id: &str, v: Option<&Value>, with_expr: bool) -> Result<Vec<Branch>, FlowError> {
    let list = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(FlowError::at(id, "\"branches\" must be an array")),
    };
    list.iter()
        .enumerate()
        .map(|(i, b)| {
            let empty = Map::new();
            let obj = b.as_object().unwrap_or(&empty);
            let expr = obj.get("expr").and_then(Value::as_str).map(str::to_owned);
            if with_expr && expr.as_deref().is_none_or(str::is_empty) {
                return Err(FlowError::at(
                    id,
                    format!("branch {} has no \"expr\" (the condition that takes it)", i + 1),
                ));
            }
            let modules = match obj.get("modules") {
                Some(Value::Array(list)) => parse_modules(list)?,
                None | Some(Value::Null) => Vec::new(),
                Some(_) => return Err(FlowError::at(id, format!("branch {}: \"modules\" must be an array", i + 1))),
            };
            Ok(Branch {
                expr,
                modules,
                summary: obj.get("summary").and_then(Value::as_str).map(str::to_owned),
                skip_failure: obj.get("skip_failure").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_a_windmill_export_with_extra_fields() {
        let v = json!({
            "modules": [
                {"id": "a", "summary": "", "value": {"type": "rawscript", "language": "python3",
                  "content": "def main(x): return x", "lock": "", "tag": null,
                  "input_transforms": {"x": {"type": "javascript", "expr": "flow_input.x"}}},
                 "stop_after_if": null, "continue_on_error": false},
                {"id": "b", "value": {"type": "forloopflow", "iterator": {"type": "javascript", "expr": "results.a"},
                  "skip_failures": true, "parallel": false, "modules": [
                    {"id": "c", "value": {"type": "identity"}}]}, "sleep": 2},
                {"id": "d", "value": {"type": "branchone", "branches": [{"expr": "true", "modules": []}], "default": []}}
            ],
            "failure_module": {"id": "failure", "value": {"type": "identity"}},
            "same_worker": false,
            "extra_field": 1
        });
        let f = FlowValue::parse(&v).unwrap();
        assert_eq!(f.modules.len(), 3);
        let ids: Vec<&str> = f.all_modules().iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d", "failure"]);
        assert_eq!(f.modules[1].sleep, Some(InputTransform::Static { value: json!(2.0) }));
    }

    #[test]
    fn errors_name_the_module() {
        let bad = json!({"modules": [{"id": "x", "value": {"type": "forloopflow", "iterator": {"type": "static", "value": []},
            "modules": [{"id": "inner", "value": {"type": "teleport"}}]}}]});
        let e = FlowValue::parse(&bad).unwrap_err();
        assert_eq!(e.module.as_deref(), Some("inner"));
        assert!(e.message.contains("teleport"), "{e}");
        let e = FlowValue::parse(&json!({"modules": [{"id": "t", "value": {"type": "rawscript", "language": "bash",
            "content": "", "input_transforms": {"a": {"type": "python", "expr": "1"}}}}]}))
        .unwrap_err();
        assert_eq!(e.module.as_deref(), Some("t"));
        assert!(e.message.contains("argument 'a'"), "{e}");
        let e = FlowValue::parse(&json!({"modules": [{"value": {"type": "identity"}}]})).unwrap_err();
        assert!(e.message.contains("no \"id\""), "{e}");
    }

    #[test]
    fn retry_delays() {
        let r = Retry {
            constant: Some(ConstantRetry { attempts: 2, seconds: 3 }),
            exponential: Some(ExponentialRetry { attempts: 2, multiplier: 2.0, seconds: 1, random_factor: None }),
        };
        let d: Vec<Option<u64>> = (1..=5).map(|n| r.delay(n).map(|d| d.as_secs())).collect();
        assert_eq!(d, [Some(3), Some(3), Some(2), Some(4), None]);
    }
}
