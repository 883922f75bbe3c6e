//! Instance settings and worker heartbeats.

use crate::fixtures::T0;
use orvanta_store::{Store, WorkerPing};
use std::sync::Arc;

pub async fn settings_first_writer_wins(s: Arc<dyn Store>) {
    assert_eq!(s.instance_setting("secret", "first").await.unwrap(), "first");
    assert_eq!(s.instance_setting("secret", "second").await.unwrap(), "first", "the stored value stands");
    assert_eq!(s.instance_setting("other", "").await.unwrap(), "", "an empty value is a value");

    // Processes starting at once all end up with one value.
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.instance_setting("raced", &format!("value {i}")).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for r in racers {
        seen.push(r.await.unwrap());
    }
    seen.dedup();
    assert_eq!(seen.len(), 1, "every racer got the same value: {seen:?}");
}

fn ping<'a>(worker: &'a str, slots: i64, tags: &'a [String], now: i64) -> WorkerPing<'a> {
    WorkerPing { worker, slots, tags, now }
}

pub async fn worker_slots(s: Arc<dyn Store>) {
    let tags = ["default".to_owned()];
    assert_eq!(s.count_workers(T0).await.unwrap(), 0, "no worker yet");
    s.worker_ping(&ping("w1", 4, &tags, T0)).await.unwrap();
    s.worker_ping(&ping("w2", 2, &tags, T0 + 10)).await.unwrap();
    s.worker_ping(&ping("w1", 3, &tags, T0 + 20)).await.unwrap();
    assert_eq!(s.count_workers(T0).await.unwrap(), 5, "w1's newest ping counts, with its newest slots");
    assert_eq!(s.count_workers(T0 + 10).await.unwrap(), 5, "a ping at `since` counts");
    assert_eq!(s.count_workers(T0 + 15).await.unwrap(), 3);
    assert_eq!(s.count_workers(T0 + 100).await.unwrap(), 0);
}

pub async fn worker_tags(s: Arc<dyn Store>) {
    assert!(!s.tag_served("default", T0).await.unwrap(), "no worker yet");
    let gpu = ["gpu".to_owned(), "default".to_owned()];
    s.worker_ping(&ping("w1", 1, &gpu, T0)).await.unwrap();
    s.worker_ping(&ping("w2", 1, &["db_%".to_owned()], T0 + 10)).await.unwrap();
    assert!(s.tag_served("gpu", T0).await.unwrap());
    assert!(s.tag_served("default", T0).await.unwrap());
    assert!(!s.tag_served("gp", T0).await.unwrap(), "a tag is matched whole");
    assert!(!s.tag_served("pu,default", T0).await.unwrap());
    assert!(s.tag_served("db_%", T0).await.unwrap());
    assert!(!s.tag_served("db_x", T0).await.unwrap(), "no wildcards");
    assert!(!s.tag_served("gpu", T0 + 5).await.unwrap(), "a worker that went quiet serves nothing");
    s.worker_ping(&ping("w1", 1, &["cpu".to_owned()], T0 + 20)).await.unwrap();
    assert!(!s.tag_served("gpu", T0).await.unwrap(), "the newest ping's tags count");
}
