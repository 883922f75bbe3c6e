//! The checks a flow passes before it is saved, each failure naming the
//! module and what to fix: the structure parses (`orvanta_core::openflow`),
//! module ids are unique and usable in node names, every expression is
//! valid JavaScript, `results.<id>` names a step that exists, a while loop
//! has its `stop_after_if`, saved scripts and sub-flows are named by valid
//! paths, and `early_return` names a top-level step.

use crate::expr::Evaluator;
use orvanta_core::openflow::{FlowError, FlowModule, FlowValue, InputTransform, ModuleValue};
use serde_json::Value;
use std::collections::HashSet;

/// Parses and checks a flow's value.
pub fn validate(value: &Value) -> Result<FlowValue, FlowError> {
    let flow = FlowValue::parse(value)?;
    let all = flow.all_modules();
    let mut ids = HashSet::new();
    for m in &all {
        if m.id.len() > 100 || m.id.contains('/') || m.id.trim().is_empty() {
            return Err(FlowError::at(
                &m.id,
                "a module id is 1 to 100 characters without '/', e.g. \"a\" or \"fetch_order\"",
            ));
        }
        if !ids.insert(m.id.as_str()) {
            return Err(FlowError::at(
                &m.id,
                "this id is used by two modules; every module of a flow needs its own id",
            ));
        }
    }
    if let Some(early) = &flow.early_return {
        if !flow.modules.iter().any(|m| &m.id == early) {
            return Err(FlowError::flow(format!(
                "early_return names '{early}', which is not a top-level step of the flow; name one of: {}",
                flow.modules.iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let ev = Evaluator::new();
    for m in &all {
        check_module(m, &ids, &ev)?;
    }
    Ok(flow)
}

fn check_module(m: &FlowModule, ids: &HashSet<&str>, ev: &Evaluator) -> Result<(), FlowError> {
    let mut exprs: Vec<(String, &str)> = Vec::new();
    fn js<'a>(exprs: &mut Vec<(String, &'a str)>, what: String, t: &'a InputTransform) {
        if let InputTransform::Javascript { expr } = t {
            exprs.push((what, expr.as_str()));
        }
    }
    match &m.value {
        ModuleValue::RawScript { input_transforms, .. }
        | ModuleValue::Script { input_transforms, .. }
        | ModuleValue::Flow { input_transforms, .. } => {
            for (name, t) in input_transforms {
                js(&mut exprs, format!("argument '{name}'"), t);
            }
        }
        ModuleValue::ForLoop { iterator, parallelism, .. } => {
            js(&mut exprs, "iterator".into(), iterator);
            if let Some(p) = parallelism {
                js(&mut exprs, "parallelism".into(), p);
            }
        }
        ModuleValue::BranchOne { branches, .. } => {
            for (k, b) in branches.iter().enumerate() {
                if let Some(e) = &b.expr {
                    exprs.push((format!("the condition of branch {}", k + 1), e.as_str()));
                }
            }
        }
        ModuleValue::WhileLoop { .. } => {
            if m.stop_after_if.is_none() {
                return Err(FlowError::at(
                    &m.id,
                    "a whileloopflow needs a stop_after_if: it is what ends the loop (tested after each iteration with `result`)",
                ));
            }
        }
        ModuleValue::WaitForWebhook { matches, .. } => {
            for (path, t) in matches {
                orvanta_hooks::Path::parse(path)
                    .map_err(|e| FlowError::at(&m.id, format!("matches: '{path}' is not a JSONPath: {e}")))?;
                js(&mut exprs, format!("matches['{path}']"), t);
            }
        }
        ModuleValue::BranchAll { .. } | ModuleValue::Identity => {}
    }
    if let Some(t) = &m.sleep {
        js(&mut exprs, "sleep".into(), t);
    }
    if let Some(t) = &m.timeout {
        js(&mut exprs, "timeout".into(), t);
    }
    if let Some(e) = &m.skip_if {
        exprs.push(("skip_if".into(), e.as_str()));
    }
    if let Some(s) = &m.stop_after_if {
        exprs.push(("stop_after_if".into(), s.expr.as_str()));
    }
    if let Some(s) = &m.stop_after_all_iters_if {
        exprs.push(("stop_after_all_iters_if".into(), s.expr.as_str()));
    }
    for (what, expr) in exprs {
        ev.check_syntax(expr).map_err(|e| FlowError::at(&m.id, format!("{what}: the expression `{expr}` {e}")))?;
        for id in referenced_results(expr).ids {
            if !ids.contains(id.as_str()) {
                return Err(FlowError::at(
                    &m.id,
                    format!("{what}: the expression refers to results.{id}, but no step of the flow has the id '{id}'"),
                ));
            }
        }
    }
    match &m.value {
        ModuleValue::Script { path, .. } | ModuleValue::Flow { path, .. } => {
            orvanta_core::RunnablePath::parse(path).map_err(|e| FlowError::at(&m.id, e.0))?;
        }
        _ => {}
    }
    Ok(())
}

/// The step ids an expression reads through `results`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResultRefs {
    /// `results.<id>` and `results["<id>"]`.
    pub ids: Vec<String>,
    /// `results` used otherwise (`results[x]`, `Object.keys(results)`): any step.
    pub dynamic: bool,
}

/// Finds `results.<id>` and `results["<id>"]` in an expression (outside string literals).
pub fn referenced_results(expr: &str) -> ResultRefs {
    let mut out = ResultRefs::default();
    let bytes = expr.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if b == b'\\' {
                i += 2;
                continue;
            }
            if b == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if matches!(b, b'"' | b'\'' | b'`') {
            quote = Some(b);
            i += 1;
            continue;
        }
        let word_start = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b'$'
                || bytes[i - 1] == b'.');
        if word_start && expr[i..].starts_with("results") {
            let after = i + "results".len();
            let next = bytes.get(after).copied();
            if next.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$') {
                i = after;
                continue;
            }
            match next {
                Some(b'.') => {
                    let id: String = expr[after + 1..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '$')
                        .collect();
                    if id.is_empty() {
                        out.dynamic = true;
                    } else {
                        out.ids.push(id);
                    }
                }
                Some(b'[') => {
                    let rest = expr[after + 1..].trim_start();
                    let literal = rest.chars().next().filter(|c| *c == '"' || *c == '\'').and_then(|q| {
                        let body = &rest[1..];
                        let end = body.find(q)?;
                        body[end + 1..].trim_start().starts_with(']').then(|| body[..end].to_owned())
                    });
                    match literal {
                        Some(id) => out.ids.push(id),
                        None => out.dynamic = true,
                    }
                }
                _ => out.dynamic = true,
            }
            i = after;
            continue;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> FlowError {
        validate(&v).unwrap_err()
    }

    #[test]
    fn finds_result_references() {
        let r = referenced_results("results.a.x + results['b'] + results[\"c\"] + 'results.z' + myresults.q");
        assert_eq!(r.ids, ["a", "b", "c"]);
        assert!(!r.dynamic);
        assert!(referenced_results("Object.keys(results)").dynamic);
        assert!(referenced_results("results[k]").dynamic);
    }

    #[test]
    fn refuses_what_cannot_run_and_names_the_module() {
        let ident = |id: &str| json!({"id": id, "value": {"type": "identity"}});
        let e = err(json!({"modules": [ident("a"), ident("a")]}));
        assert_eq!(e.module.as_deref(), Some("a"));
        assert!(e.message.contains("two modules"));
        let e = err(json!({"modules": [{"id": "s", "value": {"type": "rawscript", "language": "bash", "content": "",
            "input_transforms": {"x": {"type": "javascript", "expr": "results.ghost.y"}}}}]}));
        assert_eq!(e.module.as_deref(), Some("s"));
        assert!(e.message.contains("ghost"), "{e}");
        let e = err(json!({"modules": [{"id": "s", "value": {"type": "rawscript", "language": "bash", "content": "",
            "input_transforms": {"x": {"type": "javascript", "expr": "flow_input.("}}}}]}));
        assert!(e.message.contains("argument 'x'") && e.message.contains("not valid JavaScript"), "{e}");
        let e = err(json!({"modules": [{"id": "w", "value": {"type": "whileloopflow", "modules": []}}]}));
        assert!(e.message.contains("stop_after_if"), "{e}");
        let e = err(json!({"modules": [ident("a")], "early_return": "zz"}));
        assert!(e.message.contains("early_return"), "{e}");
        let e = err(json!({"modules": [{"id": "p", "value": {"type": "script", "path": "Not A Path"}}]}));
        assert_eq!(e.module.as_deref(), Some("p"));
        assert!(validate(&json!({"modules": [ident("a"), {"id": "b", "value": {"type": "identity"},
            "skip_if": {"expr": "results.a === 1"}}], "early_return": "a"}))
        .is_ok());
    }
}
