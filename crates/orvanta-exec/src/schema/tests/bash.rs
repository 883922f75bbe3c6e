//! Bash positional arguments.

use super::{names, param, sig};
use crate::schema::MainSignature;
use orvanta_core::Language;
use serde_json::json;

fn bash(code: &str) -> MainSignature {
    sig(Language::Bash, code)
}

#[test]
fn reads_positional_variables() {
    let s = bash("#!/bin/bash\nset -e\nname=\"$1\"\ncount=\"${2:-3}\"\nx=$3\necho \"$name $count $x\"\n");
    assert_eq!(names(&s), ["name", "count", "x"]);
    assert!(!s.accepts_extra && !s.is_async);
    for p in &s.params {
        assert_eq!(p.schema, json!({"type": "string"}));
    }
    assert!(param(&s, "name").required);
    let count = param(&s, "count");
    assert_eq!(count.default, Some(json!("3")));
    assert!(count.has_default && !count.required);
    assert!(param(&s, "x").required);
}

#[test]
fn ordered_by_position_first_assignment_wins() {
    let s = bash("b=\"$2\"\na=\"$1\"\nb2=\"$2\"\nfunction f() {\n  local c=\"${3}\"\n}\n");
    assert_eq!(names(&s), ["a", "b", "c"]);
}

#[test]
fn defaults() {
    let s = bash("a=\"${1:-\"hello world\"}\" # the greeting\nb=${2-x}\nc=\"${3:-$HOME}\"\nd=\"${4:-}\"\n");
    assert_eq!(param(&s, "a").default, Some(json!("hello world")));
    assert_eq!(param(&s, "b").default, Some(json!("x")));
    let c = param(&s, "c");
    assert!(c.has_default && c.default.is_none() && !c.required);
    assert_eq!(param(&s, "d").default, Some(json!("")));

    let s = bash("a=\"${1:?give a name}\"\n");
    assert!(param(&s, "a").required);
}

#[test]
fn gaps_keep_positions() {
    let s = bash("a=\"$1\"\nc=\"$3\"\n");
    assert_eq!(names(&s), ["a", "arg2", "c"]);
    assert!(!param(&s, "arg2").required);
}

#[test]
fn no_positional_arguments_means_no_parameters() {
    for code in ["", "echo hello\n", "x=$12\ny=\"$1x\"\nz='$1'\n# a=\"$1\"\nself=\"$0\"\n"] {
        let s = bash(code);
        assert!(s.params.is_empty(), "{code:?} gave {s:?}");
    }
}
