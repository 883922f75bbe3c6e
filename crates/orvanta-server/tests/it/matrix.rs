//! The authorization matrix: every route the server serves × nine
//! principals, each answer checked against one table. A route added to the
//! router without a row here fails the test, so no route goes unchecked.
//!
//! Principals, in column order:
//! - `s`: the super admin (bootstrap token), which makes the fixtures;
//! - `a`: an admin of the workspace `demo` (not a super admin);
//! - `d`: a developer who owns the folder `f/team`;
//! - `o`: an operator, reader of `f/team`;
//! - `x`: a user of another workspace only;
//! - `r`: a developer who only reads `f/team`;
//! - `h`: a webhook-specific token of `f/team/a`, made by `a`;
//! - `e`: an expired token of `a`;
//! - `n`: no token.
//!
//! A row's profile says, per principal, whether it may (`ok`: the status the
//! super admin got, which must not be 401/403/404/5xx unless the row says
//! so) or which refusal it gets. Rows whose request changes something name
//! their target with `{who}`, so that each principal acts on its own copy.

use crate::harness::*;
use crate::identity::User;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

const WHO: [&str; 9] = ["s", "a", "d", "o", "x", "r", "h", "e", "n"];

/// `OK`: the super admin's status.
const OK: u16 = 0;
type Profile = [u16; 9];
//                    s   a    d    o    x    r    h    e    n
const READ: Profile = [OK, OK, OK, OK, 404, OK, 403, 401, 401];
const RUN: Profile = [OK, OK, OK, OK, 404, OK, OK, 401, 401];
const WRITE: Profile = [OK, OK, OK, 403, 404, 403, 403, 401, 401];
const DEV: Profile = [OK, OK, OK, 403, 404, OK, 403, 401, 401];
const ADMIN: Profile = [OK, OK, 403, 403, 404, 403, 403, 401, 401];
const OWN: Profile = [OK, OK, OK, OK, OK, OK, 403, 401, 401];
const ANY: Profile = [OK, OK, OK, OK, OK, OK, OK, 401, 401];
const SUPER: Profile = [OK, 403, 403, 403, 403, 403, 403, 401, 401];
const PUBLIC: Profile = [OK; 9];

/// One request: method, the route as the router names it, the concrete path
/// (placeholders below), a JSON body, and who may.
struct Row {
    method: &'static str,
    route: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    profile: Profile,
}

const fn row(method: &'static str, route: &'static str, path: &'static str, profile: Profile) -> Row {
    Row { method, route, path, body: None, profile }
}

const fn with(method: &'static str, route: &'static str, path: &'static str, body: &'static str, p: Profile) -> Row {
    Row { method, route, path, body: Some(body), profile: p }
}

const W: &str = "/api/w/{ws}";

/// Placeholders: `{a}` the script `f/team/a`, `{hash}` its version, `{flow}`
/// the flow `f/team/flow`, `{version}` its version, `{job}` a finished run of
/// `{a}`, `{fjob}` a finished run of `{flow}`, `{hjob}` a run started by `h`,
/// `{hook}` an inbound definition, `{hookdel}` one per principal to delete,
/// `{who}` the principal.
fn rows() -> Vec<Row> {
    vec![
        row("GET", "/api/version", "/api/version", PUBLIC),
        row("GET", "/api/health", "/api/health", PUBLIC),
        with("POST", "/api/users/tokens/create", "/api/users/tokens/create", r#"{"label": "m"}"#, OWN),
        row("GET", "/api/users/tokens/list", "/api/users/tokens/list", OWN),
        row("DELETE", "/api/users/tokens/delete/{prefix}", "/api/users/tokens/delete/orv_nope", OWN),
        with(
            "POST",
            "/api/users/create",
            "/api/users/create",
            r#"{"email": "new_{who}@example.com", "password": "long-password-1", "super_admin": false}"#,
            SUPER,
        ),
        row("GET", "/api/users/whoami", "/api/users/whoami", OWN),
        with("POST", "/api/users/setpassword", "/api/users/setpassword", r#"{"password": "pw-of-{who}-changed"}"#, OWN),
        row("GET", "/api/users/list_as_super_admin", "/api/users/list_as_super_admin", SUPER),
        with("POST", "/api/users/update/{email}", "/api/users/update/spare@example.com", r#"{"name": "S"}"#, SUPER),
        row("DELETE", "/api/users/delete/{email}", "/api/users/delete/gone_{who}@example.com", SUPER),
        with(
            "POST",
            "/api/auth/login",
            "/api/auth/login",
            r#"{"email": "nobody@example.com", "password": "wrong-one"}"#,
            PUBLIC,
        ),
        row("POST", "/api/auth/logout", "/api/auth/logout", ANY),
        with("POST", "/api/workspaces/create", "/api/workspaces/create", r#"{"id": "ws-{who}", "name": "W"}"#, SUPER),
        row("GET", "/api/workspaces/list", "/api/workspaces/list", OWN),
        with("POST", "/api/workspaces/exists", "/api/workspaces/exists", r#"{"id": "demo"}"#, OWN),
        row("GET", "/api/workspaces/users", "/api/workspaces/users", OWN),
        // Scripts.
        with(
            "POST",
            "/api/w/{ws}/scripts/create",
            "/scripts/create",
            r#"{"path": "f/team/new_{who}", "language": "bash", "content": "echo n"}"#,
            WRITE,
        ),
        row("GET", "/api/w/{ws}/scripts/get/p/{*path}", "/scripts/get/p/{a}", READ),
        row("GET", "/api/w/{ws}/scripts/get/h/{hash}", "/scripts/get/h/{hash}", READ),
        row("GET", "/api/w/{ws}/scripts/list", "/scripts/list", READ),
        row("GET", "/api/w/{ws}/scripts/history/p/{*path}", "/scripts/history/p/{a}", READ),
        row("POST", "/api/w/{ws}/scripts/archive/p/{*path}", "/scripts/archive/p/f/team/arch_{who}", WRITE),
        row("POST", "/api/w/{ws}/scripts/delete/p/{*path}", "/scripts/delete/p/f/team/del_{who}", WRITE),
        row("DELETE", "/api/w/{ws}/scripts/delete/p/{*path}", "/scripts/delete/p/f/team/del2_{who}", WRITE),
        row("GET", "/api/w/{ws}/scripts/exists/p/{*path}", "/scripts/exists/p/{a}", READ),
        row("GET", "/api/w/{ws}/scripts/raw/p/{*path}", "/scripts/raw/p/{a}", READ),
        // Flows.
        with("POST", "/api/w/{ws}/flows/create", "/flows/create", FLOW_NEW, WRITE),
        with("POST", "/api/w/{ws}/flows/update/{*path}", "/flows/update/f/team/fl_{who}", FLOW_UPDATE, WRITE),
        row("GET", "/api/w/{ws}/flows/get/v/{version}", "/flows/get/v/{version}", READ),
        row("GET", "/api/w/{ws}/flows/get/{*path}", "/flows/get/{flow}", READ),
        row("GET", "/api/w/{ws}/flows/exists/{*path}", "/flows/exists/{flow}", READ),
        row("GET", "/api/w/{ws}/flows/list", "/flows/list", READ),
        row("GET", "/api/w/{ws}/flows/history/p/{*path}", "/flows/history/p/{flow}", READ),
        row("POST", "/api/w/{ws}/flows/archive/{*path}", "/flows/archive/f/team/fa_{who}", WRITE),
        row("DELETE", "/api/w/{ws}/flows/delete/{*path}", "/flows/delete/f/team/fd_{who}", WRITE),
        // Approvals: the signature is the credential.
        row("GET", "/api/w/{ws}/jobs/resume_urls/{job}/{resume_id}", "/jobs/resume_urls/{fjob}/0", READ),
        row("GET", "/api/w/{ws}/jobs_u/resume/{job}/{resume_id}/{signature}", "/jobs_u/resume/{fjob}/0/00", PUBLIC),
        row("POST", "/api/w/{ws}/jobs_u/resume/{job}/{resume_id}/{signature}", "/jobs_u/resume/{fjob}/0/00", PUBLIC),
        row("GET", "/api/w/{ws}/jobs_u/cancel/{job}/{resume_id}/{signature}", "/jobs_u/cancel/{fjob}/0/00", PUBLIC),
        row("POST", "/api/w/{ws}/jobs_u/cancel/{job}/{resume_id}/{signature}", "/jobs_u/cancel/{fjob}/0/00", PUBLIC),
        row("GET", "/approve/{ws}/{job}/{resume_id}/{signature}", "/approve/demo/{fjob}/0/00", PUBLIC),
        // Runs: the webhook token runs its script, nothing else.
        with("POST", "/api/w/{ws}/jobs/run/p/{*path}", "/jobs/run/p/{a}", "{}", RUN),
        with("POST", "/api/w/{ws}/jobs/run/h/{hash}", "/jobs/run/h/{hash}", "{}", RUN),
        with("POST", "/api/w/{ws}/jobs/run/f/{*path}", "/jobs/run/f/{flow}", "{}", READ),
        with("POST", "/api/w/{ws}/jobs/run/fv/{version}", "/jobs/run/fv/{version}", "{}", READ),
        row("GET", "/api/w/{ws}/jobs/run_wait_result/p/{*path}", "/jobs/run_wait_result/p/{a}", RUN),
        with("POST", "/api/w/{ws}/jobs/run_wait_result/p/{*path}", "/jobs/run_wait_result/p/{a}", "{}", RUN),
        row("GET", "/api/w/{ws}/jobs/run_wait_result/h/{hash}", "/jobs/run_wait_result/h/{hash}", RUN),
        with("POST", "/api/w/{ws}/jobs/run_wait_result/h/{hash}", "/jobs/run_wait_result/h/{hash}", "{}", RUN),
        row("GET", "/api/w/{ws}/jobs/run_wait_result/f/{*path}", "/jobs/run_wait_result/f/{flow}", READ),
        with("POST", "/api/w/{ws}/jobs/run_wait_result/f/{*path}", "/jobs/run_wait_result/f/{flow}", "{}", READ),
        row("GET", "/api/w/{ws}/jobs/run_wait_result/fv/{version}", "/jobs/run_wait_result/fv/{version}", READ),
        with("POST", "/api/w/{ws}/jobs/run_wait_result/fv/{version}", "/jobs/run_wait_result/fv/{version}", "{}", READ),
        row("GET", "/api/w/{ws}/jobs/run_and_stream/p/{*path}", "/jobs/run_and_stream/p/{a}", RUN),
        with("POST", "/api/w/{ws}/jobs/run_and_stream/p/{*path}", "/jobs/run_and_stream/p/{a}", "{}", RUN),
        row("GET", "/api/w/{ws}/jobs/run_and_stream/h/{hash}", "/jobs/run_and_stream/h/{hash}", RUN),
        with("POST", "/api/w/{ws}/jobs/run_and_stream/h/{hash}", "/jobs/run_and_stream/h/{hash}", "{}", RUN),
        row("GET", "/api/w/{ws}/jobs/run_and_stream/f/{*path}", "/jobs/run_and_stream/f/{flow}", READ),
        with("POST", "/api/w/{ws}/jobs/run_and_stream/f/{*path}", "/jobs/run_and_stream/f/{flow}", "{}", READ),
        row("GET", "/api/w/{ws}/jobs/run_and_stream/fv/{version}", "/jobs/run_and_stream/fv/{version}", READ),
        with("POST", "/api/w/{ws}/jobs/run_and_stream/fv/{version}", "/jobs/run_and_stream/fv/{version}", "{}", READ),
        // Jobs: readers of the script see its runs; the webhook token sees the runs it started.
        row("GET", "/api/w/{ws}/jobs_u/get/{id}", "/jobs_u/get/{job}", READ),
        row("GET", "/api/w/{ws}/jobs_u/get/{id}", "/jobs_u/get/{hjob}", RUN),
        row("GET", "/api/w/{ws}/jobs_u/completed/get/{id}", "/jobs_u/completed/get/{job}", READ),
        row("GET", "/api/w/{ws}/jobs_u/getupdate/{id}", "/jobs_u/getupdate/{job}", READ),
        row("GET", "/api/w/{ws}/jobs_u/completed/get_result/{id}", "/jobs_u/completed/get_result/{job}", READ),
        row("GET", "/api/w/{ws}/jobs_u/completed/get_result/{id}", "/jobs_u/completed/get_result/{hjob}", RUN),
        row(
            "GET",
            "/api/w/{ws}/jobs_u/completed/get_result_maybe/{id}",
            "/jobs_u/completed/get_result_maybe/{job}",
            READ,
        ),
        row("GET", "/api/w/{ws}/jobs_u/get_logs/{id}", "/jobs_u/get_logs/{job}", READ),
        row("POST", "/api/w/{ws}/jobs_u/queue/cancel/{id}", "/jobs_u/queue/cancel/{job}", READ),
        row("GET", "/api/w/{ws}/jobs/result_by_id/{flow}/{step}", "/jobs/result_by_id/{fjob}/a", READ),
        row("GET", "/api/w/{ws}/jobs/list", "/jobs/list", READ),
        row("GET", "/api/w/{ws}/jobs_u/getupdate_sse/{id}", "/jobs_u/getupdate_sse/{job}", READ),
        row("GET", "/api/w/{ws}/job_u/getupdate_sse/{id}", "/job_u/getupdate_sse/{job}", READ),
        // Files.
        row("GET", "/api/w/{ws}/job_helpers/download_s3_file", "/job_helpers/download_s3_file?file_key=nope", READ),
        with(
            "POST",
            "/api/w/{ws}/job_helpers/upload_s3_file",
            "/job_helpers/upload_s3_file?file_key=m_{who}",
            "{}",
            DEV,
        ),
        // Inbound definitions: developers and admins.
        with("POST", "/api/w/{ws}/inbound_webhooks/create", "/inbound_webhooks/create", HOOK_NEW, DEV),
        row("GET", "/api/w/{ws}/inbound_webhooks/list", "/inbound_webhooks/list", DEV),
        row("GET", "/api/w/{ws}/inbound_webhooks/get/{id}", "/inbound_webhooks/get/{hook}", DEV),
        with("POST", "/api/w/{ws}/inbound_webhooks/update/{id}", "/inbound_webhooks/update/{hook}", HOOK_UPDATE, DEV),
        row("DELETE", "/api/w/{ws}/inbound_webhooks/delete/{id}", "/inbound_webhooks/delete/{hookdel}", DEV),
        row("GET", "/api/w/{ws}/inbound_webhooks/events/{id}", "/inbound_webhooks/events/{hook}", DEV),
        row("GET", "/api/w/{ws}/inbound_webhooks/event/{id}/{event_id}", "/inbound_webhooks/event/{hook}/nope", DEV),
        row("POST", "/api/w/{ws}/inbound_webhooks/replay/{id}/{event_id}", "/inbound_webhooks/replay/{hook}/nope", DEV),
        with("POST", "/webhook/{id}", "/webhook/nope", "{}", PUBLIC),
        row("GET", "/webhook/{id}", "/webhook/nope", PUBLIC),
        // Members: everyone reads, admins change.
        row("GET", "/api/w/{ws}/users/whoami", "/users/whoami", READ),
        row("GET", "/api/w/{ws}/users/list", "/users/list", READ),
        row("GET", "/api/w/{ws}/users/listusernames", "/users/listusernames", READ),
        row("GET", "/api/w/{ws}/users/get/{username}", "/users/get/spare", READ),
        with(
            "POST",
            "/api/w/{ws}/workspaces/change_workspace_name",
            "/workspaces/change_workspace_name",
            r#"{"new_name": "Demo"}"#,
            ADMIN,
        ),
        with("POST", "/api/w/{ws}/users/update/{username}", "/users/update/spare", r#"{"role": "developer"}"#, ADMIN),
        row("DELETE", "/api/w/{ws}/users/delete/{username}", "/users/delete/mem_{who}", ADMIN),
        with(
            "POST",
            "/api/w/{ws}/workspaces/add_user",
            "/workspaces/add_user",
            r#"{"email": "spare@example.com", "is_admin": false}"#,
            ADMIN,
        ),
        // Invitations: admins invite; each user answers their own.
        with(
            "POST",
            "/api/w/{ws}/workspaces/invite_user",
            "/workspaces/invite_user",
            r#"{"email": "inv_{who}@example.com", "is_admin": false}"#,
            ADMIN,
        ),
        row("GET", "/api/w/{ws}/workspaces/list_pending_invites", "/workspaces/list_pending_invites", ADMIN),
        with(
            "POST",
            "/api/w/{ws}/workspaces/delete_invite",
            "/workspaces/delete_invite",
            r#"{"email": "wd_{who}@example.com"}"#,
            ADMIN,
        ),
        row("GET", "/api/users/list_invites", "/api/users/list_invites", OWN),
        with("POST", "/api/users/accept_invite", "/api/users/accept_invite", r#"{"workspace_id": "third"}"#, OWN),
        with("POST", "/api/users/decline_invite", "/api/users/decline_invite", r#"{"workspace_id": "fourth"}"#, OWN),
        // Groups.
        with("POST", "/api/w/{ws}/groups/create", "/groups/create", r#"{"name": "g_{who}"}"#, ADMIN),
        row("GET", "/api/w/{ws}/groups/list", "/groups/list", READ),
        row("GET", "/api/w/{ws}/groups/listnames", "/groups/listnames", READ),
        row("GET", "/api/w/{ws}/groups/get/{name}", "/groups/get/ops", READ),
        with("POST", "/api/w/{ws}/groups/update/{name}", "/groups/update/ops", r#"{"summary": "ops"}"#, ADMIN),
        row("DELETE", "/api/w/{ws}/groups/delete/{name}", "/groups/delete/gd_{who}", ADMIN),
        with("POST", "/api/w/{ws}/groups/adduser/{name}", "/groups/adduser/ops", r#"{"username": "spare"}"#, ADMIN),
        with(
            "POST",
            "/api/w/{ws}/groups/removeuser/{name}",
            "/groups/removeuser/gr_{who}",
            r#"{"username": "spare"}"#,
            ADMIN,
        ),
        // Folders: developers make them, owners and admins change them.
        with("POST", "/api/w/{ws}/folders/create", "/folders/create", r#"{"name": "fold_{who}"}"#, DEV),
        row("GET", "/api/w/{ws}/folders/list", "/folders/list", READ),
        row("GET", "/api/w/{ws}/folders/listnames", "/folders/listnames", READ),
        row("GET", "/api/w/{ws}/folders/get/{name}", "/folders/get/team", READ),
        row("GET", "/api/w/{ws}/folders/exists/{name}", "/folders/exists/team", READ),
        with("POST", "/api/w/{ws}/folders/update/{name}", "/folders/update/team", r#"{"summary": "the team"}"#, WRITE),
        row("DELETE", "/api/w/{ws}/folders/delete/{name}", "/folders/delete/fdel_{who}", WRITE),
        with("POST", "/api/w/{ws}/folders/addowner/{name}", "/folders/addowner/team", r#"{"owner": "u/dave"}"#, WRITE),
        with(
            "POST",
            "/api/w/{ws}/folders/removeowner/{name}",
            "/folders/removeowner/team",
            r#"{"owner": "g/nobody"}"#,
            WRITE,
        ),
        // Variables, resources and their types, apps: the folder decides, as for scripts.
        with(
            "POST",
            "/api/w/{ws}/variables/create",
            "/variables/create",
            r#"{"path": "f/team/nv_{who}", "value": "v", "is_secret": true}"#,
            WRITE,
        ),
        row("GET", "/api/w/{ws}/variables/get/{*path}", "/variables/get/f/team/var", READ),
        row("GET", "/api/w/{ws}/variables/get_value/{*path}", "/variables/get_value/f/team/var", READ),
        row("GET", "/api/w/{ws}/variables/exists/{*path}", "/variables/exists/f/team/var", READ),
        row("GET", "/api/w/{ws}/variables/list", "/variables/list", READ),
        with(
            "POST",
            "/api/w/{ws}/variables/update/{*path}",
            "/variables/update/f/team/vu_{who}",
            r#"{"value": "w"}"#,
            WRITE,
        ),
        row("DELETE", "/api/w/{ws}/variables/delete/{*path}", "/variables/delete/f/team/vd_{who}", WRITE),
        row("POST", "/api/w/{ws}/variables/delete/{*path}", "/variables/delete/f/team/vd2_{who}", WRITE),
        with(
            "POST",
            "/api/w/{ws}/resources/create",
            "/resources/create",
            r#"{"path": "f/team/nr_{who}", "resource_type": "rt", "value": {"host": "h"}}"#,
            WRITE,
        ),
        row("GET", "/api/w/{ws}/resources/get/{*path}", "/resources/get/f/team/res", READ),
        row("GET", "/api/w/{ws}/resources/get_value/{*path}", "/resources/get_value/f/team/res", READ),
        row(
            "GET",
            "/api/w/{ws}/resources/get_value_interpolated/{*path}",
            "/resources/get_value_interpolated/f/team/res",
            READ,
        ),
        row("GET", "/api/w/{ws}/resources/exists/{*path}", "/resources/exists/f/team/res", READ),
        row("GET", "/api/w/{ws}/resources/list", "/resources/list", READ),
        with(
            "POST",
            "/api/w/{ws}/resources/update/{*path}",
            "/resources/update/f/team/ru_{who}",
            r#"{"description": "d"}"#,
            WRITE,
        ),
        with(
            "POST",
            "/api/w/{ws}/resources/update_value/{*path}",
            "/resources/update_value/f/team/ru_{who}",
            r#"{"value": {"host": "x"}}"#,
            WRITE,
        ),
        row("DELETE", "/api/w/{ws}/resources/delete/{*path}", "/resources/delete/f/team/rd_{who}", WRITE),
        row("POST", "/api/w/{ws}/resources/delete/{*path}", "/resources/delete/f/team/rd2_{who}", WRITE),
        with("POST", "/api/w/{ws}/resources/type/create", "/resources/type/create", r#"{"name": "t_{who}"}"#, DEV),
        row("GET", "/api/w/{ws}/resources/type/get/{name}", "/resources/type/get/rt", READ),
        row("GET", "/api/w/{ws}/resources/type/exists/{name}", "/resources/type/exists/rt", READ),
        row("GET", "/api/w/{ws}/resources/type/list", "/resources/type/list", READ),
        row("GET", "/api/w/{ws}/resources/type/listnames", "/resources/type/listnames", READ),
        with(
            "POST",
            "/api/w/{ws}/resources/type/update/{name}",
            "/resources/type/update/rt",
            r#"{"description": "d"}"#,
            DEV,
        ),
        row("DELETE", "/api/w/{ws}/resources/type/delete/{name}", "/resources/type/delete/td_{who}", DEV),
        with(
            "POST",
            "/api/w/{ws}/apps/create",
            "/apps/create",
            r#"{"path": "f/team/na_{who}", "summary": "a", "value": {}}"#,
            WRITE,
        ),
        with("POST", "/api/w/{ws}/apps/update/{*path}", "/apps/update/f/team/au_{who}", r#"{"summary": "b"}"#, WRITE),
        row("GET", "/api/w/{ws}/apps/get/p/{*path}", "/apps/get/p/f/team/app", READ),
        row("GET", "/api/w/{ws}/apps/exists/{*path}", "/apps/exists/f/team/app", READ),
        row("GET", "/api/w/{ws}/apps/history/p/{*path}", "/apps/history/p/f/team/app", READ),
        row("GET", "/api/w/{ws}/apps/list", "/apps/list", READ),
        row("DELETE", "/api/w/{ws}/apps/delete/{*path}", "/apps/delete/f/team/ad_{who}", WRITE),
        // The workspace webhook: admins only.
        with("POST", "/api/w/{ws}/workspaces/edit_webhook", "/workspaces/edit_webhook", r#"{"webhook": null}"#, ADMIN),
        row("GET", "/api/w/{ws}/workspaces/get_settings", "/workspaces/get_settings", ADMIN),
        row("POST", "/api/w/{ws}/workspaces/rotate_webhook_secret", "/workspaces/rotate_webhook_secret", ADMIN),
        row("GET", "/api/w/{ws}/workspaces/webhook_deliveries", "/workspaces/webhook_deliveries", ADMIN),
        row("GET", "/api/w/{ws}/workspaces/webhook_deliveries/{id}", "/workspaces/webhook_deliveries/{event}", ADMIN),
        with(
            "POST",
            "/api/w/{ws}/workspaces/webhook_deliveries/replay",
            "/workspaces/webhook_deliveries/replay",
            r#"{"id": {event}}"#,
            ADMIN,
        ),
        // Custom HTTP routes: items in folders, as scripts; served to anyone when their authentication is none.
        with(
            "POST",
            "/api/w/{ws}/http_triggers/create",
            "/http_triggers/create",
            r#"{"path": "f/team/hc_{who}", "script_path": "f/team/a", "route_path": "hc_{who}", "is_flow": false,
                "http_method": "post", "authentication_method": "none", "is_static_website": false}"#,
            WRITE,
        ),
        with(
            "POST",
            "/api/w/{ws}/http_triggers/update/{*path}",
            "/http_triggers/update/f/team/hu_{who}",
            r#"{"path": "f/team/hu_{who}", "script_path": "f/team/a", "is_flow": false, "is_static_website": false,
                "summary": "s"}"#,
            WRITE,
        ),
        row("GET", "/api/w/{ws}/http_triggers/get/{*path}", "/http_triggers/get/f/team/route", READ),
        row("GET", "/api/w/{ws}/http_triggers/exists/{*path}", "/http_triggers/exists/f/team/route", READ),
        row("GET", "/api/w/{ws}/http_triggers/list", "/http_triggers/list", READ),
        row("DELETE", "/api/w/{ws}/http_triggers/delete/{*path}", "/http_triggers/delete/f/team/hd_{who}", WRITE),
        with(
            "POST",
            "/api/w/{ws}/http_triggers/route_exists",
            "/http_triggers/route_exists",
            r#"{"route_path": "matrix/:x"}"#,
            READ,
        ),
        with("POST", "/api/r/{*route}", "/api/r/matrix/{who}", "{}", PUBLIC),
        with("POST", "/r/{*route}", "/r/matrix/{who}", "{}", PUBLIC),
        row("GET", "/api/r/{*route}", "/api/r/matrix/{who}", PUBLIC),
        row("GET", "/r/{*route}", "/r/matrix/{who}", PUBLIC),
        row("PUT", "/api/r/{*route}", "/api/r/matrix/{who}", PUBLIC),
        row("PUT", "/r/{*route}", "/r/matrix/{who}", PUBLIC),
        row("DELETE", "/api/r/{*route}", "/api/r/matrix/{who}", PUBLIC),
        row("DELETE", "/r/{*route}", "/r/matrix/{who}", PUBLIC),
        row("PATCH", "/api/r/{*route}", "/api/r/matrix/{who}", PUBLIC),
        row("PATCH", "/r/{*route}", "/r/matrix/{who}", PUBLIC),
        // The instance events webhook: super admins only, even to read.
        row(
            "GET",
            "/api/settings/global/instance_events_webhook",
            "/api/settings/global/instance_events_webhook",
            SUPER,
        ),
        with(
            "POST",
            "/api/settings/global/instance_events_webhook",
            "/api/settings/global/instance_events_webhook",
            r#"{"value": null}"#,
            SUPER,
        ),
        row("GET", "/api/settings/instance_events_webhook", "/api/settings/instance_events_webhook", SUPER),
        row(
            "POST",
            "/api/settings/instance_events_webhook/rotate_secret",
            "/api/settings/instance_events_webhook/rotate_secret",
            SUPER,
        ),
        row(
            "GET",
            "/api/settings/instance_events_webhook/deliveries",
            "/api/settings/instance_events_webhook/deliveries",
            SUPER,
        ),
        row(
            "GET",
            "/api/settings/instance_events_webhook/deliveries/{id}",
            "/api/settings/instance_events_webhook/deliveries/{ievent}",
            SUPER,
        ),
        with(
            "POST",
            "/api/settings/instance_events_webhook/deliveries/replay",
            "/api/settings/instance_events_webhook/deliveries/replay",
            r#"{"id": {ievent}}"#,
            SUPER,
        ),
        // The web UI: its page and its files, to anyone (the pages ask the API, which decides).
        row("GET", "/", "/", PUBLIC),
        row("GET", "/ui/{build}/{*file}", "/ui/any/js/app.js", PUBLIC),
        // The OpenAPI export: readers of the workspace's scripts, each shown what it may read.
        with("POST", "/api/w/{ws}/openapi/generate", "/openapi/generate", OPENAPI, READ),
        with("POST", "/api/w/{ws}/openapi/download", "/openapi/download", OPENAPI, READ),
        // Sharing of one item.
        row("GET", "/api/w/{ws}/acls/get/{kind}/{*path}", "/acls/get/script/{a}", READ),
        with(
            "POST",
            "/api/w/{ws}/acls/add/{kind}/{*path}",
            "/acls/add/script/{a}",
            r#"{"owner": "u/spare", "write": false}"#,
            WRITE,
        ),
        with(
            "POST",
            "/api/w/{ws}/acls/remove/{kind}/{*path}",
            "/acls/remove/script/{a}",
            r#"{"owner": "u/spare"}"#,
            WRITE,
        ),
    ]
}

const FLOW_VALUE: &str = r#"{"modules": [{"id": "a", "value": {"type": "rawscript", "language": "bash", "content": "echo 1", "input_transforms": {}}}]}"#;
const FLOW_NEW: &str = r#"{"path": "f/team/nf_{who}", "summary": "n", "value": {"modules": [{"id": "a", "value": {"type": "rawscript", "language": "bash", "content": "echo 1", "input_transforms": {}}}]}}"#;
const FLOW_UPDATE: &str = r#"{"path": "f/team/fl_{who}", "summary": "u", "value": {"modules": [{"id": "a", "value": {"type": "rawscript", "language": "bash", "content": "echo 2", "input_transforms": {}}}]}}"#;
const OPENAPI: &str = r#"{"webhook_filters": [{"user_or_folder_regex": "f", "user_or_folder_regex_value": "team", "path": "a", "runnable_kind": "script"}]}"#;
const HOOK_NEW: &str = r#"{"name": "m_{who}", "headers": {"X-Key": "k"}}"#;
const HOOK_UPDATE: &str = r#"{"name": "u_{who}", "headers": {"X-Key": "k"}}"#;

/// Requests as the super admin, for the fixtures.
async fn as_s(app: &TestApp, method: &str, path: &str, body: Value) -> Value {
    let url = if path.starts_with("/api/") { app.url(path) } else { app.ws(path) };
    let r = app.client.request(method.parse().unwrap(), url).bearer_auth(TOKEN).json(&body).send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "fixture {method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

#[tokio::test]
async fn every_route_answers_every_principal_as_the_table_says() {
    let mut opts = Opts::default();
    // Expired tokens are failed checks: the guesser's budget must not end the test.
    opts.env.push(("ORVANTA_AUTH_FAILURES_PER_MINUTE".into(), "100000".into()));
    let app = start(opts);
    let table = rows();

    // No route without a row (HEAD and OPTIONS of run routes are CORS and answer alike).
    let out = std::process::Command::new(binary()).arg("routes").output().unwrap();
    let routes: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let covered: BTreeSet<(String, String)> = table.iter().map(|r| (r.method.to_owned(), r.route.to_owned())).collect();
    let mut missing = Vec::new();
    for r in &routes {
        for m in r["methods"].as_array().unwrap() {
            let m = m.as_str().unwrap();
            let key = (m.to_owned(), r["path"].as_str().unwrap().to_owned());
            if !matches!(m, "HEAD" | "OPTIONS") && !covered.contains(&key) {
                missing.push(format!("{} {}", key.0, key.1));
            }
        }
    }
    assert!(missing.is_empty(), "routes without a row in the authorization matrix:\n{}", missing.join("\n"));

    // The principals.
    let (a, d, o, x, r) = (
        app.user("alice").await,
        app.user("dave").await,
        app.user("olga").await,
        app.user("xavi").await,
        app.user("rita").await,
    );
    for (u, role) in [(&a, "admin"), (&d, "developer"), (&o, "operator"), (&r, "developer")] {
        app.add_member(u, role).await;
    }
    as_s(&app, "POST", "/api/workspaces/create", json!({"id": "other", "name": "Other"})).await;
    let add = json!({"email": "xavi@example.com", "is_admin": false});
    as_s(&app, "POST", "/api/w/other/workspaces/add_user", add).await;
    let folder = json!({"name": "team", "owners": ["u/dave"], "extra_perms": {"u/olga": false, "u/rita": false}});
    as_s(&app, "POST", "/folders/create", folder).await;
    let script = |path: String| json!({"path": path, "language": "bash", "content": "echo a"});
    let hash = as_s(&app, "POST", "/scripts/create", script("f/team/a".into())).await.as_str().unwrap().to_owned();
    let flow = |path: String| json!({"path": path, "summary": "f", "value": serde_json::from_str::<Value>(FLOW_VALUE).unwrap()});
    as_s(&app, "POST", "/flows/create", flow("f/team/flow".into())).await;
    let version = as_s(&app, "GET", "/flows/get/f/team/flow", json!({})).await["version_id"].to_string();
    let job = app.run_async("f/team/a", &json!({})).await;
    let fjob = app.run_async_target("/jobs/run/f/f/team/flow", &json!({})).await;
    app.wait_done(&job, 60).await;
    app.wait_done(&fjob, 60).await;
    let hook_def = |name: String| json!({"name": name, "headers": {"X-Key": "k"}});
    let hook = as_s(&app, "POST", "/inbound_webhooks/create", hook_def("fixture".into())).await;
    let hook = hook["id"].as_str().unwrap().to_owned();
    as_s(&app, "POST", "/groups/create", json!({"name": "ops"})).await;
    as_s(
        &app,
        "POST",
        "/api/users/create",
        json!({"email": "spare@example.com", "password": "long-password-1", "super_admin": false}),
    )
    .await;
    as_s(&app, "POST", "/workspaces/add_user", json!({"email": "spare@example.com", "is_admin": false})).await;
    let token_of = |u: &User, body: Value| {
        let req = app.client.post(app.url("/api/users/tokens/create")).bearer_auth(&u.token).json(&body);
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    let h = token_of(&a, json!({"label": "hook", "scopes": ["jobs:run:scripts:f/team/a"]})).await;
    let soon = chrono::Utc::now() + chrono::Duration::seconds(2);
    let e = token_of(&a, json!({"label": "brief", "expiration": soon.to_rfc3339()})).await;
    let hjob = app.client.post(app.ws("/jobs/run/p/f/team/a")).bearer_auth(&h).json(&json!({})).send().await.unwrap();
    let hjob = hjob.text().await.unwrap();
    app.wait_done(&hjob, 60).await;

    as_s(&app, "POST", "/variables/create", json!({"path": "f/team/var", "value": "s3cr3t", "is_secret": true})).await;
    let rt = json!({"name": "rt", "schema": {"type": "object", "required": ["host"]}});
    as_s(&app, "POST", "/resources/type/create", rt).await;
    let res = |p: String| json!({"path": p, "resource_type": "rt", "value": {"host": "h", "pw": "$var:f/team/var"}});
    as_s(&app, "POST", "/resources/create", res("f/team/res".into())).await;
    let an_app = |p: String| json!({"path": p, "summary": "a", "value": {"grid": []}});
    as_s(&app, "POST", "/apps/create", an_app("f/team/app".into())).await;
    let a_route = |p: String, route: String| {
        json!({"path": p, "script_path": "f/team/a", "route_path": route, "is_flow": false, "http_method": "post",
               "authentication_method": "none", "is_static_website": false, "request_type": "async"})
    };
    as_s(&app, "POST", "/http_triggers/create", a_route("f/team/route".into(), "matrix/:id".into())).await;
    // Each principal's own copy of what the destructive rows change.
    let mut hookdel = HashMap::new();
    for who in WHO {
        for p in ["hu", "hd"] {
            as_s(&app, "POST", "/http_triggers/create", a_route(format!("f/team/{p}_{who}"), format!("{p}_{who}")))
                .await;
        }
        for p in [format!("f/team/arch_{who}"), format!("f/team/del_{who}"), format!("f/team/del2_{who}")] {
            as_s(&app, "POST", "/scripts/create", script(p)).await;
        }
        for p in [format!("f/team/fl_{who}"), format!("f/team/fa_{who}"), format!("f/team/fd_{who}")] {
            as_s(&app, "POST", "/flows/create", flow(p)).await;
        }
        as_s(&app, "POST", "/folders/create", json!({"name": format!("fdel_{who}"), "owners": ["u/dave"]})).await;
        for p in ["vu", "vd", "vd2"] {
            as_s(&app, "POST", "/variables/create", json!({"path": format!("f/team/{p}_{who}"), "value": "v"})).await;
        }
        for p in ["ru", "rd", "rd2"] {
            as_s(&app, "POST", "/resources/create", res(format!("f/team/{p}_{who}"))).await;
        }
        for p in ["au", "ad"] {
            as_s(&app, "POST", "/apps/create", an_app(format!("f/team/{p}_{who}"))).await;
        }
        as_s(&app, "POST", "/resources/type/create", json!({"name": format!("td_{who}")})).await;
        as_s(&app, "POST", "/groups/create", json!({"name": format!("gd_{who}")})).await;
        as_s(&app, "POST", "/groups/create", json!({"name": format!("gr_{who}")})).await;
        as_s(&app, "POST", &format!("/groups/adduser/gr_{who}"), json!({"username": "spare"})).await;
        let email = format!("mem_{who}@example.com");
        as_s(
            &app,
            "POST",
            "/api/users/create",
            json!({"email": email, "password": "long-password-1", "super_admin": false}),
        )
        .await;
        as_s(&app, "POST", "/workspaces/add_user", json!({"email": email, "is_admin": false})).await;
        let gone =
            json!({"email": format!("gone_{who}@example.com"), "password": "long-password-1", "super_admin": false});
        as_s(&app, "POST", "/api/users/create", gone).await;
        hookdel.insert(
            who,
            as_s(&app, "POST", "/inbound_webhooks/create", hook_def(format!("del_{who}"))).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Invitations every user can answer, and one per principal to withdraw.
    for id in ["third", "fourth"] {
        as_s(&app, "POST", "/api/workspaces/create", json!({"id": id, "name": id})).await;
        // The maker is a member: it leaves, to be invited like the others (a super admin keeps its rights).
        as_s(&app, "DELETE", &format!("/api/w/{id}/users/delete/admin"), json!({})).await;
        for email in [
            "admin@orvanta.local",
            "alice@example.com",
            "dave@example.com",
            "olga@example.com",
            "xavi@example.com",
            "rita@example.com",
        ] {
            as_s(
                &app,
                "POST",
                &format!("/api/w/{id}/workspaces/invite_user"),
                json!({"email": email, "is_admin": false}),
            )
            .await;
        }
    }
    for who in WHO {
        as_s(
            &app,
            "POST",
            "/workspaces/invite_user",
            json!({"email": format!("wd_{who}@example.com"), "is_admin": false}),
        )
        .await;
    }
    // The expired token has expired.
    while chrono::Utc::now() < soon + chrono::Duration::milliseconds(200) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Tokens made on purpose, not the login sessions: the logout row must not end a principal's session.
    let mut own = Vec::new();
    for u in [&a, &d, &o, &x, &r] {
        own.push(token_of(u, json!({"label": "matrix"})).await);
    }
    let tokens: [Option<&str>; 9] = [
        Some(TOKEN),
        Some(&own[0]),
        Some(&own[1]),
        Some(&own[2]),
        Some(&own[3]),
        Some(&own[4]),
        Some(&h),
        Some(&e),
        None,
    ];

    // The newest event of demo's webhook and of the instance's.
    let newest = |log: Value| log[0]["id"].as_i64().expect("an event").to_string();
    let event = newest(as_s(&app, "GET", "/workspaces/webhook_deliveries", Value::Null).await);
    let ievent = newest(as_s(&app, "GET", "/api/settings/instance_events_webhook/deliveries", Value::Null).await);

    let mut failures = Vec::new();
    for row in &table {
        let mut ok_status = 0;
        for (i, who) in WHO.iter().enumerate() {
            let fill = |t: &str| {
                t.replace("{ws}", "demo")
                    .replace("{a}", "f/team/a")
                    .replace("{hash}", &hash)
                    .replace("{flow}", "f/team/flow")
                    .replace("{version}", &version)
                    .replace("{job}", &job)
                    .replace("{fjob}", &fjob)
                    .replace("{hjob}", &hjob)
                    .replace("{hookdel}", &hookdel[who])
                    .replace("{hook}", &hook)
                    .replace("{ievent}", &ievent)
                    .replace("{event}", &event)
                    .replace("{who}", who)
            };
            let path = fill(row.path);
            let ui = path == "/" || path.starts_with("/ui/");
            let url =
                if ui || path.starts_with("/api/") || path.starts_with("/approve/") || path.starts_with("/webhook/") {
                    app.url(&path)
                } else {
                    app.url(&format!("{}{path}", W.replace("{ws}", "demo")))
                };
            let mut req = app.client.request(row.method.parse().unwrap(), &url);
            if let Some(t) = tokens[i] {
                req = req.bearer_auth(t);
            }
            if let Some(b) = row.body {
                req = req.header("content-type", "application/json").body(fill(b));
            }
            let status = req.send().await.map(|r| r.status().as_u16()).unwrap_or(0);
            let expected = row.profile[i];
            if i == 0 {
                ok_status = status;
                let allowed_refusal = row.profile == PUBLIC || row.path.contains("nope") || row.path.contains("/00");
                if !((200..300).contains(&status) || allowed_refusal || matches!(status, 400 | 409)) {
                    failures.push(format!("{} {} as s: {status}, not an answer of a permitted call", row.method, path));
                }
                continue;
            }
            let want = if expected == OK { ok_status } else { expected };
            if status != want {
                failures.push(format!("{} {} as {who}: {status}, expected {want}", row.method, path));
            }
        }
    }
    assert!(failures.is_empty(), "{} answers differ from the table:\n{}", failures.len(), failures.join("\n"));
}
