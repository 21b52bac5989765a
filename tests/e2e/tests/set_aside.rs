//! Work that never succeeds is set aside, not waited on: after a bounded
//! number of cycles the item moves, with its cause, to the checkpoint's
//! set-aside list and the window moves on; an operator's retry brings its
//! events in once the cause is fixed. Failures of the credentials are never
//! set aside, and a cycle with almost nothing new asks for nothing.

use chrono::Utc;
use o365_e2e::{Pipeline, audit_source};
use o365_host::checkpoint::CheckpointStore;
use o365_host::gate::NetworkConfig;
use o365_simulator::{ContentType, DEFAULT_TENANT, FaultKind, FaultRule, Target, TenantSpec};
use std::collections::BTreeSet;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

async fn pipeline() -> Pipeline {
    let mut tenant = TenantSpec::new(DEFAULT_TENANT, 7);
    tenant.audit_blobs_per_hour = 2;
    tenant.audit_events_per_blob = 5;
    Pipeline::start(tenant, NetworkConfig::default(), |rt, url| async move {
        audit_source(&rt, &url, &[("O365_REQUESTS_PER_MINUTE", "0")]).await
    })
    .await
}

fn truth(p: &Pipeline, from: i64, to: i64, except: Option<&str>) -> BTreeSet<String> {
    p.audit_ids_where(from, to, |t| Some(t.content_id.as_str()) != except)
}

fn blob_in(p: &Pipeline, content_type: ContentType, from: i64, to: i64) -> String {
    p.audit_blob(content_type, from, to)
}

fn now() -> i64 {
    Utc::now().timestamp_millis() / 1000 * 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_that_never_succeeds_is_set_aside_and_an_operator_retry_brings_it_in() {
    let p = pipeline().await;
    let now = now();
    let start = now - 6 * HOUR;
    p.resume_at(start);
    let bad = blob_in(&p, ContentType::Exchange, now - 3 * HOUR, now);
    p.sim
        .faults()
        .add(FaultRule::new(Target::ContentBlob, FaultKind::Malformed).content_id(&bad));

    // Two cycles hold the checkpoint before the unreadable blob...
    for (i, when) in [now, now + 2 * MINUTE].into_iter().enumerate() {
        let report = p.cycle(when).await;
        assert!(!report.complete);
        let checkpoint = p.checkpoint().unwrap();
        assert_eq!(checkpoint.high_water_mark, start, "cycle {i}");
        let slice = checkpoint.slice.expect("the slice stays open");
        assert_eq!(slice.failures[&bad].attempts, i as u32 + 1);
        assert!(checkpoint.set_aside.is_empty());
    }
    // ...the third sets it aside and the window moves on without it.
    let third = now + 4 * MINUTE;
    let report = p.cycle(third).await;
    assert!(
        !report.complete,
        "a cycle that set an item aside is not complete"
    );
    assert_eq!(report.summary.set_aside, 1);
    assert_eq!(report.set_aside_total, 1);
    let checkpoint = p.checkpoint().unwrap();
    assert!(checkpoint.slice.is_none());
    assert!(checkpoint.high_water_mark >= third - MINUTE);
    let entry = &checkpoint.set_aside[0];
    assert_eq!(entry.item.key, bad);
    assert!(entry.retryable);
    assert_eq!(entry.attempts, 3);
    assert!(entry.cause.contains(&bad), "{}", entry.cause);
    assert_eq!((entry.window_start, entry.window_end), (start, now));
    let hwm = checkpoint.high_water_mark;
    assert_eq!(p.unique_ids(), truth(&p, start, hwm, Some(&bad)));

    // A later cycle does not stall on it either.
    assert!(
        p.cycle(third + 2 * MINUTE)
            .await
            .summary
            .failures
            .is_empty()
    );

    // The cause is fixed; the operator retries (what `set-aside retry` writes).
    p.sim.faults().clear();
    let mut checkpoint = p.checkpoint().unwrap();
    checkpoint.retry = checkpoint
        .set_aside
        .iter()
        .map(|e| e.item.clone())
        .collect();
    p.store
        .save("audit", DEFAULT_TENANT, &mut checkpoint)
        .await
        .unwrap();
    let report = p.cycle(third + 4 * MINUTE).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    let checkpoint = p.checkpoint().unwrap();
    assert!(checkpoint.set_aside.is_empty() && checkpoint.retry.is_empty());
    assert_eq!(
        p.unique_ids(),
        truth(&p, start, checkpoint.high_water_mark, None),
        "after the retry every event is there, once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_that_fails_again_keeps_the_item_set_aside_with_one_more_attempt() {
    let p = pipeline().await;
    let now = now();
    p.resume_at(now - 2 * HOUR);
    let bad = blob_in(&p, ContentType::SharePoint, now - 2 * HOUR, now);
    p.sim
        .faults()
        .add(FaultRule::new(Target::ContentBlob, FaultKind::Malformed).content_id(&bad));
    for i in 0..3 {
        p.cycle(now + i * 2 * MINUTE).await;
    }
    let mut checkpoint = p.checkpoint().unwrap();
    assert_eq!(checkpoint.set_aside.len(), 1);
    checkpoint.retry = vec![checkpoint.set_aside[0].item.clone()];
    p.store
        .save("audit", DEFAULT_TENANT, &mut checkpoint)
        .await
        .unwrap();
    let report = p.cycle(now + 8 * MINUTE).await;
    assert!(!report.complete);
    let checkpoint = p.checkpoint().unwrap();
    assert!(checkpoint.retry.is_empty());
    assert_eq!(checkpoint.set_aside.len(), 1);
    assert_eq!(checkpoint.set_aside[0].attempts, 4);
    assert_eq!(
        checkpoint.set_aside[0].window_end, now,
        "the original window is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_holds_the_window_and_is_never_set_aside() {
    let p = pipeline().await;
    let now = now();
    let start = now - 2 * HOUR;
    p.resume_at(start);
    let bad = blob_in(&p, ContentType::General, now - 2 * HOUR, now);
    p.sim
        .faults()
        .add(FaultRule::new(Target::ContentBlob, FaultKind::Unauthorized).content_id(&bad));
    for i in 0..5 {
        let report = p.cycle(now + i * 2 * MINUTE).await;
        assert!(!report.complete);
    }
    let checkpoint = p.checkpoint().unwrap();
    assert!(
        checkpoint.set_aside.is_empty(),
        "credentials failures are not the item's"
    );
    assert_eq!(checkpoint.high_water_mark, start);
    assert_eq!(checkpoint.slice.unwrap().outstanding[0].key, bad);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_content_is_recorded_as_lost_and_cannot_be_retried() {
    let p = pipeline().await;
    let now = now();
    p.resume_at(now - 2 * HOUR);
    let gone = blob_in(&p, ContentType::SharePoint, now - 2 * HOUR, now);
    p.sim
        .faults()
        .add(FaultRule::new(Target::ContentBlob, FaultKind::Expired).content_id(&gone));
    let report = p.cycle(now).await;
    assert_eq!(report.summary.expired, 1);
    let checkpoint = p.checkpoint().unwrap();
    assert!(
        checkpoint.slice.is_none(),
        "expired content does not hold the window"
    );
    let entry = &checkpoint.set_aside[0];
    assert_eq!(entry.item.key, gone);
    assert!(!entry.retryable);
    let lost = o365_host::telemetry::snapshot()
        .into_iter()
        .filter(|(k, _)| k.starts_with("items_lost,") && k.contains("reason=expired"))
        .map(|(_, v)| v)
        .sum::<f64>();
    assert!(lost >= 1.0, "expired content is counted in items_lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_seconds_after_a_cycle_asks_the_api_for_nothing() {
    let p = pipeline().await;
    let now = now();
    p.resume_at(now - HOUR);
    assert!(p.cycle(now).await.complete);
    let before = p.sim.requests().len();
    let report = p.cycle(now + 3_000).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    assert_eq!(report.slices_total, 0);
    let listings: Vec<_> = p.sim.requests()[before..]
        .iter()
        .filter(|r| r.path_and_query.contains("subscriptions/content"))
        .map(|r| r.path_and_query.clone())
        .collect();
    assert!(listings.is_empty(), "asked for a sliver: {listings:?}");
}
