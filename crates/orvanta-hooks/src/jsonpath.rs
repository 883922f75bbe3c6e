//! A small JSONPath of our own, for `waitforwebhook` matches and idempotency keys:
//!
//! - `$` the root; `.name` and `['name']` / `["name"]` a member (`\\`, `\'`, `\"` escape inside quotes);
//! - `[N]` an array element, negative counting from the end (`[-1]` is the last);
//! - `.*` and `[*]` every member or element;
//! - `..name`, `..*`, `..[...]` the same selections applied to a node and all its descendants, in document order.
//!
//! No filters, slices or unions. Limits keep hostile paths and documents cheap: a path has at most
//! [`MAX_PATH_LEN`] bytes and [`MAX_SEGMENTS`] segments, and an evaluation stops after [`MAX_VISITS`] nodes
//! (answering what it found so far). Evaluation walks descendants with an explicit stack, never recursion.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// The longest path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 1024;
/// The most segments (`.name`, `[0]`, ...) a path may have.
pub const MAX_SEGMENTS: usize = 64;
/// The most nodes one evaluation visits or selects before it stops.
pub const MAX_VISITS: usize = 1_000_000;

/// A parsed path. `Display` gives back the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Select from the current nodes.
    Child(Selector),
    /// Select from the current nodes and all their descendants.
    Descendant(Selector),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    Name(String),
    Index(i64),
    Wildcard,
}

/// Why a path does not parse: where (a byte offset into the text given), what was expected there, and what was
/// found (`None`: the end of the path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PathError {
    pub position: usize,
    pub expected: &'static str,
    pub found: Option<char>,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: expected {}", self.position, self.expected)?;
        match self.found {
            Some(c) => write!(f, ", found `{}`", c.escape_debug()),
            None => f.write_str(", found the end"),
        }
    }
}

impl PathError {
    /// The same error, `by` bytes further on (for a path embedded in a longer text).
    pub(crate) fn shifted(self, by: usize) -> PathError {
        PathError { position: self.position + by, ..self }
    }
}

impl Path {
    /// Parses `text`, which starts with `$`.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        if text.len() > MAX_PATH_LEN {
            let found = text.char_indices().find(|(i, _)| *i >= MAX_PATH_LEN).map(|(_, c)| c);
            return Err(PathError { position: MAX_PATH_LEN, expected: "the path to end within 1024 bytes", found });
        }
        let mut parser = Parser { text, pos: 0 };
        parser.eat('$').then_some(()).ok_or_else(|| parser.error("`$` at the start"))?;
        let mut segments = Vec::new();
        while parser.peek().is_some() {
            if segments.len() == MAX_SEGMENTS {
                return Err(parser.error("the path to end within 64 segments"));
            }
            segments.push(parser.segment()?);
        }
        Ok(Path { text: text.to_owned(), segments })
    }

    /// The text the path was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first match in document order, if any.
    pub fn first<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        self.all(root).into_iter().next()
    }

    /// Every match, in document order (descendants in pre-order). Stops early past [`MAX_VISITS`] nodes.
    pub fn all<'v>(&self, root: &'v Value) -> Vec<&'v Value> {
        let mut budget = MAX_VISITS;
        let mut current = vec![root];
        for segment in &self.segments {
            let mut next = Vec::new();
            for node in current {
                match segment {
                    Segment::Child(selector) => select(selector, node, &mut next, &mut budget),
                    Segment::Descendant(selector) => {
                        let mut stack = vec![node];
                        while let Some(n) = stack.pop() {
                            if budget == 0 {
                                break;
                            }
                            budget -= 1;
                            select(selector, n, &mut next, &mut budget);
                            match n {
                                Value::Array(items) => stack.extend(items.iter().rev()),
                                Value::Object(members) => stack.extend(members.values().rev()),
                                _ => {}
                            }
                        }
                    }
                }
                if budget == 0 {
                    break;
                }
            }
            current = next;
        }
        current
    }
}

fn select<'v>(selector: &Selector, node: &'v Value, out: &mut Vec<&'v Value>, budget: &mut usize) {
    let push = |v: &'v Value| {
        if *budget > 0 {
            *budget -= 1;
            out.push(v);
        }
    };
    match (selector, node) {
        (Selector::Name(name), Value::Object(members)) => members.get(name).into_iter().for_each(push),
        (Selector::Index(i), Value::Array(items)) => {
            let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
            let at = if *i < 0 { len.checked_add(*i) } else { Some(*i) };
            at.and_then(|at| usize::try_from(at).ok()).and_then(|at| items.get(at)).into_iter().for_each(push);
        }
        (Selector::Wildcard, Value::Array(items)) => items.iter().for_each(push),
        (Selector::Wildcard, Value::Object(members)) => members.values().for_each(push),
        _ => {}
    }
}

impl FromStr for Path {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Path::parse(s)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

struct Parser<'t> {
    text: &'t str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        let matched = self.peek() == Some(c);
        if matched {
            self.pos += c.len_utf8();
        }
        matched
    }

    fn error(&self, expected: &'static str) -> PathError {
        PathError { position: self.pos, expected, found: self.peek() }
    }

    fn segment(&mut self) -> Result<Segment, PathError> {
        if self.eat('.') {
            if self.eat('.') {
                let selector = match self.peek() {
                    Some('[') => self.bracket()?,
                    _ => self.dotted("a name, `*` or `[` after `..`")?,
                };
                return Ok(Segment::Descendant(selector));
            }
            return Ok(Segment::Child(self.dotted("a name or `*` after `.`")?));
        }
        if self.peek() == Some('[') {
            return Ok(Segment::Child(self.bracket()?));
        }
        Err(self.error("`.` or `[`"))
    }

    /// `*` or a name after a dot.
    fn dotted(&mut self, expected: &'static str) -> Result<Selector, PathError> {
        if self.eat('*') {
            return Ok(Selector::Wildcard);
        }
        let start = self.pos;
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_' || *c == '-') {
            self.pos += c.len_utf8();
        }
        if self.pos == start {
            return Err(self.error(expected));
        }
        Ok(Selector::Name(self.text[start..self.pos].to_owned()))
    }

    /// `[...]`: a quoted name, an index or `*`, spaces allowed inside the brackets.
    fn bracket(&mut self) -> Result<Selector, PathError> {
        self.eat('[');
        self.skip_spaces();
        let selector = match self.peek() {
            Some(quote @ ('\'' | '"')) => {
                self.pos += 1;
                Selector::Name(self.quoted(quote)?)
            }
            Some('*') => {
                self.pos += 1;
                Selector::Wildcard
            }
            Some('-' | '0'..='9') => Selector::Index(self.index()?),
            _ => return Err(self.error("a quoted name, an index or `*` after `[`")),
        };
        self.skip_spaces();
        if !self.eat(']') {
            return Err(self.error("`]`"));
        }
        Ok(selector)
    }

    fn quoted(&mut self, quote: char) -> Result<String, PathError> {
        let mut name = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error("the closing quote")),
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(name);
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ ('\\' | '\'' | '"')) => {
                            self.pos += 1;
                            name.push(c);
                        }
                        _ => return Err(self.error("`\\`, `'` or `\"` after `\\`")),
                    }
                }
                Some(c) => {
                    self.pos += c.len_utf8();
                    name.push(c);
                }
            }
        }
    }

    fn index(&mut self) -> Result<i64, PathError> {
        let negative = self.eat('-');
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = &self.text[start..self.pos];
        if digits.is_empty() {
            return Err(self.error("digits of an index"));
        }
        match digits.parse::<i64>() {
            Ok(n) if digits.len() <= 18 => Ok(if negative { -n } else { n }),
            _ => Err(PathError {
                position: start,
                expected: "an index of at most 18 digits",
                found: digits.chars().next(),
            }),
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(' ') {
            self.pos += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc() -> Value {
        json!({
            "event": {"type": "message", "id": "Ev1", "user": {"id": "U1"}},
            "data": {"orderId": 42, "items": [{"id": "a", "qty": 1}, {"id": "b", "qty": 2}, {"id": "c", "qty": 3}]},
            "odd keys": {"a.b": 1, "it's": 2, "q\"": 3, "": 4, "ключ": 5},
        })
    }

    fn all(path: &str) -> Vec<Value> {
        Path::parse(path).unwrap().all(&doc()).into_iter().cloned().collect()
    }

    fn first(path: &str) -> Option<Value> {
        Path::parse(path).unwrap().first(&doc()).cloned()
    }

    #[test]
    fn members_and_indexes() {
        assert_eq!(first("$"), Some(doc()));
        assert_eq!(first("$.event.type"), Some(json!("message")));
        assert_eq!(first("$['event']['type']"), Some(json!("message")));
        assert_eq!(first(r#"$["event"].user["id"]"#), Some(json!("U1")));
        assert_eq!(first("$.data.items[1].id"), Some(json!("b")));
        assert_eq!(first("$.data.items[ -1 ].id"), Some(json!("c")));
        assert_eq!(first("$.data.items[-3].id"), Some(json!("a")));
        assert_eq!(first("$.data.items[-4]"), None);
        assert_eq!(first("$.data.items[3]"), None);
        assert_eq!(first("$.data.items[999999999999999999]"), None);
        assert_eq!(first("$.data.items[-999999999999999999]"), None);
        assert_eq!(first("$.event.missing"), None);
        assert_eq!(first("$.event.type.deeper"), None);
        assert_eq!(first("$.event[0]"), None);
        assert_eq!(first("$.data.items.id"), None);
    }

    #[test]
    fn quoted_names_take_anything() {
        assert_eq!(first("$['odd keys']['a.b']"), Some(json!(1)));
        assert_eq!(first(r"$['odd keys']['it\'s']"), Some(json!(2)));
        assert_eq!(first(r#"$["odd keys"]["it's"]"#), Some(json!(2)));
        assert_eq!(first(r#"$['odd keys']['q"']"#), Some(json!(3)));
        assert_eq!(first(r#"$['odd keys']["q\""]"#), Some(json!(3)));
        assert_eq!(first("$['odd keys']['']"), Some(json!(4)));
        assert_eq!(first("$['odd keys'].ключ"), Some(json!(5)));
    }

    #[test]
    fn wildcards_and_descent() {
        assert_eq!(all("$.data.items[*].id"), vec![json!("a"), json!("b"), json!("c")]);
        assert_eq!(all("$.data.items.*.qty"), vec![json!(1), json!(2), json!(3)]);
        assert_eq!(all("$.event.*").len(), 3);
        assert_eq!(all("$..id"), vec![json!("Ev1"), json!("U1"), json!("a"), json!("b"), json!("c")]);
        assert_eq!(first("$..qty"), Some(json!(1)));
        assert_eq!(all("$..items[0].id"), vec![json!("a")]);
        assert_eq!(all("$.data..[2]"), vec![json!({"id": "c", "qty": 3})]);
        assert_eq!(all("$..['a.b']"), vec![json!(1)]);
        assert_eq!(all("$.event..*"), vec![json!("message"), json!("Ev1"), json!({"id": "U1"}), json!("U1")]);
        assert!(all("$.nothing..id").is_empty());
    }

    #[test]
    fn display_gives_back_the_text() {
        let p: Path = "$['a'].b[0]".parse().unwrap();
        assert_eq!(p.to_string(), "$['a'].b[0]");
        assert_eq!(p.as_str(), "$['a'].b[0]");
    }

    #[test]
    fn bad_paths_say_where_and_what_was_expected() {
        let err = |text: &str| Path::parse(text).unwrap_err().to_string();
        assert_eq!(err(""), "at byte 0: expected `$` at the start, found the end");
        assert_eq!(err("event.id"), "at byte 0: expected `$` at the start, found `e`");
        assert_eq!(err("$event"), "at byte 1: expected `.` or `[`, found `e`");
        assert_eq!(err("$."), "at byte 2: expected a name or `*` after `.`, found the end");
        assert_eq!(err("$.a..."), "at byte 5: expected a name, `*` or `[` after `..`, found `.`");
        assert_eq!(err("$.a b"), "at byte 3: expected `.` or `[`, found ` `");
        assert_eq!(err("$["), "at byte 2: expected a quoted name, an index or `*` after `[`, found the end");
        assert_eq!(err("$[a]"), "at byte 2: expected a quoted name, an index or `*` after `[`, found `a`");
        assert_eq!(err("$['a'"), "at byte 5: expected `]`, found the end");
        assert_eq!(err("$['a"), "at byte 4: expected the closing quote, found the end");
        assert_eq!(err(r"$['a\n']"), "at byte 5: expected `\\`, `'` or `\"` after `\\`, found `n`");
        assert_eq!(err("$[-]"), "at byte 3: expected digits of an index, found `]`");
        assert_eq!(err("$[1.5]"), "at byte 3: expected `]`, found `.`");
        assert_eq!(err("$[1:2]"), "at byte 3: expected `]`, found `:`");
        assert_eq!(err("$[?(@.a)]"), "at byte 2: expected a quoted name, an index or `*` after `[`, found `?`");
        assert_eq!(err("$[9999999999999999999]"), "at byte 2: expected an index of at most 18 digits, found `9`");
        assert_eq!(err("$.a\u{0}"), "at byte 3: expected `.` or `[`, found `\\0`");
    }

    #[test]
    fn random_paths_parse_or_fail_without_panic() {
        // A fixed linear congruential generator: the same 20,000 strings on every run.
        let alphabet: Vec<char> = "$.[]*'\"\\-0123456789ab é}".chars().collect();
        let mut seed: u64 = 0x5eed;
        let doc = doc();
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let len = (seed >> 59) as usize;
            let text: String = (0..len)
                .map(|i| {
                    let r = seed.rotate_left(7 * i as u32 + 3);
                    alphabet[(r % alphabet.len() as u64) as usize]
                })
                .collect();
            let text = format!("${text}");
            match Path::parse(&text) {
                Ok(path) => {
                    path.all(&doc);
                }
                Err(e) => assert!(e.position <= text.len(), "{text:?}: {e}"),
            }
        }
    }

    #[test]
    fn hostile_paths_hit_the_limits() {
        let long = format!("$.{}", "a".repeat(MAX_PATH_LEN));
        let e = Path::parse(&long).unwrap_err();
        assert_eq!((e.position, e.expected), (MAX_PATH_LEN, "the path to end within 1024 bytes"));
        let multibyte = format!("$['{}']", "é".repeat(600));
        assert!(Path::parse(&multibyte).is_err());
        let many = format!("${}", ".a".repeat(MAX_SEGMENTS + 1));
        let e = Path::parse(&many).unwrap_err();
        assert_eq!((e.position, e.expected), (1 + 2 * MAX_SEGMENTS, "the path to end within 64 segments"));
        assert!(Path::parse(&format!("${}", ".a".repeat(MAX_SEGMENTS))).is_ok());
    }

    #[test]
    fn hostile_documents_stay_within_the_budget() {
        // Nested descents over a wide document would be cubic; the budget stops them.
        let wide = Value::Array((0..2000).map(|i| json!({"a": [i, [i], {"a": i}]})).collect());
        let p = Path::parse("$..*..*..*..a").unwrap();
        assert!(p.all(&wide).len() <= MAX_VISITS);
        // Deep nesting is walked without recursion.
        let mut deep = json!(1);
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        assert_eq!(Path::parse("$..[0]").unwrap().all(&deep).len(), 100_000);
        // Values this deep would overflow the stack when dropped; leak it instead.
        std::mem::forget(deep);
    }
}
