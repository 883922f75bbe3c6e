//! Where a module list sits inside a flow's value.
//!
//! A flow run executes one module list: the flow's top-level modules, or a
//! list nested in a container module (a loop's body, a branch, a default).
//! The list is named by a *node*: `""` for the top level, `"{id}/loop"`,
//! `"{id}/branch/{n}"`, `"{id}/default"`, and `"failure"` for the failure
//! module. Module ids are unique in a flow (checked when it is saved), so a
//! node needs no longer path.

use orvanta_core::openflow::{FlowModule, FlowValue, ModuleValue};

/// The node of a loop body.
pub fn loop_node(id: &str) -> String {
    format!("{id}/loop")
}

/// The node of branch `n` of a `branchone` or `branchall`.
pub fn branch_node(id: &str, n: usize) -> String {
    format!("{id}/branch/{n}")
}

/// The node of a `branchone`'s default.
pub fn default_node(id: &str) -> String {
    format!("{id}/default")
}

/// The node of the failure module.
pub const FAILURE_NODE: &str = "failure";

/// The module list a node names, or `None` when the flow has no such list.
pub fn list<'a>(flow: &'a FlowValue, node: &str) -> Option<&'a [FlowModule]> {
    if node.is_empty() {
        return Some(&flow.modules);
    }
    if node == FAILURE_NODE {
        return flow.failure_module.as_deref().map(std::slice::from_ref);
    }
    let (id, rest) = node.split_once('/')?;
    let container = flow.all_modules().into_iter().find(|m| m.id == id)?;
    match (&container.value, rest) {
        (ModuleValue::ForLoop { modules, .. } | ModuleValue::WhileLoop { modules, .. }, "loop") => Some(modules),
        (ModuleValue::BranchOne { default, .. }, "default") => Some(default),
        (ModuleValue::BranchOne { branches, .. } | ModuleValue::BranchAll { branches, .. }, r) => {
            let n: usize = r.strip_prefix("branch/")?.parse().ok()?;
            branches.get(n).map(|b| b.modules.as_slice())
        }
        _ => None,
    }
}

/// The module with this id in the list a node names.
pub fn module<'a>(flow: &'a FlowValue, node: &str, id: &str) -> Option<&'a FlowModule> {
    list(flow, node)?.iter().find(|m| m.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nodes_name_nested_lists() {
        let flow = FlowValue::parse(&json!({"modules": [
            {"id": "l", "value": {"type": "forloopflow", "iterator": {"type": "static", "value": []},
              "modules": [{"id": "in", "value": {"type": "identity"}}]}},
            {"id": "b", "value": {"type": "branchone", "branches": [{"expr": "true", "modules": [
              {"id": "b0", "value": {"type": "identity"}}]}], "default": [{"id": "d0", "value": {"type": "identity"}}]}}
        ], "failure_module": {"id": "f", "value": {"type": "identity"}}}))
        .unwrap();
        assert_eq!(list(&flow, "").unwrap().len(), 2);
        assert_eq!(list(&flow, &loop_node("l")).unwrap()[0].id, "in");
        assert_eq!(list(&flow, &branch_node("b", 0)).unwrap()[0].id, "b0");
        assert_eq!(list(&flow, &default_node("b")).unwrap()[0].id, "d0");
        assert_eq!(list(&flow, FAILURE_NODE).unwrap()[0].id, "f");
        assert!(list(&flow, &branch_node("b", 1)).is_none());
        assert!(list(&flow, "nope/loop").is_none());
        assert_eq!(module(&flow, &loop_node("l"), "in").unwrap().id, "in");
    }
}
