//! A small JSON Schema checker for resource values: the keywords resource
//! types use (`type`, `properties`, `required`, `additionalProperties`,
//! `items`, `enum`, `const`, `minimum`/`maximum`, `minLength`/`maxLength`,
//! `anyOf`/`oneOf`/`allOf`). Unknown keywords are ignored, as the
//! specification asks; the first problem is answered with where it is.

use serde_json::Value;

/// `Ok` when `value` follows `schema`; else what is wrong and where
/// (a JSON Pointer into the value).
pub fn check(schema: &Value, value: &Value) -> Result<(), String> {
    check_at(schema, value, "")
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.as_i64().is_some() || v.as_u64().is_some() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

fn check_at(schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let Some(s) = schema.as_object() else { return Ok(()) };
    let here = if at.is_empty() { "the value".to_owned() } else { format!("'{at}'") };
    match s.get("type") {
        Some(Value::String(t)) if !type_matches(t, v) => return Err(format!("{here} is not of type {t}")),
        Some(Value::Array(ts)) if !ts.iter().filter_map(Value::as_str).any(|t| type_matches(t, v)) => {
            return Err(format!("{here} is none of the types {}", Value::Array(ts.clone())));
        }
        _ => {}
    }
    if let Some(Value::Array(options)) = s.get("enum") {
        if !options.contains(v) {
            return Err(format!("{here} is not one of {}", Value::Array(options.clone())));
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            return Err(format!("{here} must be {c}"));
        }
    }
    if let Some(n) = v.as_f64() {
        if s.get("minimum").and_then(Value::as_f64).is_some_and(|m| n < m) {
            return Err(format!("{here} is below the minimum {}", s["minimum"]));
        }
        if s.get("maximum").and_then(Value::as_f64).is_some_and(|m| n > m) {
            return Err(format!("{here} is above the maximum {}", s["maximum"]));
        }
    }
    if let Some(text) = v.as_str() {
        let len = text.chars().count() as u64;
        if s.get("minLength").and_then(Value::as_u64).is_some_and(|m| len < m) {
            return Err(format!("{here} is shorter than {} characters", s["minLength"]));
        }
        if s.get("maxLength").and_then(Value::as_u64).is_some_and(|m| len > m) {
            return Err(format!("{here} is longer than {} characters", s["maxLength"]));
        }
    }
    if let Some(obj) = v.as_object() {
        if let Some(Value::Array(required)) = s.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(name) {
                    return Err(format!("{here} lacks the required property '{name}'"));
                }
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (name, child) in obj {
            let path = format!("{at}/{name}");
            match props.and_then(|p| p.get(name)) {
                Some(sub) => check_at(sub, child, &path)?,
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("'{path}' is not a property this type allows"));
                }
                None => {
                    if let Some(extra @ Value::Object(_)) = s.get("additionalProperties") {
                        check_at(extra, child, &path)?;
                    }
                }
            }
        }
    }
    if let (Some(items), Some(list)) = (s.get("items"), v.as_array()) {
        for (i, item) in list.iter().enumerate() {
            check_at(items, item, &format!("{at}/{i}"))?;
        }
    }
    if let Some(Value::Array(all)) = s.get("allOf") {
        for sub in all {
            check_at(sub, v, at)?;
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = s.get(key) {
            let passing = options.iter().filter(|o| check_at(o, v, at).is_ok()).count();
            if passing == 0 || (key == "oneOf" && passing > 1) {
                return Err(format!("{here} does not match {key} of the type's schema"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_what_resource_types_use() {
        let pg = json!({"type": "object", "required": ["host", "port"], "properties": {
            "host": {"type": "string", "minLength": 1},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "sslmode": {"type": "string", "enum": ["disable", "require"]},
            "tags": {"type": "array", "items": {"type": "string"}}
        }});
        assert!(check(&pg, &json!({"host": "db", "port": 5432, "password": "$var:u/a/pw"})).is_ok());
        assert_eq!(check(&pg, &json!({"host": "db"})).unwrap_err(), "the value lacks the required property 'port'");
        assert_eq!(
            check(&pg, &json!({"host": "db", "port": 70000})).unwrap_err(),
            "'/port' is above the maximum 65535"
        );
        assert!(check(&pg, &json!({"host": "db", "port": 1, "sslmode": "x"})).unwrap_err().contains("'/sslmode'"));
        assert!(check(&pg, &json!({"host": "db", "port": 1, "tags": ["a", 2]})).unwrap_err().contains("'/tags/1'"));
        assert!(check(&pg, &json!("text")).unwrap_err().contains("not of type object"));
        let closed = json!({"type": "object", "properties": {"a": {}}, "additionalProperties": false});
        assert!(check(&closed, &json!({"b": 1})).unwrap_err().contains("'/b'"));
        assert!(check(&json!({"anyOf": [{"type": "string"}, {"type": "null"}]}), &json!(null)).is_ok());
        assert!(check(&json!({}), &json!({"anything": true})).is_ok());
    }
}
