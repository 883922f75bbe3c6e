//! Token scopes: `{domain}:{action}[:{kind}][:{resource,...}]`.
//!
//! `*` stands for any domain, action, kind or resource; a resource pattern
//! ending in `/*` matches every path below that prefix, segment by segment
//! (`f/team/*` matches `f/team/a` and `f/team/a/b`, not `f/teamx/a`).

use crate::ParseError;
use std::fmt;

/// One scope, granted to a token or needed by an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    domain: String,
    action: String,
    kind: Option<String>,
    resources: Option<Vec<String>>,
}

impl Scope {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let mut parts = s.splitn(4, ':');
        let bad = || {
            ParseError::new(format!(
                "scope '{s}' is not valid; write {{domain}}:{{action}}[:{{kind}}][:{{resource,...}}], e.g. jobs:run:scripts:u/admin/hello"
            ))
        };
        let domain = parts.next().filter(|p| is_word(p)).ok_or_else(bad)?;
        let action = parts.next().filter(|p| is_word(p)).ok_or_else(bad)?;
        let kind = match parts.next() {
            Some(k) if is_word(k) => Some(k.to_owned()),
            Some(_) => return Err(bad()),
            None => None,
        };
        let resources = match parts.next() {
            Some(r) if !r.is_empty() => Some(r.split(',').map(|x| x.trim().to_owned()).collect()),
            Some(_) => return Err(bad()),
            None => None,
        };
        Ok(Self { domain: domain.to_owned(), action: action.to_owned(), kind, resources })
    }

    /// The scope an action needs: `{domain}:{action}[:{kind}[:{resource}]]`.
    pub fn needed(domain: &str, action: &str, kind: Option<&str>, resource: Option<&str>) -> Self {
        Self {
            domain: domain.to_owned(),
            action: action.to_owned(),
            kind: kind.map(str::to_owned),
            resources: resource.map(|r| vec![r.to_owned()]),
        }
    }

    /// Whether this granted scope covers `needed`.
    pub fn allows(&self, needed: &Scope) -> bool {
        let part = |g: &str, n: &str| g == "*" || g == n;
        if !part(&self.domain, &needed.domain) || !part(&self.action, &needed.action) {
            return false;
        }
        match (&self.kind, &needed.kind) {
            (None, _) => return true,
            (Some(g), Some(n)) if part(g, n) => {}
            _ => return false,
        }
        match (&self.resources, &needed.resources) {
            (None, _) => true,
            (Some(granted), Some(wanted)) => wanted.iter().all(|w| granted.iter().any(|g| resource_matches(g, w))),
            (Some(_), None) => false,
        }
    }

    /// The one runnable path this scope names, if it is a webhook-specific run scope.
    pub fn single_runnable(&self) -> Option<&str> {
        match (&self.resources, self.domain.as_str(), self.action.as_str()) {
            (Some(r), "jobs", "run") if r.len() == 1 && !r[0].contains('*') => Some(&r[0]),
            _ => None,
        }
    }
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '*')
}

fn resource_matches(pattern: &str, path: &str) -> bool {
    if pattern == "*" || pattern == path {
        return true;
    }
    match pattern.strip_suffix("/*") {
        Some(prefix) => path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/')),
        None => false,
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.domain, self.action)?;
        if let Some(k) = &self.kind {
            write!(f, ":{k}")?;
        }
        if let Some(r) = &self.resources {
            write!(f, ":{}", r.join(","))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Scope {
        Scope::parse(x).unwrap()
    }

    #[test]
    fn matching() {
        let need = Scope::needed("jobs", "run", Some("scripts"), Some("u/admin/hello"));
        assert!(s("jobs:run").allows(&need));
        assert!(s("jobs:run:scripts").allows(&need));
        assert!(s("jobs:run:scripts:u/admin/hello").allows(&need));
        assert!(s("jobs:run:scripts:u/admin/*").allows(&need));
        assert!(s("*:*").allows(&need));
        assert!(!s("jobs:run:flows").allows(&need));
        assert!(!s("jobs:run:scripts:u/admin/other").allows(&need));
        assert!(!s("jobs:run:scripts:u/adm/*").allows(&need));
        assert!(!s("jobs:read").allows(&need));
    }

    #[test]
    fn parsing() {
        assert!(Scope::parse("jobs").is_err());
        assert!(Scope::parse("jobs:run:").is_err());
        assert_eq!(s("jobs:run:scripts:u/a/b").to_string(), "jobs:run:scripts:u/a/b");
        assert_eq!(s("jobs:run:scripts:u/a/b").single_runnable(), Some("u/a/b"));
    }
}
