//! Each fault kind, observed through the API it targets.

use std::time::Instant;

use chrono::Duration;
use o365_simulator::{FaultKind, FaultRule, Listener, SimulatorConfig, Target};
use serde_json::Value;

use crate::{GRAPH, Harness, MANAGE, OUTLOOK, stamp, start, status_json};

async fn harness() -> (Harness, String) {
    let h = start(SimulatorConfig {
        page_size: 5,
        ..SimulatorConfig::default()
    })
    .await;
    let token = h.token(MANAGE).await;
    (h, token)
}

fn listing(h: &Harness) -> String {
    let end = h.sim.now() - Duration::minutes(5);
    h.feed(&format!(
        "subscriptions/content?contentType=Audit.Exchange&startTime={}&endTime={}",
        stamp(end - Duration::hours(4)),
        stamp(end)
    ))
}

#[tokio::test]
async fn throttling_faults_answer_429_and_403_af429_with_retry_after() {
    let (h, token) = harness().await;
    h.sim.faults().add(
        FaultRule::new(
            Target::SubscriptionsList,
            FaultKind::TooManyRequests {
                retry_after_secs: Some(7),
            },
        )
        .times(1),
    );
    let response = h.get(&h.feed("subscriptions/list"), &token).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["Retry-After"], "7");
    let (_, body) = status_json(response).await;
    assert_eq!(body["error"]["code"], "AF429");
    assert_eq!(
        h.get(&h.feed("subscriptions/list"), &token).await.status(),
        200,
        "times(1) is spent"
    );

    h.sim.faults().add(
        FaultRule::new(
            Target::ContentList,
            FaultKind::Af429 {
                retry_after_secs: None,
            },
        )
        .times(1),
    );
    let (status, body) = status_json(h.get(&listing(&h), &token).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (403, "AF429")
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Too many requests. Method=")
    );

    let graph = h.token(GRAPH).await;
    h.sim.faults().add(FaultRule::new(
        Target::Graph,
        FaultKind::TooManyRequests {
            retry_after_secs: Some(2),
        },
    ));
    let url = format!("{}/v1.0/admin/exchange/tracing/messageTraces", h.sim.url());
    let (status, body) = status_json(h.get(&url, &graph).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (429, "TooManyRequests")
    );
}

#[tokio::test]
async fn server_errors_unauthorized_and_forbidden_use_each_apis_format() {
    let (h, token) = harness().await;
    let faults = h.sim.faults();
    faults
        .add(FaultRule::new(Target::ContentList, FaultKind::ServerError { status: 503 }).times(1));
    let (status, body) = status_json(h.get(&listing(&h), &token).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (503, "AF50000")
    );

    faults.add(FaultRule::new(Target::Token, FaultKind::ServerError { status: 500 }).times(1));
    let form = [("grant_type", "client_credentials")];
    let (status, body) = status_json(
        h.token_response(o365_simulator::DEFAULT_TENANT, &form)
            .await,
    )
    .await;
    assert_eq!(status, 500);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS")
    );

    faults.add(FaultRule::new(Target::SubscriptionsList, FaultKind::Unauthorized).times(1));
    assert_eq!(
        h.get(&h.feed("subscriptions/list"), &token).await.status(),
        401
    );

    faults.add(
        FaultRule::new(
            Target::Any,
            FaultKind::Forbidden {
                message: "nope".into(),
            },
        )
        .times(1),
    );
    let (status, body) = status_json(h.get(&h.feed("subscriptions/list"), &token).await).await;
    assert_eq!(
        (status, body["error"]["message"].as_str().unwrap()),
        (403, "nope")
    );
}

#[tokio::test]
async fn slow_and_malformed_responses() {
    let (h, token) = harness().await;
    h.sim
        .faults()
        .add(FaultRule::new(Target::SubscriptionsList, FaultKind::Slow { millis: 300 }).times(1));
    let started = Instant::now();
    assert_eq!(
        h.get(&h.feed("subscriptions/list"), &token).await.status(),
        200
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));

    h.sim
        .faults()
        .add(FaultRule::new(Target::ContentList, FaultKind::Malformed).times(1));
    let response = h.get(&listing(&h), &token).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
}

#[tokio::test]
async fn expired_and_targeted_blob_faults() {
    let (h, token) = harness().await;
    let (_, items) = status_json(h.get(&listing(&h), &token).await).await;
    let (first, second) = (&items[0], &items[1]);
    let id = first["contentId"].as_str().unwrap();
    h.sim
        .faults()
        .add(FaultRule::new(Target::ContentBlob, FaultKind::Expired).content_id(id));
    let (status, body) =
        status_json(h.get(first["contentUri"].as_str().unwrap(), &token).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (400, "AF20051")
    );
    assert_eq!(
        h.get(second["contentUri"].as_str().unwrap(), &token)
            .await
            .status(),
        200,
        "only the targeted blob"
    );
}

#[tokio::test]
async fn duplicate_content_ids_repeat_items() {
    let (h, token) = harness().await;
    let first = h.get(&listing(&h), &token).await;
    let next = first.headers()["NextPageUri"].to_str().unwrap().to_string();
    let first_page: Vec<Value> = first.json().await.unwrap();
    h.sim
        .faults()
        .add(FaultRule::new(Target::ContentList, FaultKind::DuplicateContentIds).times(1));
    let (_, second_page) = status_json(h.get(&next, &token).await).await;
    let second_ids: Vec<&str> = second_page
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["contentId"].as_str().unwrap())
        .collect();
    assert_eq!(
        second_ids[0],
        first_page.last().unwrap()["contentId"].as_str().unwrap(),
        "repeats the previous page"
    );
    assert_eq!(
        second_ids[second_ids.len() - 1],
        second_ids[second_ids.len() - 2],
        "repeats its own last item"
    );
}

#[tokio::test]
async fn foreign_next_page_links_are_recorded_with_their_authorization() {
    let (h, token) = harness().await;
    h.sim
        .faults()
        .add(FaultRule::new(Target::ContentList, FaultKind::ForeignNextPage).times(1));
    let response = h.get(&listing(&h), &token).await;
    let next = response.headers()["NextPageUri"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(next.starts_with(&h.sim.foreign_url()), "{next}");
    // A careless client follows it with its token; the foreign host records that.
    let (status, body) = status_json(h.get(&next, &token).await).await;
    assert_eq!((status, body), (200, serde_json::json!([])));
    let leaked: Vec<_> = h
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.listener == Listener::Foreign)
        .collect();
    assert_eq!(leaked.len(), 1);
    assert_eq!(
        leaked[0].authorization.as_deref(),
        Some(format!("Bearer {token}").as_str())
    );

    let graph = h.token(GRAPH).await;
    h.sim
        .faults()
        .add(FaultRule::new(Target::Graph, FaultKind::ForeignNextPage).times(1));
    let url = format!("{}/v1.0/admin/exchange/tracing/messageTraces", h.sim.url());
    let (_, body) = status_json(h.get(&url, &graph).await).await;
    assert!(
        body["@odata.nextLink"]
            .as_str()
            .unwrap()
            .starts_with(&h.sim.foreign_url())
    );
}

#[tokio::test]
async fn retired_reporting_ws_and_sampled_faults() {
    let (h, _) = harness().await;
    let token = h.token(OUTLOOK).await;
    let url = format!(
        "{}/ecp/reportingwebservice/reporting.svc/MessageTrace?$format=Json",
        h.sim.url()
    );
    h.sim
        .faults()
        .add(FaultRule::new(Target::Reporting, FaultKind::Retired));
    let (status, body) = status_json(h.get(&url, &token).await).await;
    assert_eq!(status, 410);
    assert!(
        body["error"]["message"]["value"]
            .as_str()
            .unwrap()
            .contains("retired")
    );
    h.sim.faults().clear();
    assert_eq!(h.get(&url, &token).await.status(), 200);

    h.sim.faults().add(
        FaultRule::new(Target::Reporting, FaultKind::ServerError { status: 502 }).probability(0.5),
    );
    let mut failures = 0;
    for _ in 0..40 {
        if h.get(&url, &token).await.status() == 502 {
            failures += 1;
        }
    }
    assert!((8..=32).contains(&failures), "{failures}");
}

#[tokio::test]
async fn configured_latency_delays_every_api_response() {
    let h = start(SimulatorConfig {
        latency: std::time::Duration::from_millis(150),
        ..SimulatorConfig::default()
    })
    .await;
    let started = Instant::now();
    let token = h.token(MANAGE).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    let started = Instant::now();
    assert_eq!(
        h.get(&h.feed("subscriptions/list"), &token).await.status(),
        200
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
}

#[tokio::test]
async fn management_quota_answers_403_af429_when_rate_limits_are_on() {
    let h = start(SimulatorConfig {
        rate_limits: true,
        ..SimulatorConfig::default()
    })
    .await;
    let token = h.token(MANAGE).await;
    crate::align_clock(&h.sim, 60);
    let url = h.feed("subscriptions/list");
    for _ in 0..2000 {
        assert_eq!(h.get(&url, &token).await.status(), 200);
    }
    let (status, body) = status_json(h.get(&url, &token).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (403, "AF429")
    );
}
