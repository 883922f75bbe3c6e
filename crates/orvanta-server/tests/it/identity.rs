//! Users, sessions, workspaces, groups, folders and sharing, over HTTP.

use crate::harness::*;
use reqwest::Response;
use serde_json::{json, Value};

/// A user made by the admin, logged in: their session token.
pub struct User {
    pub name: String,
    pub token: String,
}

impl TestApp {
    /// `POST /api/users/create` as the admin, then a login.
    pub async fn user(&self, name: &str) -> User {
        let email = format!("{name}@example.com");
        let r = self
            .client
            .post(self.url("/api/users/create"))
            .bearer_auth(&self.token)
            .json(&json!({"email": email, "password": format!("pw-of-{name}-123"), "super_admin": false, "name": name}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, 201, "create user {name}: {text}");
        assert_eq!(text, name, "the username comes from the email");
        let token = self.login(&email, &format!("pw-of-{name}-123")).await;
        User { name: name.into(), token }
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let r =
            self.client.post(self.url("/api/auth/login")).json(&json!({"email": email, "password": password})).send();
        let r = r.await.unwrap();
        assert_eq!(r.status(), 200, "login {email}");
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        let token = r.text().await.unwrap();
        assert!(cookie.starts_with(&format!("token={token};")) && cookie.contains("HttpOnly"), "{cookie}");
        token
    }

    /// Adds a user to `demo` with a role, as the admin.
    pub async fn add_member(&self, user: &User, role: &str) {
        let body = json!({"email": format!("{}@example.com", user.name), "is_admin": false, "role": role});
        let r = self.post_json("/workspaces/add_user", &body).await;
        assert_eq!(r.status(), 201, "add {} as {role}: {}", user.name, r.text().await.unwrap());
    }

    /// A request in `demo` with `token`.
    pub async fn as_user(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> Response {
        let mut req = self.client.request(method.parse().unwrap(), self.ws(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }
}

async fn status(r: Response) -> u16 {
    r.status().as_u16()
}

#[tokio::test]
async fn users_log_in_see_themselves_change_their_password_and_log_out() {
    let app = spawn_app();
    let alice = app.user("alice").await;
    // Not a member of any workspace yet: the workspace does not exist for her.
    let r = app.as_user(&alice.token, "GET", "/scripts/list", None).await;
    assert_error(r, 404, "workspace 'demo' not found").await;
    let me = app.client.get(app.url("/api/users/whoami")).bearer_auth(&alice.token).send().await.unwrap();
    let me: Value = me.json().await.unwrap();
    assert_eq!(
        (me["email"].clone(), me["username"].clone(), me["super_admin"].clone()),
        (json!("alice@example.com"), json!("alice"), json!(false))
    );
    assert_eq!(me["login_type"], "password");

    app.add_member(&alice, "developer").await;
    let me: Value = app.as_user(&alice.token, "GET", "/users/whoami", None).await.json().await.unwrap();
    assert_eq!(
        (me["is_admin"].clone(), me["operator"].clone(), me["role"].clone()),
        (json!(false), json!(false), json!("developer"))
    );
    let list: Value = app
        .client
        .get(app.url("/api/workspaces/list"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([{"id": "demo", "name": "Demo", "owner": "admin", "role": "developer"}]));

    // A wrong password, or an unknown email: one 401 that does not say which.
    for (email, pw) in [("alice@example.com", "wrong-password"), ("nobody@example.com", "pw-of-alice-123")] {
        let r = app.client.post(app.url("/api/auth/login")).json(&json!({"email": email, "password": pw})).send();
        assert_error(r.await.unwrap(), 401, "the email or the password is wrong").await;
    }
    // Too short a password is refused, a good one changes it.
    let set = |pw: &str| {
        app.client
            .post(app.url("/api/users/setpassword"))
            .bearer_auth(&alice.token)
            .json(&json!({"password": pw}))
            .send()
    };
    assert_error(set("short").await.unwrap(), 400, "too short").await;
    assert_eq!(set("a-new-password-1").await.unwrap().status(), 200);
    let r = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "alice@example.com", "password": "pw-of-alice-123"}));
    assert_eq!(r.send().await.unwrap().status(), 401, "the old password no longer works");
    let second = app.login("alice@example.com", "a-new-password-1").await;

    // Logout ends that session only.
    let r = app.client.post(app.url("/api/auth/logout")).bearer_auth(&second).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let r = app.client.get(app.url("/api/users/whoami")).bearer_auth(&second).send().await.unwrap();
    assert_eq!(r.status(), 401, "a logged-out session is refused");
    let r = app.client.get(app.url("/api/users/whoami")).bearer_auth(&alice.token).send().await.unwrap();
    assert_eq!(r.status(), 200, "the other session goes on");

    // Only super admins create users and workspaces.
    let r = app.client.post(app.url("/api/users/create")).bearer_auth(&alice.token);
    let r = r
        .json(&json!({"email": "x@example.com", "password": "long-enough-1", "super_admin": true}))
        .send()
        .await
        .unwrap();
    assert_error(r, 403, "super admins").await;
    let r = app
        .client
        .post(app.url("/api/workspaces/create"))
        .bearer_auth(&alice.token)
        .json(&json!({"id": "mine", "name": "Mine"}));
    assert_error(r.send().await.unwrap(), 403, "super admins").await;
    let r = app
        .client
        .post(app.url("/api/workspaces/create"))
        .bearer_auth(&app.token)
        .json(&json!({"id": "team", "name": "Team"}));
    assert_eq!(r.send().await.unwrap().status(), 201);
}

#[tokio::test]
async fn roles_owners_folders_groups_and_sharing_decide_who_reads_writes_and_runs() {
    let app = spawn_app();
    let (alice, bob, carol) = (app.user("alice").await, app.user("bob").await, app.user("carol").await);
    app.add_member(&alice, "developer").await;
    app.add_member(&bob, "operator").await;
    let script = |path: &str| json!({"path": path, "language": "bash", "content": "echo ran"});

    // Developers write under their own u/ only; operators never write.
    let r = app.as_user(&alice.token, "POST", "/scripts/create", Some(script("u/alice/mine"))).await;
    assert_eq!(status(r).await, 201);
    let r = app.as_user(&alice.token, "POST", "/scripts/create", Some(script("u/admin/theirs"))).await;
    assert_error(r, 403, "only the user 'admin'").await;
    let r = app.as_user(&bob.token, "POST", "/scripts/create", Some(script("u/bob/x"))).await;
    assert_error(r, 403, "operators can run and read only").await;

    // Another user's u/ is invisible: 404, as if it did not exist.
    let r = app.as_user(&bob.token, "GET", "/scripts/get/p/u/alice/mine", None).await;
    assert_error(r, 404, "script not found at path 'u/alice/mine'").await;
    let r = app.as_user(&bob.token, "POST", "/jobs/run/p/u/alice/mine", Some(json!({}))).await;
    assert_error(r, 404, "not found").await;
    let listed: Value = app.as_user(&bob.token, "GET", "/scripts/list", None).await.json().await.unwrap();
    assert_eq!(listed, json!([]), "lists show only what the caller may read");
    // A user of no workspace sees no workspace at all.
    let r = app.as_user(&carol.token, "GET", "/scripts/get/p/u/alice/mine", None).await;
    assert_error(r, 404, "workspace 'demo' not found").await;

    // Per-item sharing: alice makes bob a reader of her script; he reads and runs it, never writes it.
    let r = app
        .as_user(&alice.token, "POST", "/acls/add/script/u/alice/mine", Some(json!({"owner": "u/bob", "write": false})))
        .await;
    assert_eq!(status(r).await, 200);
    let got: Value = app.as_user(&bob.token, "GET", "/scripts/get/p/u/alice/mine", None).await.json().await.unwrap();
    assert_eq!(got["extra_perms"], json!({"u/bob": false}));
    let r = app.as_user(&bob.token, "POST", "/jobs/run_wait_result/p/u/alice/mine", Some(json!({}))).await;
    assert_eq!(status(r).await, 200);
    let r = app.as_user(&bob.token, "POST", "/scripts/archive/p/u/alice/mine", None).await;
    assert_error(r, 403, "operators").await;
    let r =
        app.as_user(&alice.token, "POST", "/acls/remove/script/u/alice/mine", Some(json!({"owner": "u/bob"}))).await;
    assert_eq!(status(r).await, 200);
    let r = app.as_user(&bob.token, "GET", "/scripts/get/p/u/alice/mine", None).await;
    assert_eq!(status(r).await, 404, "unshared at once");

    // Folders: admin makes f/team owned by alice, readable by the group ops; bob joins ops.
    let r = app.post_json("/groups/create", &json!({"name": "ops", "summary": "operations"})).await;
    assert_eq!(status(r).await, 201);
    let r = app.post_json("/groups/adduser/ops", &json!({"username": "bob"})).await;
    assert_eq!(status(r).await, 200);
    let r = app.post_json("/groups/adduser/ops", &json!({"username": "carol"})).await;
    assert_error(r, 400, "not a member of the workspace").await;
    let folder = json!({"name": "team", "owners": ["u/alice"], "extra_perms": {"g/ops": false}});
    assert_eq!(status(app.post_json("/folders/create", &folder).await).await, 201);
    let r = app.as_user(&alice.token, "POST", "/scripts/create", Some(script("f/team/job"))).await;
    assert_eq!(status(r).await, 201, "an owner writes in the folder");
    let r = app.as_user(&alice.token, "POST", "/scripts/create", Some(script("f/nofolder/job"))).await;
    assert_error(r, 403, "the folder 'nofolder'").await;
    let r = app.as_user(&bob.token, "POST", "/jobs/run_wait_result/p/f/team/job", Some(json!({}))).await;
    assert_eq!(status(r).await, 200, "a reader through a group runs it");
    let listed: Value = app.as_user(&bob.token, "GET", "/scripts/list", None).await.json().await.unwrap();
    let paths: Vec<&str> = listed.as_array().unwrap().iter().map(|s| s["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["f/team/job"]);
    let me: Value = app.as_user(&bob.token, "GET", "/users/whoami", None).await.json().await.unwrap();
    assert_eq!((me["groups"].clone(), me["folders_read"].clone()), (json!(["ops"]), json!(["team"])));

    // Bob's jobs: he sees the ones he ran, not alice's runs of her own script.
    let mine =
        app.as_user(&alice.token, "POST", "/jobs/run/p/u/alice/mine", Some(json!({}))).await.text().await.unwrap();
    let r = app.as_user(&bob.token, "GET", &format!("/jobs_u/get/{mine}"), None).await;
    assert_error(r, 404, "not found").await;
    let jobs: Value = app.as_user(&bob.token, "GET", "/jobs/list", None).await.json().await.unwrap();
    let seen: Vec<&str> = jobs.as_array().unwrap().iter().map(|j| j["created_by"].as_str().unwrap()).collect();
    assert!(!seen.is_empty() && seen.iter().all(|by| *by == "bob"), "bob lists his own runs only: {jobs}");

    // Only owners and admins change a folder; leaving the group ends bob's access at once.
    let r =
        app.as_user(&bob.token, "POST", "/folders/update/team", Some(json!({"extra_perms": {"g/ops": true}}))).await;
    assert_error(r, 403, "owners of the folder 'team'").await;
    let r = app.post_json("/groups/removeuser/ops", &json!({"username": "bob"})).await;
    assert_eq!(status(r).await, 200);
    let r = app.as_user(&bob.token, "GET", "/scripts/get/p/f/team/job", None).await;
    assert_eq!(status(r).await, 404);
    let r = app.client.delete(app.ws("/folders/delete/team")).bearer_auth(&alice.token).send().await.unwrap();
    assert_error(r, 409, "still holds 1").await;
}

#[tokio::test]
async fn a_webhook_token_has_its_owners_rights_and_loses_them_with_the_owner() {
    let app = spawn_app();
    let alice = app.user("alice").await;
    app.add_member(&alice, "developer").await;
    assert_eq!(
        status(app.post_json("/folders/create", &json!({"name": "team", "owners": ["u/alice"]})).await).await,
        201
    );
    let r = app
        .as_user(
            &alice.token,
            "POST",
            "/scripts/create",
            Some(json!({"path": "f/team/hook", "language": "bash", "content": "echo hooked"})),
        )
        .await;
    assert_eq!(status(r).await, 201);
    let r = app.client.post(app.url("/api/users/tokens/create")).bearer_auth(&alice.token);
    let r = r.json(&json!({"label": "hook", "scopes": ["jobs:run:scripts:f/team/hook"]})).send().await.unwrap();
    let hook = r.text().await.unwrap();
    let run =
        || app.client.post(app.ws("/jobs/run_wait_result/p/f/team/hook")).bearer_auth(&hook).json(&json!({})).send();
    assert_eq!(run().await.unwrap().status(), 200);
    // Listed with its runnable; its use is written (in a batch) within seconds.
    let listed = |q: &'static str| {
        let req = app.client.get(app.url(&format!("/api/users/tokens/list{q}"))).bearer_auth(&alice.token);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let mut used = Value::Null;
    for _ in 0..100 {
        let mine = listed("?runnable_kind=script&runnable_path=f/team/hook").await;
        assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
        used = mine[0]["last_used_at"].clone();
        if used.is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(used.is_string(), "last_used_at was written");
    assert_eq!(listed("?runnable_kind=flow&runnable_path=f/team/hook").await, json!([]));
    assert_eq!(listed("").await.as_array().unwrap().len(), 1, "login sessions are not listed");
    // It runs that one script and reads nothing else.
    let r = app.as_user(&hook, "GET", "/scripts/list", None).await;
    assert_error(r, 403, "scripts:read").await;
    // Alice loses the folder: her token stops working at once (404: she may no longer see it).
    let r = app.post_json("/folders/update/team", &json!({"owners": []})).await;
    assert_eq!(status(r).await, 200);
    assert_eq!(run().await.unwrap().status(), 404);
}

#[tokio::test]
async fn repeated_bad_tokens_are_slowed_and_valid_callers_are_not() {
    let app = spawn_app();
    // A valid token used before the flood keeps working from the same address.
    assert_eq!(app.get("/scripts/list").await.status(), 200);
    let mut last = 0;
    for i in 0..25 {
        let r = app.client.get(app.ws("/scripts/list")).bearer_auth(format!("orv_guess{i}")).send().await.unwrap();
        last = r.status().as_u16();
        if last == 429 {
            let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&retry));
            assert_error(r, 429, "too many failed attempts").await;
            break;
        }
        assert_eq!(last, 401);
    }
    assert_eq!(last, 429, "the 21st bad token is slowed");
    assert_eq!(app.get("/scripts/list").await.status(), 200, "the valid caller goes on");
    // Logins from the blocked address are slowed too.
    let r = app.client.post(app.url("/api/auth/login")).json(&json!({"email": "admin@orvanta.local", "password": "x"}));
    assert_eq!(r.send().await.unwrap().status(), 429);
}

#[tokio::test]
async fn invitations_are_made_listed_accepted_declined_and_withdrawn() {
    let app = spawn_app();
    // An email that is no user yet can be invited; its user, once made, sees and accepts the invitation.
    let erin_invite = json!({"email": "Erin@Example.com", "is_admin": false, "operator": true});
    assert_eq!(status(app.post_json("/workspaces/invite_user", &erin_invite).await).await, 201);
    let pending: Value = app.get("/workspaces/list_pending_invites").await.json().await.unwrap();
    assert_eq!((pending[0]["email"].clone(), pending[0]["operator"].clone()), (json!("erin@example.com"), json!(true)));
    let erin = app.user("erin").await;
    let mine: Value = app
        .client
        .get(app.url("/api/users/list_invites"))
        .bearer_auth(&erin.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    let r = app.as_user(&erin.token, "GET", "/scripts/list", None).await;
    assert_eq!(status(r).await, 404, "not a member before accepting");
    let answer = |what: &str, ws: &str| {
        app.client
            .post(app.url(&format!("/api/users/{what}")))
            .bearer_auth(&erin.token)
            .json(&json!({"workspace_id": ws}))
            .send()
    };
    assert_eq!(answer("accept_invite", "demo").await.unwrap().status(), 200);
    assert_error(answer("accept_invite", "demo").await.unwrap(), 404, "no invitation").await;
    let me: Value = app.as_user(&erin.token, "GET", "/users/whoami", None).await.json().await.unwrap();
    assert_eq!(me["operator"], true);
    // Declined and withdrawn invitations are gone.
    let r = app.client.post(app.url("/api/w/admins/workspaces/invite_user")).bearer_auth(TOKEN);
    assert_eq!(r.json(&json!({"email": "erin@example.com", "is_admin": true})).send().await.unwrap().status(), 201);
    assert_eq!(answer("decline_invite", "admins").await.unwrap().status(), 200);
    assert_error(answer("accept_invite", "admins").await.unwrap(), 404, "no invitation").await;
    let r = app.post_json("/workspaces/invite_user", &json!({"email": "erin@example.com", "is_admin": false})).await;
    assert_error(r, 409, "member").await;
    let r = app.post_json("/workspaces/invite_user", &json!({"email": "fay@example.com", "is_admin": false})).await;
    assert_eq!(status(r).await, 201);
    assert_eq!(
        status(app.post_json("/workspaces/delete_invite", &json!({"email": "fay@example.com"})).await).await,
        200
    );
    let pending: Value = app.get("/workspaces/list_pending_invites").await.json().await.unwrap();
    assert_eq!(pending, json!([]));
}
