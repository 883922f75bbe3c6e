//! The token sweep (expiry notices, workspace events, deletion) and the
//! mail outbox's claims.

use crate::fixtures::*;
use orvanta_store::{NewToken, NoticeKind, NoticeOutcome, NoticeStatus, Role, Store, TokenNotice};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;

const DAY: i64 = 86_400_000;
const SOON: i64 = 7 * DAY;

/// A user token of `owner` whose hash is `hash` and prefix its first 8 characters.
fn token(hash: &str, owner: &str, expires_at: Option<i64>) -> NewToken {
    NewToken {
        hash: hash.into(),
        prefix: hash[..8].into(),
        owner: user(owner),
        label: format!("label {}", &hash[..8]),
        created_at: T0 - DAY,
        expires_at,
        scopes: None,
        workspace: None,
        session: false,
    }
}

/// Alice, a member of `demo` and `other`; bob, of no workspace.
async fn people(s: &dyn Store) {
    s.create_user(&new_user("alice")).await.unwrap();
    s.create_user(&new_user("bob")).await.unwrap();
    s.create_workspace(&new_workspace("demo")).await.unwrap();
    s.create_workspace(&new_workspace("other")).await.unwrap();
    s.set_member(&ws("demo"), &user("alice"), Role::Developer).await.unwrap();
    s.set_member(&ws("other"), &user("alice"), Role::Operator).await.unwrap();
}

fn summary(notices: &[TokenNotice]) -> Vec<(NoticeKind, String)> {
    notices.iter().map(|n| (n.kind, n.token_prefix.clone())).collect()
}

async fn events(s: &dyn Store, workspace: &str) -> Vec<Value> {
    let events = s.list_workspace_events(&ws(workspace), 0, 100).await.unwrap();
    assert!(events.windows(2).all(|w| w[0].id < w[1].id), "events come in order");
    events
        .iter()
        .map(|e| {
            let mut payload: Value = serde_json::from_str(&e.payload).unwrap();
            let stamp = payload.as_object_mut().unwrap().remove("timestamp");
            assert!(stamp.is_some_and(|t| t.is_string()), "every event has its timestamp: {payload}");
            assert_eq!(payload["type"], e.kind, "the payload names its kind");
            assert_eq!(payload["workspace"], e.workspace.as_str());
            payload
        })
        .collect()
}

async fn prefixes_left(s: &dyn Store, owner: &str) -> Vec<String> {
    let mut left: Vec<String> = s.list_tokens(&user(owner)).await.unwrap().into_iter().map(|t| t.prefix).collect();
    left.sort();
    left
}

pub async fn sweep_records_notices_and_events(s: Arc<dyn Store>) {
    people(&*s).await;
    let mut expired = token("aaaaaaaa11111111", "alice", Some(T0 - 1));
    expired.workspace = Some(ws("demo"));
    let soon = token("bbbbbbbb22222222", "alice", Some(T0 + 3 * DAY));
    let at_now = token("cccccccc33333333", "bob", Some(T0));
    let later = token("dddddddd44444444", "alice", Some(T0 + 30 * DAY));
    let never = token("eeeeeeee55555555", "alice", None);
    let mut gone_ws = token("ffffffff66666666", "alice", Some(T0 + DAY));
    gone_ws.workspace = Some(ws("nowhere"));
    let mut session_soon = token("gggggggg77777777", "alice", Some(T0 + DAY));
    session_soon.session = true;
    let mut session_expired = token("hhhhhhhh88888888", "alice", Some(T0 - 1));
    session_expired.session = true;
    for t in [&expired, &soon, &at_now, &later, &never, &gone_ws, &session_soon, &session_expired] {
        s.create_token(t).await.unwrap();
    }

    let sweep = s.sweep_tokens(T0, SOON, 100).await.unwrap();
    use NoticeKind::*;
    let want = [
        (TokenExpiringSoon, "cccccccc"),
        (TokenExpiringSoon, "ffffffff"),
        (TokenExpiringSoon, "bbbbbbbb"),
        (TokenExpired, "aaaaaaaa"),
    ];
    let want: Vec<(NoticeKind, String)> = want.iter().map(|(k, p)| (*k, p.to_string())).collect();
    assert_eq!(summary(&sweep.notices), want, "soonest first, sessions never, expired after");
    assert_eq!((sweep.marked, sweep.deleted), (3, 2), "a token expiring at now is not yet expired");
    let expired_notice = &sweep.notices[3];
    assert_eq!((expired_notice.owner.as_str(), expired_notice.email.as_str()), ("alice", "alice@example.com"));
    assert_eq!((expired_notice.label.as_str(), expired_notice.expires_at), ("label aaaaaaaa", T0 - 1));
    assert_eq!(expired_notice.workspace, Some(ws("demo")));
    assert_eq!(
        (expired_notice.status, expired_notice.attempts, expired_notice.created_at),
        (NoticeStatus::Pending, 0, T0)
    );
    assert_eq!(sweep.notices[0].owner.as_str(), "bob");
    assert_eq!(sweep.notices[2].workspace, None);

    // bob is in no workspace, the restricted token's workspace does not
    // exist: their notices have no event. The unrestricted token of alice
    // has one in each of her workspaces, the restricted one in its own.
    assert_eq!(sweep.events, 3);
    assert_eq!(
        events(&*s, "demo").await,
        [
            json!({"type": "TokenExpiringSoon", "workspace": "demo", "owner": "alice", "label": "label bbbbbbbb",
                   "token_prefix": "bbbbbbbb", "expires_at": "2023-11-17T22:13:20.000Z"}),
            json!({"type": "TokenExpired", "workspace": "demo", "owner": "alice", "label": "label aaaaaaaa",
                   "token_prefix": "aaaaaaaa", "expires_at": "2023-11-14T22:13:19.999Z"}),
        ]
    );
    let other = events(&*s, "other").await;
    assert_eq!(other.len(), 1);
    assert_eq!(
        (other[0]["type"].as_str(), other[0]["token_prefix"].as_str()),
        (Some("TokenExpiringSoon"), Some("bbbbbbbb"))
    );
    let first_demo = s.list_workspace_events(&ws("demo"), 0, 1).await.unwrap();
    let after_first = s.list_workspace_events(&ws("demo"), first_demo[0].id, 10).await.unwrap();
    assert_eq!(after_first.len(), 1, "paging by id");

    assert_eq!(prefixes_left(&*s, "alice").await, ["bbbbbbbb", "dddddddd", "eeeeeeee", "ffffffff", "gggggggg"]);
    let again = s.sweep_tokens(T0, SOON, 100).await.unwrap();
    assert!(again.notices.is_empty() && again.events == 0 && again.deleted == 0, "once per token: {again:?}");

    // A day on, the token expiring at T0 is deleted (noticed again, as
    // expired) with the session; the ones noticed as soon are not noticed again.
    let day_on = s.sweep_tokens(T0 + DAY + 1, SOON, 100).await.unwrap();
    let want: Vec<(NoticeKind, String)> = vec![(TokenExpired, "cccccccc".into()), (TokenExpired, "ffffffff".into())];
    assert_eq!(summary(&day_on.notices), want);
    assert_eq!((day_on.marked, day_on.deleted), (0, 3));
    assert_eq!(prefixes_left(&*s, "alice").await, ["bbbbbbbb", "dddddddd", "eeeeeeee"]);
    let all = s.list_token_notices(0, 100).await.unwrap();
    assert_eq!(all.len(), 6);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(s.list_token_notices(all[4].id, 100).await.unwrap().len(), 1);
}

pub async fn sweeps_take_a_limited_batch(s: Arc<dyn Store>) {
    people(&*s).await;
    for i in 0..5 {
        s.create_token(&token(&format!("{i:08}soon"), "alice", Some(T0 + DAY + i))).await.unwrap();
        s.create_token(&token(&format!("{i:08}gone"), "alice", Some(T0 - DAY + i))).await.unwrap();
    }
    let first = s.sweep_tokens(T0, SOON, 2).await.unwrap();
    assert_eq!((first.marked, first.deleted, first.notices.len()), (2, 2, 4));
    let mut total = first.notices.len();
    loop {
        let next = s.sweep_tokens(T0, SOON, 2).await.unwrap();
        if next.notices.is_empty() {
            break;
        }
        total += next.notices.len();
    }
    assert_eq!(total, 10, "every token once");
}

pub async fn concurrent_sweeps_notice_each_token_once(s: Arc<dyn Store>) {
    people(&*s).await;
    for i in 0..40 {
        s.create_token(&token(&format!("s{i:07}xxxxxxxx"), "alice", Some(T0 + DAY + i))).await.unwrap();
        s.create_token(&token(&format!("e{i:07}xxxxxxxx"), "alice", Some(T0 - DAY + i))).await.unwrap();
    }
    let sweepers: Vec<_> = (0..4)
        .map(|n| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let sweep = s.sweep_tokens(T0 + n, SOON, 7).await.unwrap();
                    if sweep.marked + sweep.deleted == 0 {
                        return mine;
                    }
                    mine.extend(sweep.notices);
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for sweeper in sweepers {
        for notice in sweeper.await.unwrap() {
            assert!(seen.insert((notice.kind, notice.token_prefix.clone())), "{notice:?} was recorded twice");
        }
    }
    assert_eq!(seen.len(), 80, "each token noticed once");
    assert_eq!(s.list_token_notices(0, 1000).await.unwrap().len(), 80);
    let per_ws = s.list_workspace_events(&ws("demo"), 0, 1000).await.unwrap().len();
    assert_eq!(per_ws, 80, "one event per notice and workspace");
    assert!(s.list_tokens(&user("alice")).await.unwrap().iter().all(|t| t.prefix.starts_with('s')));
}

/// Two notices recorded at `T0`: alice's, expiring soon and expired.
async fn two_notices(s: &dyn Store) -> Vec<TokenNotice> {
    people(s).await;
    s.create_token(&token("aaaaaaaa11111111", "alice", Some(T0 + DAY))).await.unwrap();
    s.create_token(&token("bbbbbbbb22222222", "alice", Some(T0 - 1))).await.unwrap();
    s.sweep_tokens(T0, SOON, 100).await.unwrap().notices
}

pub async fn outbox_claims_and_outcomes(s: Arc<dyn Store>) {
    let recorded = two_notices(&*s).await;
    assert!(s.claim_notices(T0 - 1, T0 + 60_000, 10).await.unwrap().is_empty(), "not due before it was recorded");
    let claimed = s.claim_notices(T0, T0 + 60_000, 10).await.unwrap();
    let ids: Vec<i64> = claimed.iter().map(|n| n.id).collect();
    assert_eq!(ids, recorded.iter().map(|n| n.id).collect::<Vec<_>>(), "oldest first");
    assert!(claimed.iter().all(|n| n.attempts == 1 && n.status == NoticeStatus::Pending));
    assert!(s.claim_notices(T0 + 59_999, T0 + 120_000, 10).await.unwrap().is_empty(), "leased");

    let (soon, gone) = (&claimed[0], &claimed[1]);
    let retry = NoticeOutcome::Retry { at: T0 + 5_000, error: "connection refused".into() };
    assert!(s.finish_notice(soon.id, &retry).await.unwrap());
    assert!(s.finish_notice(gone.id, &NoticeOutcome::Sent { at: T0 + 10 }).await.unwrap());
    assert!(!s.finish_notice(gone.id, &NoticeOutcome::Sent { at: T0 + 20 }).await.unwrap(), "sent once");
    assert!(s.claim_notices(T0 + 4_999, T0 + 60_000, 10).await.unwrap().is_empty(), "retried at its time");
    let again = s.claim_notices(T0 + 5_000, T0 + 65_000, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (soon.id, 2));
    assert_eq!(again[0].last_error.as_deref(), Some("connection refused"));

    assert!(s.finish_notice(soon.id, &NoticeOutcome::Failed { error: "gave up".into() }).await.unwrap());
    assert!(s.claim_notices(T0 + DAY, T0 + DAY, 10).await.unwrap().is_empty(), "finished notices stay finished");
    let all = s.list_token_notices(0, 10).await.unwrap();
    assert_eq!(
        (all[0].status, all[0].last_error.as_deref(), all[0].sent_at),
        (NoticeStatus::Failed, Some("gave up"), None)
    );
    assert_eq!((all[1].status, all[1].sent_at, all[1].attempts), (NoticeStatus::Sent, Some(T0 + 10), 1));

    s.create_token(&token("cccccccc33333333", "alice", Some(T0 + 2 * DAY))).await.unwrap();
    let third = s.sweep_tokens(T0 + 1, SOON, 100).await.unwrap().notices;
    let claimed = s.claim_notices(T0 + 1, T0 + 60_000, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|n| n.id).collect::<Vec<_>>(), [third[0].id]);
    assert!(s.finish_notice(third[0].id, &NoticeOutcome::Skipped { reason: "stale".into() }).await.unwrap());
    assert_eq!(s.list_token_notices(third[0].id - 1, 10).await.unwrap()[0].status, NoticeStatus::Skipped);
}

pub async fn concurrent_claims_take_each_notice_once(s: Arc<dyn Store>) {
    people(&*s).await;
    for i in 0..30 {
        s.create_token(&token(&format!("{i:08}xxxxxxxx"), "alice", Some(T0 + DAY))).await.unwrap();
    }
    assert_eq!(s.sweep_tokens(T0, SOON, 100).await.unwrap().notices.len(), 30);
    let claimers: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = s.claim_notices(T0, T0 + 60_000, 4).await.unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|n| n.id));
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for claimer in claimers {
        for id in claimer.await.unwrap() {
            assert!(seen.insert(id), "notice {id} was claimed twice");
        }
    }
    assert_eq!(seen.len(), 30);
}

pub async fn settled_notices_are_purged_with_age(s: Arc<dyn Store>) {
    let recorded = two_notices(&*s).await;
    let claimed = s.claim_notices(T0, T0 + 60_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(s.finish_notice(recorded[1].id, &NoticeOutcome::Sent { at: T0 + 10 }).await.unwrap());
    let retry = NoticeOutcome::Retry { at: T0 + 5_000, error: "connection refused".into() };
    assert!(s.finish_notice(recorded[0].id, &retry).await.unwrap());
    assert_eq!(s.purge_notices(T0, 10).await.unwrap(), 0, "recorded at T0: not older than T0");
    assert_eq!(s.purge_notices(T0 + 1, 10).await.unwrap(), 1);
    let left: Vec<i64> = s.list_token_notices(0, 10).await.unwrap().iter().map(|n| n.id).collect();
    assert_eq!(left, [recorded[0].id], "a pending notice is kept, however old");
}
