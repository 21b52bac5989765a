//! Message traces through Graph and the Reporting WS: one row per message
//! and recipient under a shared trace id, statuses that change, paging,
//! late data, validation, provisioning, and the same rows through both
//! APIs.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use o365_simulator::{DEFAULT_TENANT, SimulatorConfig, TenantSpec, TraceTruth};
use serde_json::Value;

use crate::{GRAPH, Harness, OUTLOOK, start, status_json};

fn busy_tenant() -> SimulatorConfig {
    let tenant = TenantSpec {
        traces_per_hour: 600,
        ..TenantSpec::default()
    };
    SimulatorConfig {
        tenants: vec![tenant],
        page_size: 40,
        ..SimulatorConfig::default()
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// All Graph records in `[start, end]`, following `@odata.nextLink`.
async fn graph_all(
    h: &Harness,
    token: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    top: usize,
) -> (Vec<Value>, usize) {
    let filter = format!(
        "receivedDateTime ge {} and receivedDateTime le {}",
        iso(start),
        iso(end)
    );
    let mut url = reqwest::Url::parse(&format!(
        "{}/v1.0/admin/exchange/tracing/messageTraces",
        h.sim.url()
    ))
    .unwrap();
    url.query_pairs_mut()
        .append_pair("$filter", &filter)
        .append_pair("$top", &top.to_string());
    let (mut records, mut pages, mut next) = (Vec::new(), 0, Some(url.to_string()));
    while let Some(url) = next {
        let (status, body) = status_json(h.get(&url, token).await).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["@odata.context"],
            "https://graph.microsoft.com/v1.0/$metadata#admin/exchange/tracing/messageTraces"
        );
        records.extend(body["value"].as_array().unwrap().iter().cloned());
        next = body["@odata.nextLink"].as_str().map(str::to_string);
        pages += 1;
    }
    (records, pages)
}

/// All Reporting WS records in `[start, end]`, following `__next`.
async fn reporting_all(
    h: &Harness,
    token: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<Value> {
    let filter = format!(
        "StartDate eq datetime'{}' and EndDate eq datetime'{}'",
        iso(start),
        iso(end)
    );
    let mut url = reqwest::Url::parse(&format!(
        "{}/ecp/reportingwebservice/reporting.svc/MessageTrace",
        h.sim.url()
    ))
    .unwrap();
    url.query_pairs_mut()
        .append_pair("$format", "Json")
        .append_pair("$filter", &filter);
    let (mut records, mut next) = (Vec::new(), Some(url.to_string()));
    while let Some(url) = next {
        let (status, body) = status_json(h.get(&url, token).await).await;
        assert_eq!(status, 200, "{body}");
        records.extend(body["d"]["results"].as_array().unwrap().iter().cloned());
        next = body["d"]["__next"].as_str().map(str::to_string);
    }
    records
}

/// The rows served: (trace id, recipient), Graph's or the Reporting WS's
/// field names.
fn rows(records: &[Value], id: &str, recipient: &str) -> BTreeSet<(String, String)> {
    records
        .iter()
        .map(|r| {
            (
                r[id].as_str().unwrap().to_string(),
                r[recipient].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn truth_rows<'a>(truth: impl Iterator<Item = &'a TraceTruth>) -> BTreeSet<(String, String)> {
    truth.map(|t| (t.id.clone(), t.recipient.clone())).collect()
}

#[tokio::test]
async fn graph_pages_hide_late_records_until_they_are_available() {
    let h = start(busy_tenant()).await;
    let token = h.token(GRAPH).await;
    let end = DateTime::from_timestamp(h.sim.now().timestamp(), 0).unwrap();
    let start_time = end - Duration::hours(1);
    let truth = h
        .sim
        .trace_truth(DEFAULT_TENANT, start_time..end + Duration::milliseconds(1));
    let checked_at = h.sim.now();
    let (records, pages) = graph_all(&h, &token, start_time, end, 100).await;
    let done_at = h.sim.now();
    assert!(pages >= 5, "{pages}");
    let served = rows(&records, "id", "recipientAddress");
    assert_eq!(served.len(), records.len(), "no row twice across pages");
    let must = truth_rows(truth.iter().filter(|t| t.available_at <= checked_at));
    let must_not = truth_rows(truth.iter().filter(|t| t.available_at > done_at));
    assert!(!must_not.is_empty(), "some records arrive late");
    assert!(must.is_subset(&served));
    assert!(served.is_disjoint(&must_not));

    let record = &records[0];
    for field in [
        "id",
        "receivedDateTime",
        "senderAddress",
        "recipientAddress",
        "subject",
        "status",
        "size",
        "messageId",
        "fromIP",
    ] {
        assert!(!record[field].is_null(), "{field} missing in {record}");
    }
    assert!(record["messageId"].as_str().unwrap().starts_with('<'));

    // Twenty minutes later every row of the window is there.
    h.sim.set_clock_offset(Duration::minutes(21));
    let (records, _) = graph_all(&h, &token, start_time, end, 1000).await;
    assert_eq!(
        rows(&records, "id", "recipientAddress"),
        truth_rows(truth.iter())
    );
}

#[tokio::test]
async fn a_message_is_one_row_per_recipient_under_one_trace_id() {
    let h = start(busy_tenant()).await;
    let token = h.token(GRAPH).await;
    let end = DateTime::from_timestamp(h.sim.now().timestamp() - 1800, 0).unwrap();
    let start_time = end - Duration::hours(2);
    // Pages of 7 rows split messages between pages.
    let (records, _) = graph_all(&h, &token, start_time, end, 7).await;
    let mut by_message: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for r in &records {
        by_message
            .entry(r["id"].as_str().unwrap())
            .or_default()
            .push(r);
    }
    let sizes: Vec<usize> = by_message.values().map(Vec::len).collect();
    let several = sizes.iter().filter(|&&n| n > 1).count();
    let share = several as f64 / sizes.len() as f64;
    assert!((0.2..=0.4).contains(&share), "{several} of {}", sizes.len());
    assert!(sizes.iter().all(|&n| (1..=5).contains(&n)), "{sizes:?}");
    for rows in by_message.values() {
        let first = rows[0];
        let recipients: BTreeSet<&str> = rows
            .iter()
            .map(|r| r["recipientAddress"].as_str().unwrap())
            .collect();
        assert_eq!(recipients.len(), rows.len(), "one row per recipient");
        for r in rows {
            for shared in ["receivedDateTime", "senderAddress", "messageId", "subject"] {
                assert_eq!(r[shared], first[shared], "{shared}");
            }
        }
    }
    let truth = h
        .sim
        .trace_truth(DEFAULT_TENANT, start_time..end + Duration::milliseconds(1));
    let messages: BTreeSet<&str> = truth.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(truth.len(), records.len(), "the truth has a row per row");
    assert_eq!(messages.len(), by_message.len());
    assert_eq!(
        rows(&records, "id", "recipientAddress"),
        truth_rows(truth.iter())
    );
}

#[tokio::test]
async fn a_row_first_served_pending_later_shows_its_final_status() {
    let h = start(busy_tenant()).await;
    let (graph_token, rws_token) = (h.token(GRAPH).await, h.token(OUTLOOK).await);
    let end = DateTime::from_timestamp(h.sim.now().timestamp(), 0).unwrap();
    let start_time = end - Duration::hours(1);
    let now = h.sim.now();
    let truth = h.sim.trace_truth(DEFAULT_TENANT, start_time..end);
    let changing: Vec<&TraceTruth> = truth
        .iter()
        .filter(|t| {
            t.available_at <= now
                && t.pending_until
                    .is_some_and(|u| u > now + Duration::minutes(1))
        })
        .collect();
    assert!(!changing.is_empty(), "no row is pending now");
    let status = |records: &[Value], t: &TraceTruth, id: &str, to: &str, field: &str| {
        records
            .iter()
            .find(|r| r[id] == t.id.as_str() && r[to] == t.recipient.as_str())
            .map(|r| r[field].as_str().unwrap().to_string())
    };
    let (graph, _) = graph_all(&h, &graph_token, start_time, end, 1000).await;
    let rws = reporting_all(&h, &rws_token, start_time, end).await;
    for t in &changing {
        assert_eq!(t.status_at(now), "pending");
        let g = status(&graph, t, "id", "recipientAddress", "status");
        assert_eq!(g.as_deref(), Some("pending"));
        let r = status(&rws, t, "MessageTraceId", "RecipientAddress", "Status");
        assert_eq!(r.as_deref(), Some("Pending"));
    }
    // Every change settles within 40 minutes of the row becoming visible.
    h.sim.set_clock_offset(Duration::minutes(41));
    let later = h.sim.now();
    let (graph, _) = graph_all(&h, &graph_token, start_time, end, 1000).await;
    for t in &changing {
        assert_ne!(t.status, "pending");
        assert_eq!(t.status_at(later), t.status);
        let g = status(&graph, t, "id", "recipientAddress", "status");
        assert_eq!(g.as_deref(), Some(t.status.as_str()));
    }
}

#[tokio::test]
async fn reporting_ws_serves_the_same_rows_as_graph() {
    let h = start(busy_tenant()).await;
    let (graph_token, rws_token) = (h.token(GRAPH).await, h.token(OUTLOOK).await);
    let end = h.sim.now() - Duration::minutes(30);
    let start_time = end - Duration::hours(1);
    let (graph, _) = graph_all(&h, &graph_token, start_time, end, 250).await;
    let rws = reporting_all(&h, &rws_token, start_time, end).await;
    assert!(rws.len() > 40, "more than one page");
    assert_eq!(rws.len(), graph.len());
    assert_eq!(
        rows(&graph, "id", "recipientAddress"),
        rows(&rws, "MessageTraceId", "RecipientAddress")
    );
    let by_row: BTreeMap<(&str, &str), &Value> = rws
        .iter()
        .map(|r| {
            (
                (
                    r["MessageTraceId"].as_str().unwrap(),
                    r["RecipientAddress"].as_str().unwrap(),
                ),
                r,
            )
        })
        .collect();
    for g in &graph {
        let r = by_row[&(
            g["id"].as_str().unwrap(),
            g["recipientAddress"].as_str().unwrap(),
        )];
        assert_eq!(g["messageId"], r["MessageId"]);
        assert_eq!(g["senderAddress"], r["SenderAddress"]);
        assert_eq!(
            g["status"].as_str().unwrap().to_lowercase(),
            r["Status"].as_str().unwrap().to_lowercase()
        );
        let received =
            DateTime::parse_from_rfc3339(g["receivedDateTime"].as_str().unwrap()).unwrap();
        assert_eq!(
            r["Received"],
            format!("/Date({})/", received.timestamp_millis())
        );
        assert_eq!(r["__metadata"]["type"], "TenantReporting.MessageTrace");
        assert_eq!(r["Organization"], "contoso.onmicrosoft.com");
    }
    let indexes: Vec<u64> = rws.iter().map(|r| r["Index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, (0..rws.len() as u64).collect::<Vec<_>>());
}

#[tokio::test]
async fn graph_validates_its_query_and_needs_the_service_principal() {
    let h = start(SimulatorConfig::default()).await;
    let token = h.token(GRAPH).await;
    let now = h.sim.now();
    let base = format!("{}/v1.0/admin/exchange/tracing/messageTraces", h.sim.url());
    let query = |filter: String, top: &str| {
        let mut url = reqwest::Url::parse(&base).unwrap();
        url.query_pairs_mut()
            .append_pair("$filter", &filter)
            .append_pair("$top", top);
        url.to_string()
    };
    let window = |days: i64| {
        format!(
            "receivedDateTime ge {} and receivedDateTime le {}",
            iso(now - Duration::days(days)),
            iso(now)
        )
    };
    for url in [
        query(window(11), "10"),
        query(window(91), "10"),
        query(window(1), "0"),
        query(window(1), "5001"),
        query("subject eq 'x'".into(), "1"),
    ] {
        let (status, body) = status_json(h.get(&url, &token).await).await;
        assert_eq!(
            (status, body["error"]["code"].as_str().unwrap()),
            (400, "BadRequest"),
            "{url}"
        );
        assert!(body["error"]["innerError"]["date"].is_string());
    }
    let (status, body) = status_json(h.get(&query(window(10), "5000"), &token).await).await;
    assert_eq!(status, 200, "{body}");

    let unprovisioned = TenantSpec {
        graph_provisioned: false,
        ..TenantSpec::default()
    };
    let h = start(SimulatorConfig {
        tenants: vec![unprovisioned],
        ..SimulatorConfig::default()
    })
    .await;
    let token = h.token(GRAPH).await;
    let url = format!("{}/v1.0/admin/exchange/tracing/messageTraces", h.sim.url());
    let (status, body) = status_json(h.get(&url, &token).await).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("8bd644d1-64a1-4d4b-ae52-2e0cbf64e373")
    );
}

#[tokio::test]
async fn graph_quota_is_enforced_when_rate_limits_are_on() {
    let h = start(SimulatorConfig {
        rate_limits: true,
        ..SimulatorConfig::default()
    })
    .await;
    let token = h.token(GRAPH).await;
    let url = format!(
        "{}/v1.0/admin/exchange/tracing/messageTraces?$top=1",
        h.sim.url()
    );
    for _ in 0..100 {
        assert_eq!(h.get(&url, &token).await.status(), 200);
    }
    let response = h.get(&url, &token).await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["Retry-After"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry_after));
}
