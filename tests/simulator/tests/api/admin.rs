//! The `/_sim/` admin surface, as a test in another process would use it.

use chrono::Duration;
use o365_simulator::{
    DEFAULT_TENANT, FaultKind, FaultRule, RequestRecord, SimulatorConfig, Target,
};
use serde_json::Value;

use crate::{MANAGE, start, status_json};

#[tokio::test]
async fn faults_requests_and_truth_over_http() {
    let h = start(SimulatorConfig::default()).await;
    let admin = |path: &str| format!("{}/_sim/{path}", h.sim.url());
    let rule = FaultRule::new(
        Target::SubscriptionsList,
        FaultKind::ServerError { status: 502 },
    )
    .times(1);
    let added = h
        .http
        .post(admin("faults"))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    assert_eq!(h.sim.faults().rules(), vec![rule]);
    let refused = h
        .http
        .post(admin("faults"))
        .body("{\"target\":\"Nowhere\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);

    let token = h.token(MANAGE).await;
    assert_eq!(
        h.get(&h.feed("subscriptions/list"), &token).await.status(),
        502
    );
    h.http
        .post(admin("faults"))
        .json(&FaultRule::new(Target::Any, FaultKind::Malformed))
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.http
            .delete(admin("faults"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        h.get(&h.feed("subscriptions/list"), &token).await.status(),
        200
    );

    let records: Vec<RequestRecord> = h
        .http
        .get(admin("requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses: Vec<u16> = records.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![200, 502, 200],
        "token, faulted list, list; admin calls are not logged"
    );
    assert_eq!(
        records[1].authorization.as_deref(),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(records, h.sim.requests());

    let end = h.sim.now();
    let start_time = end - Duration::hours(2);
    let query = format!(
        "tenant={DEFAULT_TENANT}&start={}&end={}",
        start_time.to_rfc3339(),
        end.to_rfc3339()
    );
    let url = format!("{}?{}", admin("truth/audit"), query.replace('+', "%2B"));
    let (status, truth) = status_json(h.http.get(url).send().await.unwrap()).await;
    assert_eq!(status, 200, "{truth}");
    assert_eq!(
        serde_json::to_value(h.sim.audit_truth(DEFAULT_TENANT, start_time..end)).unwrap(),
        truth
    );
    let url = format!("{}?{}", admin("truth/traces"), query.replace('+', "%2B"));
    let (_, traces) = status_json(h.http.get(url).send().await.unwrap()).await;
    assert_eq!(
        traces.as_array().unwrap().len(),
        h.sim.trace_truth(DEFAULT_TENANT, start_time..end).len()
    );
    assert!(matches!(traces[0]["available_at"], Value::String(_)));

    assert_eq!(
        h.http.get(admin("ca.pem")).send().await.unwrap().status(),
        404,
        "no TLS, no CA"
    );
}
