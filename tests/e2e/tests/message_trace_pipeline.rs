//! Message traces end to end against the simulator, with both versions of
//! the component: every row (one per message and recipient, the rows of a
//! message sharing its trace id) compared with the simulator's ground
//! truth, paging, wide gaps, late records and status changes caught by the
//! overlap without duplicates, throttling, errors a person can act on, a
//! foreign next link, and the same rows from Graph and the legacy service.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use o365_e2e::{Pipeline, source};
use o365_host::gate::NetworkConfig;
use o365_simulator::{DEFAULT_TENANT, FaultKind, FaultRule, Listener, Target, TenantSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const MIN_AGE: i64 = 15 * MINUTE;

fn tenant(traces_per_hour: u32, history_days: u64) -> TenantSpec {
    let mut t = TenantSpec::new(DEFAULT_TENANT, 5);
    t.traces_per_hour = traces_per_hour;
    t.history = Duration::from_secs(history_days * 86_400);
    t
}

async fn graph(tenant: TenantSpec, extra: &[(&str, &str)]) -> Pipeline {
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    Pipeline::start(tenant, NetworkConfig::default(), |rt, url| async move {
        let mut pairs = vec![
            ("MESSAGE_TRACES_GRAPH_API", url.as_str()),
            ("MESSAGE_TRACES_REQUESTS_PER_5_MINUTES", "0"),
        ];
        pairs.extend(extra.iter().map(|(a, b)| (a.as_str(), b.as_str())));
        source(
            &rt,
            "message-trace",
            connector_artifacts::MESSAGE_TRACE_GRAPH_PATH,
            &pairs,
        )
        .await
    })
    .await
}

async fn reporting(tenant: TenantSpec) -> Pipeline {
    Pipeline::start(tenant, NetworkConfig::default(), |rt, url| async move {
        let pairs = [("EXCHANGE_REPORTING_API", url.as_str())];
        source(
            &rt,
            "message-trace",
            connector_artifacts::MESSAGE_TRACE_REPORTING_PATH,
            &pairs,
        )
        .await
    })
    .await
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap()
}

/// A message trace row as Microsoft identifies it: the trace id and the
/// recipient (lower-cased, as addresses compare).
type Row = (String, String);

/// Rows of messages received in [from, to) and visible by `visible_at`.
fn truth(p: &Pipeline, from: i64, to: i64, visible_at: i64) -> BTreeSet<Row> {
    p.sim
        .trace_truth(DEFAULT_TENANT, at(from)..at(to))
        .into_iter()
        .filter(|t| t.available_at <= at(visible_at))
        .map(|t| (t.id, t.recipient.to_lowercase()))
        .collect()
}

/// The rows published, each with the statuses published for it, read from
/// the record each event carries (Graph or Reporting Web Service fields).
fn published_rows(p: &Pipeline) -> BTreeMap<Row, Vec<String>> {
    let mut rows: BTreeMap<Row, Vec<String>> = BTreeMap::new();
    for line in std::fs::read_to_string(&p.events)
        .unwrap_or_default()
        .lines()
    {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        let record = &event["record"];
        let field = |graph: &str, reporting: &str| {
            record[graph]
                .as_str()
                .or(record[reporting].as_str())
                .unwrap_or_else(|| panic!("no {graph} in {record}"))
                .to_string()
        };
        let row = (
            field("id", "MessageTraceId"),
            field("recipientAddress", "RecipientAddress").to_lowercase(),
        );
        let status = event["status"].as_str().unwrap_or_default().to_string();
        rows.entry(row).or_default().push(status);
    }
    rows
}

/// The published rows, each once.
fn rows(p: &Pipeline) -> BTreeSet<Row> {
    published_rows(p).into_keys().collect()
}

/// Missing rows, for a message that says how many and which.
fn missing(want: &BTreeSet<Row>, got: &BTreeSet<Row>) -> String {
    let missing: Vec<_> = want.difference(got).collect();
    format!(
        "{} of {} rows missing, e.g. {:?}",
        missing.len(),
        want.len(),
        &missing[..missing.len().min(3)]
    )
}

/// Now, on a whole second: windows end on whole seconds.
fn now() -> i64 {
    Utc::now().timestamp_millis() / 1000 * 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_25_day_gap_is_three_slices_of_many_pages() {
    let p = graph(tenant(10, 27), &[("MESSAGE_TRACES_PAGE_SIZE", "100")]).await;
    let now = now();
    p.resume_at(now - 25 * DAY);
    let report = p.cycle(now).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    assert_eq!(report.slices_total, 3);
    assert!(
        report.summary.counters["pages"] >= 60,
        "{:?}",
        report.summary.counters
    );
    p.unique_ids();
    let published = rows(&p);
    // Every row in the window is there; the overlap before it may add a little.
    let inside = truth(&p, now - 25 * DAY, now - MIN_AGE, now);
    let with_overlap = truth(&p, now - 25 * DAY - HOUR, now - MIN_AGE, now);
    assert!(
        inside.is_subset(&published),
        "{}",
        missing(&inside, &published)
    );
    assert!(published.is_subset(&with_overlap));
    // The newest minutes are held back for late data.
    assert_eq!(p.checkpoint().unwrap().high_water_mark, now - MIN_AGE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_records_are_caught_by_the_overlap_and_published_once() {
    // A short hold-back, so that plenty of records arrive after it.
    const MIN_AGE: i64 = 2 * MINUTE;
    let p = graph(tenant(120, 2), &[("MESSAGE_TRACES_MIN_AGE", "2m")]).await;
    let start = now() - 3 * HOUR;
    p.resume_at(start);
    let first = now();
    let report = p.cycle(first).await;
    assert!(report.complete, "{:?}", report.summary.failures);

    // An hour later some messages of the first window have arrived late.
    p.sim.set_clock_offset(ChronoDuration::hours(1));
    let second = first + HOUR;
    let late: BTreeSet<Row> = truth(&p, start, first - MIN_AGE, second)
        .difference(&truth(&p, start, first - MIN_AGE, first))
        .cloned()
        .collect();
    assert!(
        !late.is_empty(),
        "the simulator produced no late records; the test proves nothing"
    );
    let report = p.cycle(second).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    assert!(
        report.summary.duplicate_events > 0,
        "the overlap was not re-read"
    );
    p.unique_ids();
    let published = rows(&p);
    assert!(late.is_subset(&published), "late rows were lost");
    let all = truth(&p, start, second - MIN_AGE, second);
    assert!(all.is_subset(&published), "{}", missing(&all, &published));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_that_changes_in_the_overlap_is_published_again() {
    const MIN_AGE: i64 = 2 * MINUTE;
    let p = graph(tenant(240, 2), &[("MESSAGE_TRACES_MIN_AGE", "2m")]).await;
    let first = now();
    p.resume_at(first - 2 * HOUR);
    let report = p.cycle(first).await;
    assert!(report.complete, "{:?}", report.summary.failures);

    // Rows the first cycle read as `pending` that have settled an hour
    // later, inside what the second cycle re-reads.
    p.sim.set_clock_offset(ChronoDuration::hours(1));
    let second = first + HOUR;
    let reread_from = first - MIN_AGE - HOUR + MINUTE;
    let changed: Vec<_> = p
        .sim
        .trace_truth(DEFAULT_TENANT, at(reread_from)..at(first - MIN_AGE))
        .into_iter()
        .filter(|t| t.available_at <= at(first) && t.status_at(at(first)) == "pending")
        .filter(|t| t.status_at(at(second)) != "pending")
        .collect();
    assert!(
        !changed.is_empty(),
        "the simulator changed no status; the test proves nothing"
    );
    let report = p.cycle(second).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    p.unique_ids();
    let published = published_rows(&p);
    for t in &changed {
        let statuses = &published[&(t.id.clone(), t.recipient.to_lowercase())];
        assert!(
            statuses.contains(&t.status),
            "{} to {}: published {statuses:?}, never the final {}",
            t.id,
            t.recipient,
            t.status
        );
    }
    // An unchanged row is published once however often it is read.
    let once = published.values().filter(|s| s.len() == 1).count();
    assert!(
        once > published.len() * 9 / 10,
        "{once} of {}",
        published.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_storm_is_waited_out() {
    let p = graph(tenant(60, 2), &[("MESSAGE_TRACES_PAGE_SIZE", "20")]).await;
    let now = now();
    p.resume_at(now - 2 * HOUR);
    p.sim.faults().add(
        FaultRule::new(
            Target::Graph,
            FaultKind::TooManyRequests {
                retry_after_secs: Some(1),
            },
        )
        .times(4),
    );
    let report = p.cycle(now).await;
    assert!(report.complete, "{:?}", report.summary.failures);
    assert_eq!(report.summary.throttled, 4);
    p.unique_ids();
    let all = truth(&p, now - 2 * HOUR, now - MIN_AGE, now);
    assert!(all.is_subset(&rows(&p)), "{}", missing(&all, &rows(&p)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_problems_say_how_to_fix_them() {
    let mut unprovisioned = tenant(10, 2);
    unprovisioned.graph_provisioned = false;
    let p = graph(unprovisioned, &[]).await;
    let now = now();
    p.resume_at(now - HOUR);
    let report = p.cycle(now).await;
    assert!(!report.complete);
    let text = report.summary.failures.join("\n");
    assert!(
        text.contains("8bd644d1-64a1-4d4b-ae52-2e0cbf64e373"),
        "{text}"
    );
    assert_eq!(p.checkpoint().unwrap().high_water_mark, now - HOUR);

    let p = graph(tenant(10, 2), &[]).await;
    p.resume_at(now - HOUR);
    p.sim.faults().add(FaultRule::new(
        Target::Graph,
        FaultKind::Forbidden {
            message: "Access denied".into(),
        },
    ));
    let report = p.cycle(now).await;
    let text = report.summary.failures.join("\n");
    assert!(text.contains("ExchangeMessageTrace.Read.All"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_link_on_a_foreign_host_is_refused() {
    let p = graph(tenant(60, 2), &[("MESSAGE_TRACES_PAGE_SIZE", "10")]).await;
    let now = now();
    p.resume_at(now - 2 * HOUR);
    p.sim
        .faults()
        .add(FaultRule::new(Target::Graph, FaultKind::ForeignNextPage).times(1));
    let report = p.cycle(now).await;
    assert!(!report.complete);
    assert!(
        p.sim
            .requests()
            .iter()
            .filter(|r| r.listener == Listener::Foreign)
            .all(|r| r.authorization.is_none())
    );
    assert_eq!(p.checkpoint().unwrap().high_water_mark, now - 2 * HOUR);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_and_the_legacy_service_publish_the_same_messages() {
    let (g, r) = (
        graph(tenant(30, 2), &[]).await,
        reporting(tenant(30, 2)).await,
    );
    let now = now();
    let before = Utc::now();
    for p in [&g, &r] {
        p.resume_at(now - 3 * HOUR);
        let report = p.cycle(now).await;
        assert!(report.complete, "{:?}", report.summary.failures);
    }
    let after = Utc::now();
    // A row whose status changed between the two runs differs; leave it out.
    let settled_between: BTreeSet<Row> = g
        .sim
        .trace_truth(DEFAULT_TENANT, at(now - 3 * HOUR)..at(now))
        .into_iter()
        .filter(|t| t.pending_until.is_some_and(|u| before <= u && u <= after))
        .map(|t| (t.id, t.recipient.to_lowercase()))
        .collect();
    let all = truth(&g, now - 3 * HOUR, now - MIN_AGE, now);
    assert!(
        all.iter()
            .any(|(id, _)| all.iter().filter(|(i, _)| i == id).count() > 1)
    );
    for p in [&g, &r] {
        assert!(all.is_subset(&rows(p)), "{}", missing(&all, &rows(p)));
    }
    assert_eq!(rows(&g), rows(&r));
    // The same envelope, apart from the original record.
    let envelope = |p: &Pipeline| -> Vec<serde_json::Value> {
        let mut lines: Vec<serde_json::Value> = std::fs::read_to_string(&p.events)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| {
                let record = &v["record"];
                let id = record["id"].as_str().or(record["MessageTraceId"].as_str());
                let to = record["recipientAddress"]
                    .as_str()
                    .or(record["RecipientAddress"].as_str());
                let row = (id.unwrap().to_string(), to.unwrap().to_lowercase());
                !settled_between.contains(&row)
            })
            .map(|mut v| {
                v.as_object_mut().unwrap().remove("record");
                v
            })
            .collect();
        lines.sort_by_key(|v| v["id"].as_str().unwrap().to_string());
        lines
    };
    let (ge, re) = (envelope(&g), envelope(&r));
    assert_eq!(ge.len(), re.len());
    for (a, b) in ge.iter().zip(&re) {
        assert_eq!(a, b);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_reporting_service_says_to_swap_to_graph() {
    let p = reporting(tenant(10, 2)).await;
    let now = now();
    p.resume_at(now - HOUR);
    p.sim
        .faults()
        .add(FaultRule::new(Target::Reporting, FaultKind::Retired));
    let report = p.cycle(now).await;
    assert!(!report.complete);
    let text = report.summary.failures.join("\n");
    assert!(text.contains("retired") && text.contains("Graph"), "{text}");
}
