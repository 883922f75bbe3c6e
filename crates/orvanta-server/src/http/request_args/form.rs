//! `application/x-www-form-urlencoded`: each field a string argument, a
//! repeated field an array of strings.

use super::{parse_query, push_text};
use serde_json::{Map, Value};

/// The arguments of a form body.
pub(super) fn args(body: &[u8]) -> Map<String, Value> {
    let text = String::from_utf8_lossy(body);
    let mut out = Map::new();
    for (name, value) in parse_query(Some(text.trim())) {
        push_text(&mut out, &name, value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_and_repeats() {
        let args = args(b"a=1&b=x+y%21&a=2&c=&a=3");
        assert_eq!(Value::Object(args), json!({"a": ["1", "2", "3"], "b": "x y!", "c": ""}));
    }
}
