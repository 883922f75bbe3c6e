//! Users beyond tokens, members, groups, folders and item permissions.

use crate::fixtures::*;
use orvanta_store::{Folder, Group, Invite, Role, Store, UserUpdate};
use std::collections::BTreeMap;
use std::sync::Arc;

async fn two_users_in_demo(s: &Arc<dyn Store>) {
    s.create_workspace(&new_workspace("demo")).await.unwrap();
    s.create_workspace(&new_workspace("other")).await.unwrap();
    for (u, role) in [("alice", Role::Developer), ("bob", Role::Operator)] {
        s.create_user(&new_user(u)).await.unwrap();
        s.set_member(&ws("demo"), &user(u), role).await.unwrap();
    }
}

pub async fn users_by_email_update_and_delete(s: Arc<dyn Store>) {
    two_users_in_demo(&s).await;
    let got = s.user_by_email("ALICE@example.com").await.unwrap().expect("emails match without case");
    assert_eq!(got.username.as_str(), "alice");
    assert!(s.user_by_email("carol@example.com").await.unwrap().is_none());

    let update =
        UserUpdate { name: Some("Alice A.".into()), password_hash: Some("new-hash".into()), super_admin: None };
    assert!(s.update_user(&user("alice"), &update).await.unwrap());
    let got = s.get_user(&user("alice")).await.unwrap().unwrap();
    assert_eq!(
        (got.name.as_deref(), got.password_hash.as_str(), got.super_admin),
        (Some("Alice A."), "new-hash", false)
    );
    let promote = UserUpdate { super_admin: Some(true), ..Default::default() };
    assert!(s.update_user(&user("alice"), &promote).await.unwrap());
    let got = s.get_user(&user("alice")).await.unwrap().unwrap();
    assert_eq!((got.name.as_deref(), got.super_admin), (Some("Alice A."), true), "None keeps the stored value");
    assert!(!s.update_user(&user("carol"), &promote).await.unwrap());

    let names: Vec<String> = s.list_users().await.unwrap().into_iter().map(|u| u.username.to_string()).collect();
    assert_eq!(names, ["alice", "bob"]);

    s.create_group(&group("ops")).await.unwrap();
    assert!(s.set_group_member(&ws("demo"), "ops", &user("bob"), true).await.unwrap());
    assert!(s.delete_user(&user("bob")).await.unwrap());
    assert!(!s.delete_user(&user("bob")).await.unwrap());
    assert!(s.get_user(&user("bob")).await.unwrap().is_none());
    assert_eq!(s.get_role(&ws("demo"), &user("bob")).await.unwrap(), None);
    assert!(s.get_group(&ws("demo"), "ops").await.unwrap().unwrap().members.is_empty());
}

pub async fn members_list_and_removal(s: Arc<dyn Store>) {
    two_users_in_demo(&s).await;
    s.set_member(&ws("other"), &user("alice"), Role::Admin).await.unwrap();
    assert!(s.rename_workspace(&ws("demo"), "Renamed").await.unwrap());
    assert!(!s.rename_workspace(&ws("nope"), "x").await.unwrap());
    assert_eq!(s.get_workspace(&ws("demo")).await.unwrap().unwrap().name, "Renamed");
    let members = s.list_members(&ws("demo")).await.unwrap();
    let seen: Vec<(&str, Role)> = members.iter().map(|m| (m.username.as_str(), m.role)).collect();
    assert_eq!(seen, [("alice", Role::Developer), ("bob", Role::Operator)]);
    assert_eq!(members[0].email, "alice@example.com");

    let mine: Vec<(String, Role)> =
        s.user_workspaces(&user("alice")).await.unwrap().into_iter().map(|(w, r)| (w.id.to_string(), r)).collect();
    assert_eq!(mine, [("demo".to_owned(), Role::Developer), ("other".to_owned(), Role::Admin)]);

    s.create_group(&group("ops")).await.unwrap();
    s.set_group_member(&ws("demo"), "ops", &user("alice"), true).await.unwrap();
    assert!(s.remove_member(&ws("demo"), &user("alice")).await.unwrap());
    assert!(!s.remove_member(&ws("demo"), &user("alice")).await.unwrap());
    assert_eq!(s.get_role(&ws("demo"), &user("alice")).await.unwrap(), None);
    assert_eq!(s.get_role(&ws("other"), &user("alice")).await.unwrap(), Some(Role::Admin));
    assert!(s.groups_of(&ws("demo"), &user("alice")).await.unwrap().is_empty(), "removal leaves the groups too");
}

fn group(name: &str) -> Group {
    Group {
        workspace: ws("demo"),
        name: name.into(),
        summary: format!("the {name}"),
        members: vec![],
        created_by: user("admin"),
        created_at: T0,
    }
}

pub async fn groups_and_their_members(s: Arc<dyn Store>) {
    two_users_in_demo(&s).await;
    s.create_group(&group("ops")).await.unwrap();
    s.create_group(&group("dev")).await.unwrap();
    assert_conflict(s.create_group(&group("ops")).await, "a second group 'ops'");
    let mut elsewhere = group("ops");
    elsewhere.workspace = ws("other");
    s.create_group(&elsewhere).await.unwrap();

    assert!(s.set_group_member(&ws("demo"), "ops", &user("alice"), true).await.unwrap());
    assert!(s.set_group_member(&ws("demo"), "ops", &user("alice"), true).await.unwrap(), "adding twice is fine");
    assert!(s.set_group_member(&ws("demo"), "ops", &user("bob"), true).await.unwrap());
    assert!(s.set_group_member(&ws("demo"), "dev", &user("alice"), true).await.unwrap());
    assert!(!s.set_group_member(&ws("demo"), "nope", &user("alice"), true).await.unwrap());
    assert_conflict(s.set_group_member(&ws("demo"), "ops", &user("ghost"), true).await, "an unknown user");

    let ops = s.get_group(&ws("demo"), "ops").await.unwrap().unwrap();
    assert_eq!(ops.members, [user("alice"), user("bob")]);
    assert_eq!(ops.summary, "the ops");
    assert!(s.get_group(&ws("other"), "ops").await.unwrap().unwrap().members.is_empty(), "groups are per workspace");
    assert_eq!(s.groups_of(&ws("demo"), &user("alice")).await.unwrap(), ["dev", "ops"]);
    assert!(s.groups_of(&ws("other"), &user("alice")).await.unwrap().is_empty());

    let names: Vec<String> = s.list_groups(&ws("demo")).await.unwrap().into_iter().map(|g| g.name).collect();
    assert_eq!(names, ["dev", "ops"]);
    assert!(s.update_group(&ws("demo"), "ops", "operations").await.unwrap());
    assert!(!s.update_group(&ws("demo"), "nope", "x").await.unwrap());
    assert_eq!(s.get_group(&ws("demo"), "ops").await.unwrap().unwrap().summary, "operations");

    assert!(s.set_group_member(&ws("demo"), "ops", &user("bob"), false).await.unwrap());
    assert!(!s.set_group_member(&ws("demo"), "ops", &user("bob"), false).await.unwrap());
    assert!(s.delete_group(&ws("demo"), "ops").await.unwrap());
    assert!(!s.delete_group(&ws("demo"), "ops").await.unwrap());
    assert_eq!(s.groups_of(&ws("demo"), &user("alice")).await.unwrap(), ["dev"]);
    // A group made again under the same name starts empty.
    s.create_group(&group("ops")).await.unwrap();
    assert!(s.get_group(&ws("demo"), "ops").await.unwrap().unwrap().members.is_empty());
}

pub async fn folders_and_item_perms(s: Arc<dyn Store>) {
    two_users_in_demo(&s).await;
    let mut f = Folder {
        workspace: ws("demo"),
        name: "team".into(),
        summary: "the team's".into(),
        owners: vec!["u/alice".into()],
        extra_perms: [("g/ops".to_owned(), false), ("u/bob".to_owned(), true)].into_iter().collect(),
        created_by: user("alice"),
        created_at: T0,
    };
    s.create_folder(&f).await.unwrap();
    assert_conflict(s.create_folder(&f).await, "a second folder 'team'");
    assert_eq!(s.get_folder(&ws("demo"), "team").await.unwrap().as_ref(), Some(&f));
    assert!(s.get_folder(&ws("other"), "team").await.unwrap().is_none());
    f.summary = "changed".into();
    f.owners = vec!["g/ops".into()];
    f.extra_perms.clear();
    assert!(s.update_folder(&f).await.unwrap());
    assert_eq!(s.get_folder(&ws("demo"), "team").await.unwrap().as_ref(), Some(&f));
    let mut missing = f.clone();
    missing.name = "nope".into();
    assert!(!s.update_folder(&missing).await.unwrap());
    assert_eq!(s.list_folders(&ws("demo")).await.unwrap(), [f.clone()]);
    assert!(s.delete_folder(&ws("demo"), "team").await.unwrap());
    assert!(!s.delete_folder(&ws("demo"), "team").await.unwrap());

    let perms: BTreeMap<String, bool> = [("u/bob".to_owned(), false)].into_iter().collect();
    assert!(s.item_perms(&ws("demo"), "script", "u/alice/x").await.unwrap().is_empty());
    s.set_item_perms(&ws("demo"), "script", "u/alice/x", &perms).await.unwrap();
    assert_eq!(s.item_perms(&ws("demo"), "script", "u/alice/x").await.unwrap(), perms);
    assert!(s.item_perms(&ws("demo"), "flow", "u/alice/x").await.unwrap().is_empty(), "kinds are apart");
    let more: BTreeMap<String, bool> = [("u/bob".to_owned(), true), ("g/ops".to_owned(), false)].into_iter().collect();
    s.set_item_perms(&ws("demo"), "script", "u/alice/x", &more).await.unwrap();
    assert_eq!(s.item_perms(&ws("demo"), "script", "u/alice/x").await.unwrap(), more);
    s.set_item_perms(&ws("demo"), "script", "u/alice/x", &BTreeMap::new()).await.unwrap();
    assert!(s.item_perms(&ws("demo"), "script", "u/alice/x").await.unwrap().is_empty());
}

pub async fn invites_are_accepted_once(s: Arc<dyn Store>) {
    two_users_in_demo(&s).await;
    let invite = |ws_id: &str, email: &str, role| Invite {
        workspace: ws(ws_id),
        email: email.into(),
        role,
        invited_by: user("admin"),
        created_at: T0,
    };
    s.put_invite(&invite("demo", "carol@example.com", Role::Developer)).await.unwrap();
    s.put_invite(&invite("demo", "carol@example.com", Role::Operator)).await.unwrap();
    s.put_invite(&invite("other", "carol@example.com", Role::Admin)).await.unwrap();
    s.put_invite(&invite("other", "dan@example.com", Role::Developer)).await.unwrap();
    assert_conflict(s.put_invite(&invite("nowhere", "x@example.com", Role::Admin)).await, "an unknown workspace");

    let demo = s.list_invites(Some(&ws("demo")), None).await.unwrap();
    assert_eq!(demo, [invite("demo", "carol@example.com", Role::Operator)], "a second invitation replaces the first");
    let carols: Vec<(String, Role)> = s
        .list_invites(None, Some("carol@example.com"))
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.workspace.to_string(), i.role))
        .collect();
    assert_eq!(carols, [("demo".to_owned(), Role::Operator), ("other".to_owned(), Role::Admin)]);

    s.create_user(&new_user("carol")).await.unwrap();
    let got = s.accept_invite(&ws("demo"), "carol@example.com", &user("carol")).await.unwrap();
    assert_eq!(got, Some(Role::Operator));
    assert_eq!(s.get_role(&ws("demo"), &user("carol")).await.unwrap(), Some(Role::Operator));
    assert_eq!(s.accept_invite(&ws("demo"), "carol@example.com", &user("carol")).await.unwrap(), None, "once");
    assert!(s.delete_invite(&ws("other"), "carol@example.com").await.unwrap());
    assert!(!s.delete_invite(&ws("other"), "carol@example.com").await.unwrap());
    assert_eq!(s.list_invites(None, None).await.unwrap().len(), 1);
}
