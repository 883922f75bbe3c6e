//! Does an inbound event satisfy a waiting `waitforwebhook` step? The step's `matches` are JSONPaths with values
//! resolved when the step started; the event matches when every path's first match equals its value.
//!
//! Equality is JSON equality with two allowances, because resolved values often come from elsewhere (a flow input,
//! a query parameter) than the event's own JSON:
//! - numbers compare by value (`1` equals `1.0`);
//! - a string equals a number or boolean whose JSON text it is (`"42"` equals `42`, `"true"` equals `true`), on
//!   either side.
//!
//! Arrays follow Conductor: when the path yields an array and the wanted value is not one, the array's first
//! element is compared (so `$.tags` wanted `"urgent"` matches `["urgent", "billing"]`, not `["billing", "urgent"]`).
//! A wanted array compares with the whole array. Strings compare exactly (no trimming, no case folding). A path
//! that matches nothing never matches, not even a wanted `null`. An empty list of matches holds for every event.

use serde_json::Value;

use crate::jsonpath::Path;

/// How deep equality descends into nested values before giving up (as unequal).
const MAX_DEPTH: usize = 128;

/// True when every path's first match in `event` equals its wanted value (see the module documentation).
pub fn matches(event: &Value, wanted: &[(Path, Value)]) -> bool {
    wanted.iter().all(|(path, want)| path.first(event).is_some_and(|got| matches_one(got, want)))
}

fn matches_one(got: &Value, want: &Value) -> bool {
    if equal(got, want, 0) {
        return true;
    }
    match got {
        Value::Array(items) if !want.is_array() => items.first().is_some_and(|first| equal(first, want, 0)),
        _ => false,
    }
}

fn equal(a: &Value, b: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::String(s), other @ (Value::Number(_) | Value::Bool(_)))
        | (other @ (Value::Number(_) | Value::Bool(_)), Value::String(s)) => {
            let text = other.to_string();
            *s == text
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y, depth + 1))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w, depth + 1)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn wanted(list: &[(&str, Value)]) -> Vec<(Path, Value)> {
        list.iter().map(|(p, v)| (Path::parse(p).unwrap(), v.clone())).collect()
    }

    fn event() -> Value {
        json!({
            "event": {"type": "message", "channel": "C1"},
            "data": {"orderId": 42, "total": 10.5, "paid": true, "tags": ["urgent", "billing"], "note": null,
                     "lines": [{"sku": "a"}], "where": {"city": "Oslo", "zip": 150}},
        })
    }

    fn holds(list: &[(&str, Value)]) -> bool {
        matches(&event(), &wanted(list))
    }

    #[test]
    fn every_path_must_hold() {
        assert!(holds(&[("$['event']['type']", json!("message")), ("$.data.orderId", json!(42))]));
        assert!(!holds(&[("$['event']['type']", json!("message")), ("$.data.orderId", json!(43))]));
        assert!(!holds(&[("$.event.type", json!("Message"))]));
        assert!(!holds(&[("$.event.type", json!("message "))]));
        assert!(holds(&[]));
    }

    #[test]
    fn strings_equal_the_text_of_numbers_and_booleans() {
        assert!(holds(&[("$.data.orderId", json!("42"))]));
        assert!(holds(&[("$.data.total", json!("10.5"))]));
        assert!(holds(&[("$.data.paid", json!("true"))]));
        assert!(!holds(&[("$.data.paid", json!("yes"))]));
        assert!(holds(&[("$.data.orderId", json!(42.0))]));
        let text_event = json!({"id": "42"});
        assert!(matches(&text_event, &wanted(&[("$.id", json!(42))])));
        assert!(!matches(&text_event, &wanted(&[("$.id", json!(true))])));
    }

    #[test]
    fn arrays_compare_their_first_element_unless_an_array_is_wanted() {
        assert!(holds(&[("$.data.tags", json!("urgent"))]));
        assert!(!holds(&[("$.data.tags", json!("billing"))]));
        assert!(holds(&[("$.data.tags", json!(["urgent", "billing"]))]));
        assert!(!holds(&[("$.data.tags", json!(["billing", "urgent"]))]));
        assert!(holds(&[("$.data.lines", json!({"sku": "a"}))]));
        assert!(holds(&[("$.data.tags[*]", json!("urgent"))]));
        assert!(!matches(&json!({"empty": []}), &wanted(&[("$.empty", json!(null))])));
    }

    #[test]
    fn objects_and_null() {
        assert!(holds(&[("$.data.where", json!({"zip": "150", "city": "Oslo"}))]));
        assert!(!holds(&[("$.data.where", json!({"city": "Oslo"}))]));
        assert!(holds(&[("$.data.note", json!(null))]));
        assert!(!holds(&[("$.data.missing", json!(null))]));
    }

    #[test]
    fn deep_values_do_not_recurse_without_bound() {
        let mut deep = json!(1);
        for _ in 0..(MAX_DEPTH + 10) {
            deep = Value::Array(vec![deep]);
        }
        let event = json!({"v": deep.clone()});
        assert!(!matches(&event, &[(Path::parse("$.v").unwrap(), deep)]));
    }
}
