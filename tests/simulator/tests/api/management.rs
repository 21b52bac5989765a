//! Management Activity API: subscriptions, listing windows and paging, blobs.

use std::collections::BTreeSet;

use chrono::Duration;
use o365_simulator::{ContentType, DEFAULT_TENANT, SimulatorConfig, TenantSpec};
use serde_json::Value;

use crate::{Harness, MANAGE, stamp, start, status_json};

/// Follows `NextPageUri` from `url` to the end; returns every item and the page count.
async fn list_all(h: &Harness, token: &str, url: String) -> (Vec<Value>, usize) {
    let (mut items, mut pages, mut next) = (Vec::new(), 0, Some(url));
    while let Some(url) = next {
        let response = h.get(&url, token).await;
        assert_eq!(response.status(), 200, "{url}");
        next = response
            .headers()
            .get("NextPageUri")
            .map(|v| v.to_str().unwrap().to_string());
        let page: Vec<Value> = response.json().await.unwrap();
        items.extend(page);
        pages += 1;
    }
    (items, pages)
}

#[tokio::test]
async fn listing_pages_cover_exactly_the_truth_and_blobs_serve_its_events() {
    let config = SimulatorConfig {
        page_size: 7,
        ..SimulatorConfig::default()
    };
    let h = start(config).await;
    let token = h.token(MANAGE).await;
    let end = h.sim.now() - Duration::minutes(1);
    let start_time = end - Duration::hours(6);
    let url = h.feed(&format!(
        "subscriptions/content?contentType=Audit.SharePoint&startTime={}&endTime={}&PublisherIdentifier={DEFAULT_TENANT}",
        stamp(start_time),
        stamp(end)
    ));
    let (items, pages) = list_all(&h, &token, url).await;
    assert!(pages >= 3, "{pages} pages");
    let listed: Vec<&str> = items
        .iter()
        .map(|i| i["contentId"].as_str().unwrap())
        .collect();
    let listed_set: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(
        listed.len(),
        listed_set.len(),
        "no duplicates without the fault"
    );

    let truth = h.sim.audit_truth(DEFAULT_TENANT, start_time..end);
    let truth_ids: BTreeSet<&str> = truth
        .iter()
        .filter(|t| t.content_type == ContentType::SharePoint)
        .map(|t| t.content_id.as_str())
        .collect();
    assert_eq!(listed_set, truth_ids);
    // Every NextPageUri kept the publisher identifier.
    let pages_requested: Vec<_> = h
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.contains("subscriptions/content"))
        .collect();
    assert!(
        pages_requested
            .iter()
            .all(|r| r.path_and_query.contains("PublisherIdentifier="))
    );

    let item = &items[items.len() / 2];
    assert_eq!(item["contentType"], "Audit.SharePoint");
    let expected: Vec<&str> = truth
        .iter()
        .filter(|t| t.content_id == item["contentId"])
        .map(|t| t.event_id.as_str())
        .collect();
    let (status, events) =
        status_json(h.get(item["contentUri"].as_str().unwrap(), &token).await).await;
    assert_eq!(status, 200);
    let served: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Id"].as_str().unwrap())
        .collect();
    assert_eq!(served, expected);
    let event = &events[0];
    for field in [
        "CreationTime",
        "Id",
        "Operation",
        "OrganizationId",
        "RecordType",
        "UserId",
        "Workload",
        "UserKey",
        "UserType",
    ] {
        assert!(!event[field].is_null(), "{field} missing in {event}");
    }
    assert_eq!(event["OrganizationId"], DEFAULT_TENANT);
    assert!(!event["CreationTime"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn listing_windows_are_validated_like_the_service() {
    let h = start(SimulatorConfig::default()).await;
    let token = h.token(MANAGE).await;
    let now = h.sim.now();
    let list = |start: Option<String>, end: Option<String>| {
        let mut url = h.feed("subscriptions/content?contentType=Audit.Exchange");
        if let Some(s) = start {
            url.push_str(&format!("&startTime={s}"));
        }
        if let Some(e) = end {
            url.push_str(&format!("&endTime={e}"));
        }
        let (h, token) = (&h, &token);
        async move { status_json(h.get(&url, token).await).await }
    };
    let cases = [
        (
            Some(stamp(now - Duration::hours(30))),
            Some(stamp(now - Duration::hours(5))),
            "AF20055",
        ),
        (
            Some(stamp(now - Duration::days(8))),
            Some(stamp(now - Duration::days(8) + Duration::hours(1))),
            "AF20055",
        ),
        (Some(stamp(now - Duration::hours(2))), None, "AF20055"),
        (Some("not-a-date".into()), Some(stamp(now)), "AF20002"),
    ];
    for (start_time, end_time, code) in cases {
        let (status, body) = list(start_time, end_time).await;
        assert_eq!(
            (status, body["error"]["code"].as_str().unwrap()),
            (400, code),
            "{body}"
        );
    }
    let fractional = format!("{}.500Z", stamp(now - Duration::hours(3)));
    let (status, body) = list(Some(fractional), Some(format!("{}Z", stamp(now)))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body.as_array().unwrap().len(),
        12,
        "4 blobs an hour for 3 hours"
    );
    let (status, _) = list(None, None).await;
    assert_eq!(status, 200, "no window means the last 24 hours");

    let bad_type = h.feed("subscriptions/content?contentType=Audit.Nope");
    let (status, body) = status_json(h.get(&bad_type, &token).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (400, "AF20020")
    );
}

#[tokio::test]
async fn unsubscribed_content_is_af20022_until_started() {
    let tenant = TenantSpec {
        subscribed: vec!["Audit.Exchange".into()],
        ..TenantSpec::default()
    };
    let h = start(SimulatorConfig {
        tenants: vec![tenant],
        ..SimulatorConfig::default()
    })
    .await;
    let token = h.token(MANAGE).await;
    let listing = h.feed("subscriptions/content?contentType=DLP.All");
    let (status, body) = status_json(h.get(&listing, &token).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (400, "AF20022")
    );

    let (_, subs) = status_json(h.get(&h.feed("subscriptions/list"), &token).await).await;
    assert_eq!(
        subs,
        serde_json::json!([{"contentType": "Audit.Exchange", "status": "enabled", "webhook": null}])
    );

    let start_url = h.feed("subscriptions/start?contentType=DLP.All");
    let (status, body) = status_json(
        h.http
            .post(&start_url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["status"].as_str().unwrap()), (200, "enabled"));
    assert_eq!(
        h.sim.subscription_starts(DEFAULT_TENANT, ContentType::Dlp),
        1
    );
    assert_eq!(h.get(&listing, &token).await.status(), 200);

    let (status, body) = status_json(
        h.http
            .post(&start_url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (400, "AF20024")
    );
    assert_eq!(
        h.sim.subscription_starts(DEFAULT_TENANT, ContentType::Dlp),
        2
    );

    let stop_url = h.feed("subscriptions/stop?contentType=DLP.All");
    assert_eq!(
        h.http
            .post(&stop_url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, body) = status_json(h.get(&listing, &token).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (400, "AF20023")
    );
}

#[tokio::test]
async fn old_blobs_expire_and_unknown_ids_are_invalid() {
    let h = start(SimulatorConfig::default()).await;
    let token = h.token(MANAGE).await;
    let old = h.sim.now() - Duration::days(7) - Duration::hours(6);
    let created = chrono::DateTime::from_timestamp(old.timestamp() / 3600 * 3600, 0).unwrap();
    let id = h
        .sim
        .content_id_at(DEFAULT_TENANT, ContentType::Exchange, created)
        .expect("a blob on the hour");
    let (status, body) = status_json(h.get(&h.feed(&format!("audit/{id}")), &token).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (400, "AF20051"),
        "{body}"
    );

    let (status, body) = status_json(
        h.get(&h.feed("audit/20260101000000000000001$bogus"), &token)
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (400, "AF20052")
    );

    // The URL's tenant must be the token's.
    let other = format!(
        "{}/api/v1.0/00000000-0000-0000-0000-000000000099/activity/feed/subscriptions/list",
        h.sim.url()
    );
    let (status, body) = status_json(h.get(&other, &token).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (401, "AF20010")
    );
}

#[tokio::test]
async fn data_arrives_as_time_passes() {
    let h = start(SimulatorConfig::default()).await;
    let token = h.token(MANAGE).await;
    let now = h.sim.now();
    let url = h.feed(&format!(
        "subscriptions/content?contentType=Audit.General&startTime={}&endTime={}",
        stamp(now - Duration::hours(1)),
        stamp(now + Duration::hours(2))
    ));
    let (_, before) = status_json(h.get(&url, &token).await).await;
    h.sim.set_clock_offset(Duration::hours(1));
    let token = h.token(MANAGE).await;
    let (_, after) = status_json(h.get(&url, &token).await).await;
    assert_eq!(
        after.as_array().unwrap().len(),
        before.as_array().unwrap().len() + 4
    );
}

#[tokio::test]
async fn a_new_subscription_lists_nothing_until_its_delay_has_passed_then_everything() {
    let tenant = TenantSpec {
        subscribed: Vec::new(),
        subscription_delay: std::time::Duration::from_secs(3600),
        ..TenantSpec::default()
    };
    let h = start(SimulatorConfig {
        tenants: vec![tenant],
        ..SimulatorConfig::default()
    })
    .await;
    let token = h.token(MANAGE).await;
    let now = h.sim.now();
    let window = |from: chrono::DateTime<chrono::Utc>, to| {
        h.feed(&format!(
            "subscriptions/content?contentType=DLP.All&startTime={}&endTime={}",
            stamp(from),
            stamp(to)
        ))
    };
    let start_url = h.feed("subscriptions/start?contentType=DLP.All");
    let response = h
        .http
        .post(&start_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let before = window(now - Duration::hours(3), now - Duration::hours(2));
    let (status, body) = status_json(h.get(&before, &token).await).await;
    assert_eq!((status, body), (200, serde_json::json!([])));
    // An hour later, the same window (from before the start) lists its blobs.
    h.sim.set_clock_offset(Duration::minutes(61));
    let token = h.token(MANAGE).await;
    let (items, _) = list_all(&h, &token, before).await;
    let truth: BTreeSet<String> = h
        .sim
        .audit_truth(
            DEFAULT_TENANT,
            (now - Duration::hours(3))..(now - Duration::hours(2)),
        )
        .into_iter()
        .filter(|t| t.content_type == ContentType::Dlp)
        .map(|t| t.content_id)
        .collect();
    let listed: BTreeSet<String> = items
        .iter()
        .map(|i| i["contentId"].as_str().unwrap().to_string())
        .collect();
    assert!(!truth.is_empty());
    assert_eq!(listed, truth);
}

#[tokio::test]
async fn subscription_and_listing_faults_answer_like_the_service() {
    use o365_simulator::{FaultKind, FaultRule, Target};
    let h = start(SimulatorConfig::default()).await;
    let token = h.token(MANAGE).await;
    let now = h.sim.now();
    // A stale list: empty, and a start answers AF20024.
    h.sim
        .faults()
        .add(FaultRule::new(Target::SubscriptionsList, FaultKind::StaleSubscriptionList).times(1));
    let (_, subs) = status_json(h.get(&h.feed("subscriptions/list"), &token).await).await;
    assert_eq!(subs, serde_json::json!([]));
    let start_url = h.feed("subscriptions/start?contentType=Audit.Exchange");
    let (status, body) = status_json(
        h.http
            .post(&start_url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (400, "AF20024")
    );
    // Listing faults.
    let listing = |from: chrono::DateTime<chrono::Utc>, to| {
        h.feed(&format!(
            "subscriptions/content?contentType=Audit.Exchange&startTime={}&endTime={}",
            stamp(from),
            stamp(to)
        ))
    };
    let hour = listing(now - Duration::hours(1), now);
    for (fault, code) in [
        (FaultKind::SubscriptionMissing, "AF20022"),
        (FaultKind::SubscriptionDisabled, "AF20023"),
    ] {
        h.sim
            .faults()
            .add(FaultRule::new(Target::ContentList, fault).times(1));
        let (status, body) = status_json(h.get(&hour, &token).await).await;
        assert_eq!(
            (status, body["error"]["code"].as_str().unwrap()),
            (400, code)
        );
    }
    // The same second twice is an empty window: AF20055.
    let (status, body) = status_json(h.get(&listing(now, now), &token).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (400, "AF20055")
    );
    // Listed late: the blobs of the last 20 minutes are left out.
    let (all, _) = list_all(&h, &token, hour.clone()).await;
    h.sim.faults().add(FaultRule::new(
        Target::ContentList,
        FaultKind::ListedLate {
            delay_secs: 20 * 60,
        },
    ));
    let (late, _) = list_all(&h, &token, hour).await;
    let cutoff = (now - Duration::minutes(20)).timestamp_millis();
    let recent = all
        .iter()
        .filter(|i| {
            chrono::DateTime::parse_from_rfc3339(i["contentCreated"].as_str().unwrap())
                .unwrap()
                .timestamp_millis()
                > cutoff
        })
        .count();
    assert!(recent > 0);
    assert_eq!(late.len(), all.len() - recent);
}
