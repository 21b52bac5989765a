//! Data is a pure function of the seed: two simulators agree, other seeds differ.

use chrono::Duration;
use o365_simulator::{DEFAULT_TENANT, SimulatorConfig, TenantSpec};
use serde_json::Value;

use crate::{GRAPH, Harness, MANAGE, stamp, start, status_json};

async fn snapshot(h: &Harness) -> (Value, Value, Value) {
    let (manage, graph) = (h.token(MANAGE).await, h.token(GRAPH).await);
    let end = h.sim.now() - Duration::hours(2);
    let listing = h.feed(&format!(
        "subscriptions/content?contentType=Audit.AzureActiveDirectory&startTime={}&endTime={}",
        stamp(end - Duration::hours(3)),
        stamp(end)
    ));
    let (_, items) = status_json(h.get(&listing, &manage).await).await;
    let (_, blob) = status_json(
        h.get(items[0]["contentUri"].as_str().unwrap(), &manage)
            .await,
    )
    .await;
    let filter = format!(
        "receivedDateTime ge {}Z and receivedDateTime le {}Z",
        stamp(end - Duration::hours(1)),
        stamp(end)
    );
    let mut url = reqwest::Url::parse(&format!(
        "{}/v1.0/admin/exchange/tracing/messageTraces",
        h.sim.url()
    ))
    .unwrap();
    url.query_pairs_mut().append_pair("$filter", &filter);
    let (_, traces) = status_json(h.get(url.as_str(), &graph).await).await;
    // Only the host part of URLs differs between simulators.
    let strip = |v: &Value| {
        serde_json::from_str::<Value>(&v.to_string().replace(&h.sim.url(), "")).unwrap()
    };
    (strip(&items), blob, strip(&traces["value"]))
}

#[tokio::test]
async fn same_seed_same_data_other_seed_other_data() {
    let (a, b) = (
        start(SimulatorConfig::default()).await,
        start(SimulatorConfig::default()).await,
    );
    let (sa, sb) = (snapshot(&a).await, snapshot(&b).await);
    assert!(sa.0.as_array().unwrap().len() >= 11 && sa.1.as_array().unwrap().len() == 20);
    assert!(!sa.2.as_array().unwrap().is_empty());
    assert_eq!(sa, sb);

    let other = TenantSpec::new(DEFAULT_TENANT, 2);
    let c = start(SimulatorConfig {
        tenants: vec![other],
        ..SimulatorConfig::default()
    })
    .await;
    let sc = snapshot(&c).await;
    assert_ne!(sa.1, sc.1);
    assert_ne!(sa.2, sc.2);
}
