//! A cycle with a deadline (a Functions invocation's timeout): past the
//! first instant it plans nothing and starts nothing, past the second it
//! abandons what still runs; what it abandoned published nothing and stays
//! outstanding, so the next cycle does it and, against the simulator's
//! ground truth, nothing is missing and nothing is published twice.

use chrono::Utc;
use o365_e2e::{Pipeline, audit_source};
use o365_host::gate::NetworkConfig;
use o365_host::pipeline::Deadline;
use o365_simulator::{DEFAULT_TENANT, FaultKind, FaultRule, Target, TenantSpec};
use std::time::{Duration, Instant};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

async fn pipeline() -> Pipeline {
    let mut tenant = TenantSpec::new(DEFAULT_TENANT, 17);
    tenant.audit_blobs_per_hour = 2;
    tenant.audit_events_per_blob = 5;
    Pipeline::start(tenant, NetworkConfig::default(), |rt, url| async move {
        audit_source(&rt, &url, &[("O365_REQUESTS_PER_MINUTE", "0")]).await
    })
    .await
}

fn now() -> i64 {
    Utc::now().timestamp_millis() / 1000 * 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_deadline_nothing_is_planned_and_the_checkpoint_stays() {
    let p = pipeline().await;
    let now = now();
    let start = now - 6 * HOUR;
    p.resume_at(start);
    let passed = Deadline::before_timeout(
        Instant::now() - Duration::from_secs(60),
        Duration::from_secs(10),
    );
    let report = p.cycle_until(now, Some(passed)).await;
    assert!(!report.complete);
    let reason = report.stopped.as_deref().expect("the stop is reported");
    assert!(reason.contains("function timeout of 10s"), "{reason}");
    assert_eq!(report.slices_done, 0);
    assert_eq!(report.summary.events, 0);
    assert!(
        p.sim.requests().is_empty(),
        "nothing was planned, so nothing was asked: {:?}",
        p.sim.requests()
    );
    let checkpoint = p.checkpoint().expect("saved");
    assert_eq!(checkpoint.high_water_mark, start);
    assert!(checkpoint.slice.is_none(), "the slice is planned again");

    // Without a deadline the next cycle does it all.
    let report = p.cycle(now).await;
    assert!(report.complete, "{report:?}");
    assert_eq!(p.unique_ids(), p.audit_ids(start, report.high_water_mark));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_running_past_the_deadline_are_abandoned_and_done_by_the_next_cycle() {
    let p = pipeline().await;
    let now = now();
    let start = now - 6 * HOUR;
    p.resume_at(start);
    // Every content blob answers after 6 s: the items running at the
    // deadline are still running when it abandons them.
    p.sim.faults().add(FaultRule::new(
        Target::ContentBlob,
        FaultKind::Slow { millis: 6_000 },
    ));
    let timeout = Duration::from_secs(3);
    let began = Instant::now();
    let report = p
        .cycle_until(now, Some(Deadline::before_timeout(began, timeout)))
        .await;
    let took = began.elapsed();
    assert!(
        took < timeout,
        "the cycle ended after {took:?}, past its timeout"
    );
    assert!(!report.complete);
    assert!(report.stopped.is_some(), "{report:?}");
    assert_eq!(
        report.summary.events, 0,
        "an abandoned item publishes nothing"
    );
    assert!(p.unique_ids().is_empty());
    let checkpoint = p.checkpoint().expect("saved");
    assert_eq!(
        checkpoint.high_water_mark, start,
        "not past unpublished work"
    );
    let outstanding = checkpoint.slice.expect("the slice stays open").outstanding;
    let blobs = p
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.contains("/activity/feed/audit/"))
        .count();
    assert!(blobs > 0, "blob fetches were running at the deadline");
    assert!(
        outstanding.len() >= blobs,
        "{} outstanding items, {blobs} abandoned blob fetches",
        outstanding.len()
    );

    // The API answers promptly again: the next cycle does the abandoned
    // items and the rest, and nothing is missing or published twice.
    p.sim.faults().clear();
    let report = p.cycle(now).await;
    assert!(report.complete, "{report:?}");
    assert_eq!(p.unique_ids(), p.audit_ids(start, report.high_water_mark));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_of_set_aside_work_cut_by_the_deadline_stays_requested() {
    let p = pipeline().await;
    let now = now();
    let start = now - 2 * HOUR;
    p.resume_at(start);
    let bad = p.audit_blob(o365_simulator::ContentType::SharePoint, start, now);
    p.sim
        .faults()
        .add(FaultRule::new(Target::ContentBlob, FaultKind::Malformed).content_id(&bad));
    for i in 0..3 {
        p.cycle(now + i * 2 * MINUTE).await;
    }
    let mut checkpoint = p.checkpoint().unwrap();
    assert_eq!(
        checkpoint.set_aside.len(),
        1,
        "set aside after three cycles"
    );
    // The operator asks for a retry; the blob now answers too slowly for
    // the invocation's timeout.
    checkpoint.retry = vec![checkpoint.set_aside[0].item.clone()];
    use o365_host::checkpoint::CheckpointStore as _;
    p.store
        .save("audit", DEFAULT_TENANT, &mut checkpoint)
        .await
        .unwrap();
    p.sim.faults().clear();
    p.sim.faults().add(
        FaultRule::new(Target::ContentBlob, FaultKind::Slow { millis: 6_000 }).content_id(&bad),
    );
    let began = Instant::now();
    let report = p
        .cycle_until(
            now + 8 * MINUTE,
            Some(Deadline::before_timeout(began, Duration::from_secs(3))),
        )
        .await;
    assert!(began.elapsed() < Duration::from_secs(3));
    assert!(report.stopped.is_some(), "{report:?}");
    let checkpoint = p.checkpoint().unwrap();
    assert_eq!(checkpoint.retry.len(), 1, "the retry is still requested");
    assert_eq!(checkpoint.retry[0].key, bad);
    assert_eq!(checkpoint.set_aside.len(), 1);
    assert_eq!(
        checkpoint.set_aside[0].attempts, 3,
        "an abandoned retry is not a failed attempt"
    );

    // Once the blob answers, the next cycle brings it in, once.
    p.sim.faults().clear();
    let report = p.cycle(now + 10 * MINUTE).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    let checkpoint = p.checkpoint().unwrap();
    assert!(checkpoint.set_aside.is_empty() && checkpoint.retry.is_empty());
    assert_eq!(
        p.unique_ids(),
        p.audit_ids(start, checkpoint.high_water_mark)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planning_that_keeps_failing_stops_retrying_before_the_deadline_and_says_why() {
    let p = pipeline().await;
    let now = now();
    let start = now - 2 * HOUR;
    p.resume_at(start);
    p.sim.faults().add(FaultRule::new(
        Target::SubscriptionsList,
        FaultKind::ServerError { status: 503 },
    ));
    let timeout = Duration::from_secs(2);
    let began = Instant::now();
    let report = p
        .cycle_until(now, Some(Deadline::before_timeout(began, timeout)))
        .await;
    let took = began.elapsed();
    assert!(
        took < timeout,
        "the cycle ended after {took:?}, past its timeout"
    );
    assert!(report.stopped.is_some(), "{report:?}");
    assert!(report.summary.retries > 0, "planning was retried meanwhile");
    let failure = report
        .summary
        .failures
        .last()
        .expect("the cause is reported");
    assert!(
        failure.contains("503") && failure.contains("not retried: the deadline"),
        "{failure}"
    );
    let checkpoint = p.checkpoint().expect("saved");
    assert_eq!(checkpoint.high_water_mark, start);
    assert!(
        checkpoint.slice.is_none(),
        "the slice is planned again next time"
    );
}
