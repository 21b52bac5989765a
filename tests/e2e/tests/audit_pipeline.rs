//! The audit pipeline against the simulator: every failure path of the
//! Management Activity API ends either with everything published or with the
//! checkpoint left before what is missing — never with a silent loss.

use chrono::Utc;
use o365_e2e::{Pipeline, at, audit_source};
use o365_host::checkpoint::{Checkpoint, CheckpointStore};
use o365_host::gate::NetworkConfig;
use o365_host::pipeline::LOOKBACK_MARGIN_MS;
use o365_simulator::{
    ContentType, DEFAULT_TENANT, FaultKind, FaultRule, Listener, Target, TenantSpec,
};
use std::collections::BTreeSet;
use std::time::Duration;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// The audit pipeline against a simulated tenant.
struct Fixture(Pipeline);

impl std::ops::Deref for Fixture {
    type Target = Pipeline;
    fn deref(&self) -> &Pipeline {
        &self.0
    }
}

impl Fixture {
    /// A fixture without request pacing, so that failure tests run fast;
    /// pacing has its own test.
    async fn new(tenant: TenantSpec, network: NetworkConfig) -> Self {
        Self::with_settings(tenant, network, &[("O365_REQUESTS_PER_MINUTE", "0")]).await
    }

    async fn with_settings(
        tenant: TenantSpec,
        network: NetworkConfig,
        extra: &[(&str, &str)],
    ) -> Self {
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Self(
            Pipeline::start(tenant, network, |rt, url| async move {
                let pairs: Vec<(&str, &str)> = extra
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect();
                audit_source(&rt, &url, &pairs).await
            })
            .await,
        )
    }

    fn truth(&self, from: i64, to: i64) -> BTreeSet<String> {
        self.audit_ids(from, to)
    }

    /// A content blob of `content_type` created in [from, to).
    fn blob_in(&self, content_type: ContentType, from: i64, to: i64) -> String {
        self.audit_blob(content_type, from, to)
    }

    fn checkpoint(&self) -> Checkpoint {
        self.0.checkpoint().expect("a checkpoint")
    }
}

fn tenant(blobs_per_hour: u32, events_per_blob: u32) -> TenantSpec {
    let mut t = TenantSpec::new(DEFAULT_TENANT, 7);
    t.audit_blobs_per_hour = blobs_per_hour;
    t.audit_events_per_blob = events_per_blob;
    t
}

/// Now, on a whole second: windows end on whole seconds.
fn now() -> i64 {
    Utc::now().timestamp_millis() / 1000 * 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_day_gap_is_fetched_in_three_slices_and_matches_the_ground_truth() {
    let f = Fixture::new(tenant(2, 5), NetworkConfig::default()).await;
    let now = now();
    f.resume_at(now - 3 * DAY);
    let report = f.cycle(now).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    assert_eq!((report.slices_done, report.slices_total), (3, 3));
    assert_eq!(report.unrecoverable, None);
    assert_eq!(f.unique_ids(), f.truth(now - 3 * DAY, now));
    assert_eq!(f.checkpoint().high_water_mark, now);
    assert_eq!(f.checkpoint().slice, None);
    // Every call carried the publisher id the API counts quotas by.
    for r in f
        .sim
        .requests()
        .iter()
        .filter(|r| r.path_and_query.contains("/activity/feed/"))
    {
        assert!(
            r.path_and_query
                .contains(&format!("PublisherIdentifier={DEFAULT_TENANT}")),
            "{}",
            r.path_and_query
        );
    }
    // Nothing new: a second cycle publishes nothing and keeps the checkpoint.
    let again = f.cycle(now + 1000).await;
    assert!(again.complete);
    assert_eq!(again.summary.events, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nine_day_gap_reports_the_unrecoverable_span_and_fetches_the_rest() {
    let f = Fixture::new(tenant(1, 2), NetworkConfig::default()).await;
    let now = now();
    f.resume_at(now - 9 * DAY);
    let report = f.cycle(now).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    let oldest = now - 7 * DAY + LOOKBACK_MARGIN_MS;
    assert_eq!(report.unrecoverable, Some((now - 9 * DAY, oldest)));
    let lost_hours = o365_host::telemetry::snapshot()
        .into_iter()
        .find(|(k, _)| k.starts_with("unrecoverable_span_hours,source=audit"))
        .map(|(_, v)| v);
    assert!(lost_hours.is_some_and(|h| h > 47.0), "{lost_hours:?}");
    assert_eq!(f.unique_ids(), f.truth(oldest, now));
    // No request asked for more than 7 days back (the API would refuse it).
    assert!(
        f.sim.requests().iter().all(|r| r.status != 400),
        "a request was refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_storm_is_waited_out_and_nothing_is_lost() {
    let f = Fixture::new(tenant(2, 5), NetworkConfig::default()).await;
    let now = now();
    f.resume_at(now - 6 * HOUR);
    f.sim.faults().add(
        FaultRule::new(
            Target::ContentBlob,
            FaultKind::TooManyRequests {
                retry_after_secs: Some(1),
            },
        )
        .times(12),
    );
    f.sim.faults().add(
        FaultRule::new(
            Target::ContentBlob,
            FaultKind::Af429 {
                retry_after_secs: Some(1),
            },
        )
        .times(12),
    );
    f.sim.faults().add(
        FaultRule::new(
            Target::ContentList,
            FaultKind::Af429 {
                retry_after_secs: None,
            },
        )
        .times(5),
    );
    let report = f.cycle(now).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    assert_eq!(report.summary.throttled, 29);
    assert_eq!(f.unique_ids(), f.truth(now - 6 * HOUR, now));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_timeouts_are_retried() {
    let network = NetworkConfig {
        request_timeout: Duration::from_millis(500),
        ..NetworkConfig::default()
    };
    let f = Fixture::new(tenant(2, 5), network).await;
    let now = now();
    f.resume_at(now - 6 * HOUR);
    f.sim
        .faults()
        .add(FaultRule::new(Target::ContentBlob, FaultKind::ServerError { status: 503 }).times(10));
    f.sim
        .faults()
        .add(FaultRule::new(Target::ContentList, FaultKind::ServerError { status: 500 }).times(3));
    f.sim
        .faults()
        .add(FaultRule::new(Target::ContentBlob, FaultKind::Slow { millis: 2000 }).times(4));
    let report = f.cycle(now).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    assert!(report.summary.retries >= 17, "{}", report.summary.retries);
    assert_eq!(f.unique_ids(), f.truth(now - 6 * HOUR, now));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_blob_holds_the_checkpoint_until_it_can_be_read() {
    let f = Fixture::new(tenant(2, 5), NetworkConfig::default()).await;
    let now = now();
    let start = now - 6 * HOUR;
    f.resume_at(start);
    let bad = f.blob_in(ContentType::Exchange, now - 3 * HOUR, now);
    f.sim
        .faults()
        .add(FaultRule::new(Target::ContentBlob, FaultKind::Malformed).content_id(&bad));
    let report = f.cycle(now).await;
    assert!(!report.complete);
    assert!(
        report.summary.failures.iter().any(|m| m.contains(&bad)),
        "{:?}",
        report.summary.failures
    );
    let checkpoint = f.checkpoint();
    assert_eq!(
        checkpoint.high_water_mark, start,
        "the checkpoint moved past an unread blob"
    );
    let outstanding = &checkpoint.slice.as_ref().unwrap().outstanding;
    assert_eq!(outstanding.len(), 1);
    assert_eq!(outstanding[0].key, bad);

    // Once the blob reads, the next cycle publishes it and everything is there.
    f.sim.faults().clear();
    let report = f.cycle(now + 1000).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    assert_eq!(f.unique_ids(), f.truth(start, now + 1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_content_is_counted_and_skipped() {
    let f = Fixture::new(tenant(2, 5), NetworkConfig::default()).await;
    let now = now();
    f.resume_at(now - 6 * HOUR);
    let gone = f.blob_in(ContentType::SharePoint, now - 2 * HOUR, now);
    f.sim
        .faults()
        .add(FaultRule::new(Target::ContentBlob, FaultKind::Expired).content_id(&gone));
    let report = f.cycle(now).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    assert_eq!(report.summary.expired, 1);
    let expected: BTreeSet<String> = f
        .sim
        .audit_truth(DEFAULT_TENANT, at(now - 6 * HOUR)..at(now))
        .into_iter()
        .filter(|t| !t.ignored_source && t.content_id != gone)
        .map(|t| t.event_id)
        .collect();
    assert_eq!(f.unique_ids(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_listed_twice_is_published_once() {
    let f = Fixture::new(tenant(8, 3), NetworkConfig::default()).await;
    let now = now();
    f.resume_at(now - 30 * HOUR);
    f.sim.faults().add(FaultRule::new(
        Target::ContentList,
        FaultKind::DuplicateContentIds,
    ));
    let report = f.cycle(now).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    assert!(report.summary.duplicate_items > 0);
    assert_eq!(f.unique_ids(), f.truth(now - 30 * HOUR, now));
    // Across cycles too: re-listing the same span later publishes nothing again.
    let mut checkpoint = f.checkpoint();
    checkpoint.high_water_mark = now - 4 * HOUR;
    f.store
        .save("audit", DEFAULT_TENANT, &mut checkpoint)
        .await
        .unwrap();
    let again = f.cycle(now + 1000).await;
    assert!(again.complete);
    assert_eq!(
        again.summary.events, 0,
        "content ids already published were published again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_page_on_a_foreign_host_is_refused_and_gets_no_token() {
    let f = Fixture::new(tenant(8, 2), NetworkConfig::default()).await;
    let now = now();
    let start = now - 20 * HOUR;
    f.resume_at(start);
    f.sim
        .faults()
        .add(FaultRule::new(Target::ContentList, FaultKind::ForeignNextPage).times(1));
    let report = f.cycle(now).await;
    assert!(!report.complete);
    assert!(
        report
            .summary
            .failures
            .iter()
            .any(|m| m.contains("NextPageUri") && m.contains("refusing")),
        "{:?}",
        report.summary.failures
    );
    let foreign: Vec<_> = f
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.listener == Listener::Foreign)
        .collect();
    assert!(
        foreign.iter().all(|r| r.authorization.is_none()),
        "a token reached the foreign host"
    );
    assert_eq!(f.checkpoint().high_water_mark, start);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_subscriptions_are_started_once_per_fifteen_minutes() {
    let mut spec = tenant(2, 2);
    spec.subscribed = Vec::new();
    let f = Fixture::new(spec, NetworkConfig::default()).await;
    let now = now();
    f.resume_at(now - HOUR);
    let first = f.cycle(now).await;
    assert!(
        first.summary.failures.is_empty(),
        "{:?}",
        first.summary.failures
    );
    // Subscriptions that were just started have not produced content yet:
    // every type lags, so the cycle does not call itself complete.
    assert!(!first.complete);
    assert_eq!(
        first.summary.lagging.len(),
        5,
        "{:?}",
        first.summary.lagging
    );
    for ct in [
        ContentType::AzureActiveDirectory,
        ContentType::Exchange,
        ContentType::SharePoint,
        ContentType::General,
        ContentType::Dlp,
    ] {
        assert_eq!(f.sim.subscription_starts(DEFAULT_TENANT, ct), 1, "{ct:?}");
    }
    assert!(f.checkpoint().component_state.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_never_outrun_the_tenants_budget() {
    // 1,200 a minute: 20 a second, with one second's worth of burst.
    let f = Fixture::with_settings(
        tenant(20, 2),
        NetworkConfig::default(),
        &[
            ("O365_REQUESTS_PER_MINUTE", "1200"),
            ("O365_EVENT_TYPES", "Audit.Exchange"),
        ],
    )
    .await;
    let now = now();
    f.resume_at(now - 3 * HOUR);
    let report = f.cycle(now).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    let exchange: BTreeSet<String> = f
        .sim
        .audit_truth(DEFAULT_TENANT, at(now - 3 * HOUR)..at(now))
        .into_iter()
        .filter(|t| !t.ignored_source && t.content_type == ContentType::Exchange)
        .map(|t| t.event_id)
        .collect();
    assert_eq!(f.unique_ids(), exchange);
    let times: Vec<i64> = f
        .sim
        .requests()
        .iter()
        .filter(|r| r.path_and_query.contains("/activity/feed/"))
        .map(|r| r.at.timestamp_millis())
        .collect();
    assert!(times.len() >= 60, "{} requests", times.len());
    let busiest = times
        .iter()
        .map(|t| times.iter().filter(|u| **u >= *t && **u < t + 1000).count())
        .max()
        .unwrap();
    // 20 a second plus the burst of 20, with some room for network jitter.
    assert!(
        busiest <= 45,
        "{busiest} requests in one second; the budget allows 20/s plus a burst of 20"
    );
    // Over the whole run, the pace after the burst is the budget's.
    let first = *times.iter().min().unwrap();
    let last = *times.iter().max().unwrap();
    let seconds = (last - first) as f64 / 1000.0;
    let pace = (times.len() - 20) as f64 / seconds;
    assert!(
        pace <= 21.0,
        "{pace:.1} requests a second after the burst; the budget is 20"
    );
}
