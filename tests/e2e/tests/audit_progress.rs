//! Nothing lost at the audit source (issue 10): content types that fall
//! behind, listings refused for want of a subscription or for age, malformed
//! records, late-listed blobs and windows too small to ask for, each
//! compared with the simulator's ground truth.

use chrono::{Duration as ChronoDuration, Utc};
use o365_e2e::{Pipeline, at, audit_source};
use o365_host::checkpoint::{Checkpoint, CheckpointStore, SliceProgress, StoredItem};
use o365_host::gate::NetworkConfig;
use o365_host::pipeline::CycleReport;
use o365_simulator::{ContentType, DEFAULT_TENANT, FaultKind, FaultRule, Target, TenantSpec};
use std::collections::BTreeSet;
use std::time::Duration;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

struct Fixture(Pipeline);

impl std::ops::Deref for Fixture {
    type Target = Pipeline;
    fn deref(&self) -> &Pipeline {
        &self.0
    }
}

impl Fixture {
    async fn new(tenant: TenantSpec, extra: &[(&str, &str)]) -> Self {
        let mut pairs: Vec<(String, String)> =
            vec![("O365_REQUESTS_PER_MINUTE".into(), "0".into())];
        pairs.extend(extra.iter().map(|(a, b)| (a.to_string(), b.to_string())));
        Self(
            Pipeline::start(tenant, NetworkConfig::default(), |rt, url| async move {
                let pairs: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect();
                audit_source(&rt, &url, &pairs).await
            })
            .await,
        )
    }

    /// Runs a cycle at `now`, with the simulator's clock moved to `now`.
    async fn cycle_at(&self, now: i64) -> CycleReport {
        self.sim.set_clock_offset(ChronoDuration::milliseconds(
            now - Utc::now().timestamp_millis(),
        ));
        self.0.cycle(now).await
    }

    /// The events of blobs created in [from, to) that must be published.
    fn truth(&self, from: i64, to: i64) -> BTreeSet<String> {
        self.audit_ids(from, to)
    }
}

fn tenant(blobs_per_hour: u32, events_per_blob: u32) -> TenantSpec {
    let mut t = TenantSpec::new(DEFAULT_TENANT, 11);
    t.audit_blobs_per_hour = blobs_per_hour;
    t.audit_events_per_blob = events_per_blob;
    t
}

/// Now, moved to 30 seconds past a whole minute, so that blob times (on
/// the minute grid) keep clear of every bound the tests compute.
fn now() -> i64 {
    let wall = Utc::now().timestamp_millis();
    wall - wall.rem_euclid(MIN) + 30_000
}

/// The lagging content types as the component reported them
/// (`lagging:<type>:<reason>` counters, which the host keeps apart).
fn lagging(report: &CycleReport) -> Vec<String> {
    report
        .summary
        .lagging
        .iter()
        .map(|(kind, lag)| format!("lagging:{kind}:{}", lag.reason))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_subscribed_late_is_published_once_its_subscription_produces_content() {
    let mut spec = tenant(4, 3);
    spec.subscribed = [
        "Audit.AzureActiveDirectory",
        "Audit.Exchange",
        "Audit.SharePoint",
        "Audit.General",
    ]
    .map(String::from)
    .to_vec();
    // The new subscription lists nothing for 20 minutes.
    spec.subscription_delay = Duration::from_secs(20 * 60);
    let f = Fixture::new(spec, &[("O365_SUBSCRIPTION_WARMUP", "30m")]).await;
    let start = now() - 2 * HOUR;
    f.resume_at(start);

    let t0 = start + 2 * HOUR;
    let first = f.cycle_at(t0).await;
    assert_eq!(
        f.sim.subscription_starts(DEFAULT_TENANT, ContentType::Dlp),
        1
    );
    assert_eq!(lagging(&first), ["lagging:DLP.All:subscription-starting"]);

    // Ten minutes on: enabled, but its listings are still empty.
    let second = f.cycle_at(t0 + 10 * MIN).await;
    assert_eq!(lagging(&second), ["lagging:DLP.All:subscription-starting"]);

    // Past the warm-up: DLP.All is listed from where it fell behind.
    let end = t0 + 35 * MIN;
    let third = f.cycle_at(end).await;
    assert!(
        third.summary.failures.is_empty(),
        "{:?}",
        third.summary.failures
    );
    assert!(lagging(&third).is_empty(), "{:?}", third.summary.counters);
    let dlp_before_start: BTreeSet<String> = f
        .sim
        .audit_truth(DEFAULT_TENANT, at(start)..at(t0))
        .into_iter()
        .filter(|t| t.content_type == ContentType::Dlp && !t.ignored_source)
        .map(|t| t.event_id)
        .collect();
    assert!(!dlp_before_start.is_empty());
    let published = f.unique_ids();
    assert!(
        dlp_before_start.is_subset(&published),
        "DLP.All events of the first window are missing"
    );
    // Everything of the window, and nothing but what the listing overlap
    // (10 minutes before the point DLP.All fell behind) may add: blobs
    // from before the checkpoint's start that were never published either.
    let truth = f.truth(start, end);
    assert!(
        truth.is_subset(&published),
        "{} events missing",
        truth.difference(&published).count()
    );
    assert!(published.is_subset(&f.truth(start - 10 * MIN, end)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn already_enabled_after_a_stale_subscription_list_is_listed() {
    let f = Fixture::new(tenant(4, 3), &[]).await;
    let start = now() - 2 * HOUR;
    f.resume_at(start);
    f.sim
        .faults()
        .add(FaultRule::new(Target::SubscriptionsList, FaultKind::StaleSubscriptionList).times(1));
    let end = start + 2 * HOUR;
    let report = f.cycle_at(end).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    assert!(lagging(&report).is_empty(), "{:?}", report.summary.counters);
    assert_eq!(
        f.sim
            .subscription_starts(DEFAULT_TENANT, ContentType::Exchange),
        1
    );
    assert_eq!(f.unique_ids(), f.truth(start, end));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_refused_for_want_of_a_subscription_is_not_an_empty_success() {
    for fault in [
        FaultKind::SubscriptionMissing,
        FaultKind::SubscriptionDisabled,
    ] {
        let f = Fixture::new(tenant(4, 3), &[("O365_EVENT_TYPES", "Audit.Exchange")]).await;
        let start = now() - 2 * HOUR;
        f.resume_at(start);
        f.sim
            .faults()
            .add(FaultRule::new(Target::ContentList, fault.clone()).times(1));
        let end = start + 2 * HOUR;
        let report = f.cycle_at(end).await;
        assert!(
            !report.complete,
            "{fault:?}: the unread window was reported complete"
        );
        assert!(
            report
                .summary
                .failures
                .iter()
                .any(|m| m.contains("the Audit.Exchange subscription is missing or disabled")),
            "{fault:?}: {:?}",
            report.summary.failures
        );
        assert_eq!(f.checkpoint().unwrap().high_water_mark, start, "{fault:?}");
        // Once the listing works, the window is read.
        let again = f.cycle_at(end + 1000).await;
        assert!(again.complete, "{:?}", again.summary.failures);
        let exchange: BTreeSet<String> = f
            .sim
            .audit_truth(DEFAULT_TENANT, at(start)..at(end + 1000))
            .into_iter()
            .filter(|t| t.content_type == ContentType::Exchange && !t.ignored_source)
            .map(|t| t.event_id)
            .collect();
        assert_eq!(f.unique_ids(), exchange, "{fault:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_record_is_published_with_its_error_and_its_blob_with_it() {
    let f = Fixture::new(tenant(4, 3), &[]).await;
    let start = now() - 2 * HOUR;
    f.resume_at(start);
    let end = start + 2 * HOUR;
    let bad = f
        .sim
        .audit_truth(DEFAULT_TENANT, at(start)..at(end))
        .into_iter()
        .find(|t| t.content_type == ContentType::Exchange)
        .unwrap()
        .content_id;
    f.sim
        .faults()
        .add(FaultRule::new(Target::ContentBlob, FaultKind::MalformedRecord).content_id(&bad));
    let report = f.cycle_at(end).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    assert_eq!(report.summary.counters.get("malformed-records"), Some(&1));
    // The good records of that blob and every other blob are there; the
    // bad one (its first) is there under its derived id, with the error.
    let first_of_bad = f
        .sim
        .audit_truth(DEFAULT_TENANT, at(start)..at(end))
        .into_iter()
        .find(|t| t.content_id == bad)
        .unwrap();
    let mut expected = f.truth(start, end);
    expected.remove(&first_of_bad.event_id);
    expected.insert(format!("{bad}:0"));
    assert_eq!(f.unique_ids(), expected);
    let text = std::fs::read_to_string(&f.events).unwrap();
    let event: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["id"] == format!("{bad}:0"))
        .unwrap();
    let body = if event.get("body").is_some() {
        &event["body"]
    } else {
        &event
    };
    assert!(
        body["normalizationError"]
            .as_str()
            .is_some_and(|m| m.contains("is a string, not a JSON object")),
        "{event}"
    );
    assert!(body["record"].is_string(), "{event}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_aged_past_seven_days_is_listed_again_from_inside_the_limit() {
    let f = Fixture::new(tenant(2, 2), &[("O365_EVENT_TYPES", "Audit.General")]).await;
    let now = now();
    // A resumed slice whose listing was planned when it was still inside
    // the 7 days, and has aged since.
    let slice_start = now - 7 * DAY - HOUR;
    let slice_end = now - 7 * DAY + 5 * HOUR;
    let payload =
        format!(r#"{{"contentType":"Audit.General","start":{slice_start},"end":{slice_end}}}"#);
    let mut checkpoint = Checkpoint::starting_at(slice_start);
    checkpoint.component_state = Some("{}".into());
    checkpoint.slice = Some(SliceProgress {
        start: slice_start,
        end: slice_end,
        outstanding: vec![StoredItem {
            kind: "list-content".into(),
            key: format!("list:Audit.General:{slice_start}:{slice_end}:first"),
            payload,
            remember_for: None,
        }],
        failures: Default::default(),
        planned_by: None,
    });
    f.store
        .save("audit", DEFAULT_TENANT, &mut checkpoint)
        .await
        .unwrap();
    let report = f.cycle_at(now).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    let oldest = now - 7 * DAY + 15 * MIN;
    assert_eq!(
        report.summary.counters.get("lost-window-seconds"),
        Some(&(75 * 60)),
        "{:?}",
        report.summary.counters
    );
    let general: BTreeSet<String> = f
        .sim
        .audit_truth(DEFAULT_TENANT, at(oldest)..at(now))
        .into_iter()
        .filter(|t| t.content_type == ContentType::General && !t.ignored_source)
        .map(|t| t.event_id)
        .collect();
    let published = f.unique_ids();
    assert_eq!(published.len(), general.len());
    assert_eq!(published, general);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_seconds_after_the_last_cycle_asks_for_nothing_the_api_refuses() {
    let f = Fixture::new(tenant(4, 2), &[]).await;
    let t0 = now();
    f.resume_at(t0 - HOUR);
    let first = f.cycle_at(t0).await;
    assert!(first.complete, "{:?}", first.summary.failures);
    // 400 ms later, in the same second.
    let again = f.cycle_at(t0 + 400).await;
    assert!(again.complete, "{:?}", again.summary.failures);
    let refused: Vec<_> = f
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.status == 400)
        .collect();
    assert!(
        refused.is_empty(),
        "{:?}",
        refused
            .iter()
            .map(|r| &r.path_and_query)
            .collect::<Vec<_>>()
    );
    assert_eq!(f.unique_ids(), f.truth(t0 - HOUR, t0 + 400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overlap_catches_a_blob_listed_late() {
    // A blob a minute; blobs become listable 3 minutes after contentCreated.
    let f = Fixture::new(tenant(60, 1), &[("O365_EVENT_TYPES", "Audit.Exchange")]).await;
    f.sim.faults().add(FaultRule::new(
        Target::ContentList,
        FaultKind::ListedLate { delay_secs: 180 },
    ));
    let t0 = now();
    f.resume_at(t0 - HOUR);
    let first = f.cycle_at(t0).await;
    assert!(first.complete, "{:?}", first.summary.failures);
    let t1 = t0 + 5 * MIN;
    let second = f.cycle_at(t1).await;
    assert!(second.complete, "{:?}", second.summary.failures);
    // Everything listable by the second cycle is there, including the
    // blobs of the first cycle's last three minutes.
    let exchange: BTreeSet<String> = f
        .sim
        .audit_truth(DEFAULT_TENANT, at(t0 - HOUR)..at(t1 - 3 * MIN))
        .into_iter()
        .filter(|t| t.content_type == ContentType::Exchange && !t.ignored_source)
        .map(|t| t.event_id)
        .collect();
    let late: BTreeSet<String> = f
        .sim
        .audit_truth(DEFAULT_TENANT, at(t0 - 3 * MIN)..at(t0))
        .into_iter()
        .filter(|t| t.content_type == ContentType::Exchange && !t.ignored_source)
        .map(|t| t.event_id)
        .collect();
    assert!(!late.is_empty());
    assert_eq!(f.unique_ids(), exchange);
}
