//! Python signatures.

use super::{names, param, schema, sig};
use crate::schema::{parse_main, SchemaError};
use orvanta_core::Language;
use serde_json::json;

fn py(code: &str) -> crate::schema::MainSignature {
    sig(Language::Python3, code)
}

#[test]
fn reads_the_documented_example() {
    let s = py("def main(a: int, b: str = \"x\", c: list[int] | None = None, **kwargs):\n    return a\n");
    assert_eq!(names(&s), ["a", "b", "c"]);
    assert!(s.accepts_extra);
    assert!(!s.is_async);

    let a = param(&s, "a");
    assert_eq!(a.schema, json!({"type": "integer"}));
    assert!(a.required && !a.has_default && a.default.is_none());

    let b = param(&s, "b");
    assert_eq!(b.schema, json!({"type": "string"}));
    assert_eq!(b.default, Some(json!("x")));
    assert!(b.has_default && !b.required);

    let c = param(&s, "c");
    assert_eq!(c.schema, json!({"type": "array", "items": {"type": "integer"}}));
    assert_eq!(c.default, Some(json!(null)));
    assert!(c.has_default && !c.required);
}

#[test]
fn async_and_decorated_main() {
    let s = py("import functools\n\n@functools.cache\nasync def main(x: float):\n    pass\n");
    assert!(s.is_async);
    assert_eq!(names(&s), ["x"]);
    assert_eq!(schema(&s, "x"), json!({"type": "number"}));
}

#[test]
fn typing_forms() {
    let s = py(r#"
from typing import Any, Dict, List, Literal, Optional, Union
import typing
from datetime import datetime

def main(
    a: List[int],
    b: Dict[str, Any],
    c: dict,
    d: Union[int, str],
    e: Any,
    f: bool,
    g: bytes,
    h: list,
    i,
    j: Literal["a", "b"],
    k: datetime,
    l: typing.List[str],
    m: list[dict[str, int]],
    n: Literal[1, -2],
    o: "int",
    p: datetime.datetime,
    q: tuple[int, ...],
    r: Union[Literal["x"], Literal["y"]],
    s: Literal[Color.RED, "x"],
):
    pass
"#);
    let expected = [
        ("a", json!({"type": "array", "items": {"type": "integer"}})),
        ("b", json!({"type": "object"})),
        ("c", json!({"type": "object"})),
        ("d", json!({"anyOf": [{"type": "integer"}, {"type": "string"}]})),
        ("e", json!({})),
        ("f", json!({"type": "boolean"})),
        ("g", json!({"type": "string", "contentEncoding": "base64"})),
        ("h", json!({"type": "array"})),
        ("i", json!({})),
        ("j", json!({"type": "string", "enum": ["a", "b"]})),
        ("k", json!({"type": "string", "format": "date-time"})),
        ("l", json!({"type": "array", "items": {"type": "string"}})),
        ("m", json!({"type": "array", "items": {"type": "object"}})),
        ("n", json!({"type": "integer", "enum": [1, -2]})),
        ("o", json!({"type": "integer"})),
        ("p", json!({"type": "string", "format": "date-time"})),
        ("q", json!({"type": "array", "items": {"type": "integer"}})),
        ("r", json!({"type": "string", "enum": ["x", "y"]})),
        ("s", json!({})),
    ];
    for (name, want) in expected {
        assert_eq!(schema(&s, name), want, "parameter {name}");
        assert!(param(&s, name).required, "parameter {name}");
    }
}

/// `Optional[X]` without a default is not required: Orvanta passes `None`.
#[test]
fn optional_without_default_is_not_required() {
    let s = py("def main(a: Optional[str], b: int | None, c: Union[int, None]):\n    pass\n");
    for name in ["a", "b", "c"] {
        let p = param(&s, name);
        assert!(!p.required && !p.has_default, "parameter {name}");
        assert_eq!(p.default, Some(json!(null)), "parameter {name}");
    }
    assert_eq!(schema(&s, "a"), json!({"type": "string"}));
    assert_eq!(schema(&s, "b"), json!({"type": "integer"}));
    assert_eq!(schema(&s, "c"), json!({"type": "integer"}));

    let s = py("def main(a: int | str | None = 1, b: list[int] | None):\n    pass\n");
    assert_eq!(schema(&s, "a"), json!({"anyOf": [{"type": "integer"}, {"type": "string"}]}));
    assert_eq!(param(&s, "a").default, Some(json!(1)));
    assert_eq!(schema(&s, "b"), json!({"type": "array", "items": {"type": "integer"}}));
    assert!(!param(&s, "b").required);
}

#[test]
fn s3_objects() {
    let s3 = json!({"type": "object", "format": "s3object", "properties": {"s3": {"type": "string"}}});
    let s = py("import orvanta\nfrom orvanta import S3Object\ndef main(a: orvanta.S3Object, b: S3Object, c: List[orvanta.S3Object]):\n    pass\n");
    assert_eq!(schema(&s, "a"), s3);
    assert_eq!(schema(&s, "b"), s3);
    assert_eq!(schema(&s, "c"), json!({"type": "array", "items": s3}));
}

#[test]
fn literal_defaults() {
    let s = py(
        r#"def main(a=-3, b=2.5, c=None, d=True, e=[1, "x", None], f={"k": {"n": [False]}}, g='it\'s\n', h=0x1F, i=1_000, j=(1, 2), k=-0.5, l="a" "b", m=r"\d"):
    pass
"#,
    );
    let expected = [
        ("a", json!(-3)),
        ("b", json!(2.5)),
        ("c", json!(null)),
        ("d", json!(true)),
        ("e", json!([1, "x", null])),
        ("f", json!({"k": {"n": [false]}})),
        ("g", json!("it's\n")),
        ("h", json!(31)),
        ("i", json!(1000)),
        ("j", json!([1, 2])),
        ("k", json!(-0.5)),
        ("l", json!("ab")),
        ("m", json!("\\d")),
    ];
    for (name, want) in expected {
        let p = param(&s, name);
        assert_eq!(p.default, Some(want), "parameter {name}");
        assert!(p.has_default && !p.required, "parameter {name}");
    }
    // Without an annotation, the schema follows the default.
    assert_eq!(schema(&s, "a"), json!({"type": "integer"}));
    assert_eq!(schema(&s, "b"), json!({"type": "number"}));
    assert_eq!(schema(&s, "c"), json!({}));
    assert_eq!(schema(&s, "e"), json!({"type": "array"}));
    assert_eq!(schema(&s, "f"), json!({"type": "object"}));
}

#[test]
fn non_literal_defaults_are_known_but_not_converted() {
    let s = py(
        "import os\ndef main(a: str = os.environ.get('X'), b=f\"{1}\", c: bytes = b\"x\", d=1j, e=[x]):\n    pass\n",
    );
    for name in ["a", "b", "c", "d", "e"] {
        let p = param(&s, name);
        assert!(p.has_default && !p.required && p.default.is_none(), "parameter {name}");
    }
}

#[test]
fn keyword_only_and_star_args() {
    let s = py("def main(a, *args, b: int, c: int = 2, **kw):\n    pass\n");
    assert_eq!(names(&s), ["a", "b", "c"]);
    assert!(s.accepts_extra);
    assert!(param(&s, "b").required);

    let s = py("def main(a, *, b: int):\n    pass\n");
    assert_eq!(names(&s), ["a", "b"]);
    assert!(!s.accepts_extra);

    let s = py("def main(a, /, b, *args: int, **kw: Any) -> dict:\n    pass\n");
    assert_eq!(names(&s), ["a", "b"]);
    assert!(s.accepts_extra);
}

#[test]
fn only_the_top_level_main_counts() {
    let code = "class A:\n    def main(self, x): pass\n\ndef helper():\n    def main(y): pass\n\ndef main(z: str):\n    pass\n";
    assert_eq!(names(&py(code)), ["z"]);

    let only_nested = "class A:\n    def main(self, x): pass\n\ndef outer():\n    def main(y): pass\n";
    assert_eq!(parse_main(Language::Python3, only_nested), Err(SchemaError::NoMain { language: Language::Python3 }));
    // The last definition is the one Python binds.
    assert_eq!(names(&py("def main(a): pass\ndef main(b): pass\n")), ["b"]);
}

#[test]
fn code_around_main_is_fine() {
    let code = "import json\nimport orvanta\n\nX = 3\n\ndef helper(v):\n    return v * 2\n\ndef main(n: int = X):\n    return helper(n)\n\nif __name__ == '__main__':\n    main()\n";
    let s = py(code);
    assert_eq!(names(&s), ["n"]);
    assert!(param(&s, "n").has_default && param(&s, "n").default.is_none());
}

#[test]
fn no_main_says_what_to_write() {
    let error = parse_main(Language::Python3, "def run(x):\n    pass\n").unwrap_err();
    assert_eq!(error, SchemaError::NoMain { language: Language::Python3 });
    assert!(error.to_string().contains("def main("), "{error}");
    assert!(parse_main(Language::Python3, "").is_err());
    assert!(parse_main(Language::Python3, "main = lambda x: x\n").is_err());
}

#[test]
fn syntax_errors_elsewhere_do_not_hide_main() {
    let s = py("x = (\ndef main(a: int):\n    pass\n");
    assert_eq!(names(&s), ["a"]);
}

#[test]
fn a_broken_parameter_list_is_a_syntax_error() {
    let error = parse_main(Language::Python3, "import os\ndef main(a: int, b: = 3):\n    pass\n").unwrap_err();
    match error {
        SchemaError::Syntax { line, message } => {
            assert_eq!(line, 2);
            assert!(message.contains("parameters of `main`"), "{message}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}
