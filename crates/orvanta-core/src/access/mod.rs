//! Who may do what: a user's [`Role`] in a workspace, the [`Scope`]s a
//! token carries, and the [`Perm`] a folder or an item grants. The server's
//! `authz` module combines them into one answer per request.

mod scope;

pub use scope::Scope;

use serde::{Deserialize, Serialize};

/// A user's role in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything in the workspace.
    Admin,
    /// Can write scripts and flows, and run them.
    Developer,
    /// Can run and read only.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Developer => "developer",
            Self::Operator => "operator",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "developer" => Some(Self::Developer),
            "operator" => Some(Self::Operator),
            _ => None,
        }
    }
}

/// What a folder, an item's `extra_perms` or a path's owner grants on a
/// path: ordered, so that the strongest of several grants is their `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Perm {
    None,
    Read,
    Write,
}

/// One entry of an ACL: `u/{username}` or `g/{group}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Grantee {
    User(String),
    Group(String),
}

impl Grantee {
    /// Parses `u/{name}` or `g/{name}`.
    pub fn parse(s: &str) -> Result<Self, crate::ParseError> {
        let bad = || {
            crate::ParseError::new(format!(
                "'{s}' is not a user or group; write u/{{username}} or g/{{group}}, e.g. u/alice or g/ops"
            ))
        };
        let (kind, name) = s.split_once('/').ok_or_else(bad)?;
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return Err(bad());
        }
        match kind {
            "u" => Ok(Self::User(name.to_owned())),
            "g" => Ok(Self::Group(name.to_owned())),
            _ => Err(bad()),
        }
    }

    /// Whether this entry names `user` or one of `groups`.
    pub fn covers(&self, user: &str, groups: &[String]) -> bool {
        match self {
            Self::User(u) => u == user,
            Self::Group(g) => groups.iter().any(|x| x == g),
        }
    }
}

/// The permission an ACL (`{"u/alice": true, "g/ops": false}`: true = writer,
/// false = reader) gives `user`, a member of `groups`.
pub fn acl_perm<'a>(acl: impl IntoIterator<Item = (&'a String, &'a bool)>, user: &str, groups: &[String]) -> Perm {
    acl.into_iter()
        .filter(|(who, _)| Grantee::parse(who).is_ok_and(|g| g.covers(user, groups)))
        .map(|(_, write)| if *write { Perm::Write } else { Perm::Read })
        .max()
        .unwrap_or(Perm::None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn acl_takes_the_strongest_grant() {
        let acl: BTreeMap<String, bool> =
            [("u/alice".to_owned(), false), ("g/ops".to_owned(), true)].into_iter().collect();
        assert_eq!(acl_perm(&acl, "alice", &[]), Perm::Read);
        assert_eq!(acl_perm(&acl, "alice", &["ops".into()]), Perm::Write);
        assert_eq!(acl_perm(&acl, "bob", &["dev".into()]), Perm::None);
        assert!(
            Grantee::parse("x/alice").is_err() && Grantee::parse("u/").is_err() && Grantee::parse("alice").is_err()
        );
        assert!(Role::Admin < Role::Operator, "Admin is the strongest and sorts first");
    }
}
