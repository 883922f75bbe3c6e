//! Workspaces, users, memberships and tokens.

use crate::fixtures::*;
use orvanta_store::{NewToken, Role, Store};
use std::sync::Arc;

pub async fn backend_answers(s: Arc<dyn Store>) {
    assert!(matches!(s.backend(), "sqlite" | "postgres"));
    assert_eq!(s.is_shared(), s.backend() == "postgres");
    s.ping().await.unwrap();
}

pub async fn workspaces(s: Arc<dyn Store>) {
    assert!(s.list_workspaces().await.unwrap().is_empty());
    s.create_workspace(&new_workspace("zeta")).await.unwrap();
    s.create_workspace(&new_workspace("alpha")).await.unwrap();

    let got = s.get_workspace(&ws("alpha")).await.unwrap().expect("alpha exists");
    assert_eq!((got.id.as_str(), got.name.as_str()), ("alpha", "The alpha workspace"));
    assert_eq!((got.created_by.as_str(), got.created_at), ("admin", T0));
    assert!(s.get_workspace(&ws("nope")).await.unwrap().is_none());

    let ids: Vec<String> = s.list_workspaces().await.unwrap().into_iter().map(|w| w.id.to_string()).collect();
    assert_eq!(ids, ["alpha", "zeta"]);

    let mut again = new_workspace("alpha");
    again.name = "another name".into();
    assert_conflict(s.create_workspace(&again).await, "a second workspace 'alpha'");
    assert_eq!(s.get_workspace(&ws("alpha")).await.unwrap().unwrap().name, "The alpha workspace");
}

pub async fn users_and_members(s: Arc<dyn Store>) {
    let mut alice = new_user("alice");
    alice.super_admin = true;
    s.create_user(&alice).await.unwrap();
    s.create_user(&new_user("bob")).await.unwrap();

    let got = s.get_user(&user("alice")).await.unwrap().expect("alice exists");
    assert_eq!((got.username.as_str(), got.email.as_str()), ("alice", "alice@example.com"));
    assert_eq!(got.password_hash, alice.password_hash);
    assert!(got.super_admin);
    assert_eq!(got.created_at, T0);
    assert!(!s.get_user(&user("bob")).await.unwrap().unwrap().super_admin);
    assert!(s.get_user(&user("carol")).await.unwrap().is_none());

    let mut same_name = new_user("alice");
    same_name.email = "other@example.com".into();
    assert_conflict(s.create_user(&same_name).await, "a second user 'alice'");
    let mut same_email = new_user("carol");
    same_email.email = "bob@example.com".into();
    assert_conflict(s.create_user(&same_email).await, "a second user with bob's email");

    s.create_workspace(&new_workspace("demo")).await.unwrap();
    s.create_workspace(&new_workspace("other")).await.unwrap();
    assert_eq!(s.get_role(&ws("demo"), &user("alice")).await.unwrap(), None);
    s.set_member(&ws("demo"), &user("alice"), Role::Developer).await.unwrap();
    s.set_member(&ws("other"), &user("alice"), Role::Operator).await.unwrap();
    assert_eq!(s.get_role(&ws("demo"), &user("alice")).await.unwrap(), Some(Role::Developer));
    s.set_member(&ws("demo"), &user("alice"), Role::Admin).await.unwrap();
    assert_eq!(s.get_role(&ws("demo"), &user("alice")).await.unwrap(), Some(Role::Admin));
    assert_eq!(s.get_role(&ws("other"), &user("alice")).await.unwrap(), Some(Role::Operator));
    assert_eq!(s.get_role(&ws("demo"), &user("bob")).await.unwrap(), None);
}

pub async fn member_of_unknown_workspace_or_user(s: Arc<dyn Store>) {
    s.create_workspace(&new_workspace("demo")).await.unwrap();
    s.create_user(&new_user("alice")).await.unwrap();
    assert_conflict(s.set_member(&ws("demo"), &user("ghost"), Role::Admin).await, "membership of an unknown user");
    assert_conflict(
        s.set_member(&ws("nowhere"), &user("alice"), Role::Admin).await,
        "membership of an unknown workspace",
    );
    assert_eq!(s.get_role(&ws("demo"), &user("ghost")).await.unwrap(), None);
}

fn token(hash: &str, owner: &str, created_at: i64) -> NewToken {
    NewToken {
        hash: hash.into(),
        prefix: hash[..8].into(),
        owner: user(owner),
        label: format!("label of {hash}"),
        created_at,
        expires_at: None,
        scopes: None,
        workspace: None,
        session: false,
    }
}

pub async fn tokens(s: Arc<dyn Store>) {
    s.create_user(&new_user("alice")).await.unwrap();
    s.create_user(&new_user("bob")).await.unwrap();
    let mut scoped = token("aaaaaaaa11111111", "alice", T0);
    scoped.scopes = Some(vec!["jobs:run:scripts:u/alice/*".into(), "jobs:read".into()]);
    scoped.workspace = Some(ws("demo"));
    scoped.expires_at = Some(T0 + 3_600_000);
    s.create_token(&scoped).await.unwrap();
    s.create_token(&token("bbbbbbbb22222222", "alice", T0 + 1)).await.unwrap();
    s.create_token(&token("cccccccc33333333", "bob", T0 + 2)).await.unwrap();

    let got = s.get_token("aaaaaaaa11111111").await.unwrap().expect("the token exists");
    assert_eq!((got.prefix.as_str(), got.owner.as_str()), ("aaaaaaaa", "alice"));
    assert_eq!(got.label, "label of aaaaaaaa11111111");
    assert_eq!((got.created_at, got.expires_at, got.last_used_at), (T0, Some(T0 + 3_600_000), None));
    assert_eq!(got.scopes, scoped.scopes);
    assert_eq!(got.workspace, Some(ws("demo")));
    let plain = s.get_token("bbbbbbbb22222222").await.unwrap().unwrap();
    assert_eq!((plain.scopes, plain.workspace, plain.expires_at), (None, None, None));
    assert!(s.get_token("ffffffffffffffff").await.unwrap().is_none());

    // Uses are written in batches: one statement for many tokens (an unknown hash is no error).
    let batch = ["aaaaaaaa11111111".to_owned(), "cccccccc33333333".to_owned(), "ffffffffffffffff".to_owned()];
    s.touch_tokens(&batch, T0 + 500).await.unwrap();
    s.touch_tokens(&[], T0 + 600).await.unwrap();
    assert_eq!(s.get_token("aaaaaaaa11111111").await.unwrap().unwrap().last_used_at, Some(T0 + 500));
    assert_eq!(s.get_token("cccccccc33333333").await.unwrap().unwrap().last_used_at, Some(T0 + 500));
    assert_eq!(s.get_token("bbbbbbbb22222222").await.unwrap().unwrap().last_used_at, None);

    assert_conflict(s.create_token(&token("aaaaaaaa11111111", "bob", T0)).await, "a second token with one hash");

    let mut mine: Vec<String> = s.list_tokens(&user("alice")).await.unwrap().into_iter().map(|t| t.hash).collect();
    mine.sort();
    assert_eq!(mine, ["aaaaaaaa11111111", "bbbbbbbb22222222"]);

    assert!(!s.delete_token(&user("bob"), "aaaaaaaa").await.unwrap(), "bob cannot delete alice's token");
    assert!(s.delete_token(&user("alice"), "aaaaaaaa").await.unwrap());
    assert!(!s.delete_token(&user("alice"), "aaaaaaaa").await.unwrap(), "already deleted");
    assert!(s.get_token("aaaaaaaa11111111").await.unwrap().is_none());
    assert_eq!(s.list_tokens(&user("alice")).await.unwrap().len(), 1);
    assert_eq!(s.list_tokens(&user("bob")).await.unwrap().len(), 1);
}
