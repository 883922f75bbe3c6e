//! Instance settings and worker heartbeats.

use crate::fixtures::T0;
use orvanta_store::Store;
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

pub async fn worker_slots(s: Arc<dyn Store>) {
    assert_eq!(s.count_workers(T0).await.unwrap(), 0, "no worker yet");
    s.worker_ping("w1", 4, T0).await.unwrap();
    s.worker_ping("w2", 2, T0 + 10).await.unwrap();
    s.worker_ping("w1", 3, T0 + 20).await.unwrap();
    assert_eq!(s.count_workers(T0).await.unwrap(), 5, "w1's newest ping counts, with its newest slots");
    assert_eq!(s.count_workers(T0 + 10).await.unwrap(), 5, "a ping at `since` counts");
    assert_eq!(s.count_workers(T0 + 15).await.unwrap(), 3);
    assert_eq!(s.count_workers(T0 + 100).await.unwrap(), 0);
}
