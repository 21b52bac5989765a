//! The Event Hubs sink against a real AMQP 1.0 peer: the test broker
//! (`tests/amqp-broker`) runs in this process and the sink talks to it over
//! a socket with the real `azure_messaging_eventhubs` producer. What the
//! broker receives is what Event Hubs would have been sent.

use amqp_broker::{Broker, Received};
use o365_host::runtime::Event;
use o365_host::settings::SettingsSource;
use o365_host::sink::eventhubs::{EventHubsConfig, Producers, TestBrokerCredential};
use o365_host::sink::{EventHubsSink, EventSink};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn event(id: &str, kind: &str, record_bytes: usize) -> Event {
    let body = serde_json::json!({
        "id": id,
        "time": "2024-05-01T07:12:44.000Z",
        "source": "o365.audit",
        "kind": kind,
        "tenant": "tenant-1",
        "record": {"Id": id, "Padding": "x".repeat(record_bytes)},
    })
    .to_string();
    Event {
        id: id.into(),
        time: 0,
        kind: kind.into(),
        partition_key: None,
        body,
    }
}

fn producers(broker: &Broker, extra: &[(&str, &str)]) -> Arc<Producers> {
    let endpoint = broker.endpoint();
    let mut pairs = vec![
        (
            "EventHub__fullyQualifiedNamespace",
            "test.servicebus.windows.net",
        ),
        ("O365_EVENT_HUBS_ENDPOINT", endpoint.as_str()),
        ("AUDIT_LOGS_EVENT_HUB_NAME", "audit-hub"),
    ];
    pairs.extend_from_slice(extra);
    let config = EventHubsConfig::from_settings(&SettingsSource::from_pairs(&pairs))
        .unwrap()
        .unwrap();
    Arc::new(Producers::new(config, Arc::new(TestBrokerCredential)))
}

fn sink(producers: &Arc<Producers>) -> EventHubsSink {
    EventHubsSink::new(producers.clone(), "audit", "tenant-1")
        .with_backoff(Duration::from_millis(20))
        .with_send_timeout(Duration::from_secs(3))
}

fn ids(received: &[Received]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in received {
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        *out.entry(body["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    out
}

#[tokio::test]
async fn batches_are_as_large_as_the_hub_allows_and_every_event_arrives_once() {
    let broker = Broker::start().await.unwrap();
    let producers = producers(&broker, &[]);
    let mut sink = sink(&producers);
    // 600 events of about 5 KB: 3 MB, so at least three 1 MiB batches.
    let events: Vec<Event> = (0..600)
        .map(|i| event(&format!("e{i:04}"), "Audit.Exchange", 5_000))
        .collect();
    for chunk in events.chunks(50) {
        sink.publish(chunk).await.unwrap();
    }
    sink.flush().await.unwrap();

    let received = broker.received();
    let counts = ids(&received);
    assert_eq!(counts.len(), 600);
    assert!(
        counts.values().all(|n| *n == 1),
        "no duplicates without faults"
    );
    // In order, on the audit hub, with the envelope as body.
    let order: Vec<String> = received
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let expected: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(order, expected);
    let first = &received[0];
    assert_eq!(first.hub, "audit-hub");
    assert_eq!(first.content_type.as_deref(), Some("application/json"));
    assert_eq!(first.body, events[0].body.as_bytes());
    assert_eq!(
        first.properties.get("source").map(String::as_str),
        Some("audit")
    );
    assert_eq!(
        first.properties.get("tenant").map(String::as_str),
        Some("tenant-1")
    );
    assert_eq!(
        first.properties.get("kind").map(String::as_str),
        Some("Audit.Exchange")
    );
    assert_eq!(
        first.partition_key, None,
        "default policy: no partition key"
    );
    // Batches fill up to the 1 MiB limit: 3 MB in 3 or 4 transfers, each under the limit.
    let transfers = broker.transfers();
    assert!(
        (3..=4).contains(&transfers.len()),
        "{} batches",
        transfers.len()
    );
    for t in &transfers {
        assert!(t.accepted);
        assert!(t.bytes <= 1 << 20, "{} bytes", t.bytes);
    }
    assert!(
        transfers[0].bytes > 900_000,
        "a full batch is close to the limit: {}",
        transfers[0].bytes
    );
    // The CBS token was put for the hub's audience.
    let tokens = broker.tokens();
    assert!(!tokens.is_empty());
    assert!(tokens[0].0.contains("audit-hub"), "{tokens:?}");
}

#[tokio::test]
async fn partition_key_follows_the_policy() {
    let broker = Broker::start().await.unwrap();
    for (policy, expect) in [
        ("tenant", ["tenant-1", "tenant-1"]),
        ("kind", ["Audit.Exchange", "DLP.All"]),
    ] {
        let producers = producers(&broker, &[("O365_EVENT_HUB_PARTITION_KEY", policy)]);
        let mut sink = sink(&producers);
        let before = broker.received().len();
        sink.publish(&[
            event(&format!("{policy}-a"), "Audit.Exchange", 10),
            event(&format!("{policy}-b"), "DLP.All", 10),
        ])
        .await
        .unwrap();
        sink.flush().await.unwrap();
        let received = broker.received();
        let keys: Vec<_> = received[before..]
            .iter()
            .map(|r| r.partition_key.clone().unwrap())
            .collect();
        assert_eq!(keys, expect, "policy {policy}");
    }
}

#[tokio::test]
async fn an_oversized_event_is_published_truncated_and_marked_not_dropped() {
    let broker = Broker::start().await.unwrap();
    let producers = producers(&broker, &[]);
    let mut sink = sink(&producers);
    let big = event("big", "Audit.SharePoint", 1_500_000);
    sink.publish(&[
        event("before", "Audit.Exchange", 10),
        big.clone(),
        event("after", "Audit.Exchange", 10),
    ])
    .await
    .unwrap();
    sink.flush().await.unwrap();
    let received = broker.received();
    assert_eq!(
        ids(&received).keys().cloned().collect::<Vec<_>>(),
        ["after", "before", "big"]
    );
    let marker = received
        .iter()
        .find(|r| r.message_id.as_deref().is_some_and(|m| m.contains("big")))
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&marker.body).unwrap();
    assert!(marker.body.len() < 1 << 20);
    assert_eq!(body["tenant"], "tenant-1");
    assert_eq!(body["kind"], "Audit.SharePoint");
    assert_eq!(body["truncated"]["originalBytes"], big.body.len());
    assert_eq!(body["truncated"]["sha256"].as_str().unwrap().len(), 64);
    assert!(
        body["record"].as_str().unwrap().len() > 900_000,
        "most of the record is kept"
    );
    let snapshot = o365_host::telemetry::snapshot();
    assert!(
        snapshot
            .get("events_truncated,source=audit,tenant=tenant-1")
            .copied()
            .unwrap_or(0.0)
            >= 1.0,
        "{snapshot:?}"
    );
}

#[tokio::test]
async fn a_refused_batch_is_retried_until_accepted() {
    let broker = Broker::start().await.unwrap();
    let producers = producers(&broker, &[]);
    let mut sink = sink(&producers);
    sink.publish(&[
        event("a", "Audit.Exchange", 10),
        event("b", "Audit.Exchange", 10),
    ])
    .await
    .unwrap();
    broker.reject_next(2);
    sink.flush().await.unwrap();
    assert!(broker.rejected_transfers() >= 2);
    let counts = ids(&broker.received());
    assert_eq!(counts.len(), 2);
    assert!(
        counts.values().all(|n| *n == 1),
        "a refused batch is not stored: {counts:?}"
    );
}

#[tokio::test]
async fn a_batch_refused_more_often_than_allowed_fails_the_flush() {
    let broker = Broker::start().await.unwrap();
    let producers = producers(&broker, &[("O365_EVENT_HUBS_SEND_ATTEMPTS", "2")]);
    let mut sink = sink(&producers);
    sink.publish(&[event("a", "Audit.Exchange", 10)])
        .await
        .unwrap();
    broker.reject_next(1000);
    let error = format!("{:#}", sink.flush().await.unwrap_err());
    assert!(
        error.contains("audit-hub") && error.contains("checkpoint stays"),
        "{error}"
    );
    assert!(broker.received().is_empty());
    // The events stay pending: once the broker takes them, a flush delivers them.
    broker.reject_next(0);
    sink.flush().await.unwrap();
    assert_eq!(ids(&broker.received()).len(), 1);
}

#[tokio::test]
async fn slow_acknowledgements_only_delay_the_flush() {
    let broker = Broker::start().await.unwrap();
    let producers = producers(&broker, &[]);
    let mut sink = sink(&producers);
    broker.delay_dispositions(Duration::from_millis(400));
    sink.publish(&[event("a", "Audit.Exchange", 10)])
        .await
        .unwrap();
    let started = std::time::Instant::now();
    sink.flush().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(ids(&broker.received()).len(), 1);
}

#[tokio::test]
async fn a_connection_dropped_mid_batch_is_reopened_and_nothing_is_lost() {
    let broker = Broker::start().await.unwrap();
    let producers = producers(&broker, &[]);
    let mut sink = sink(&producers);
    let events: Vec<Event> = (0..400)
        .map(|i| event(&format!("d{i:04}"), "Audit.Exchange", 5_000))
        .collect();
    sink.publish(&events[..200]).await.unwrap();
    sink.flush().await.unwrap();
    broker.drop_connection_on_next_transfer();
    sink.publish(&events[200..]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), sink.flush())
        .await
        .expect("flush hangs")
        .unwrap();
    assert_eq!(broker.dropped_connections(), 1);
    assert!(broker.connections() >= 2, "a new connection was opened");
    let counts = ids(&broker.received());
    assert_eq!(counts.len(), 400, "every event arrives");
}

#[tokio::test]
async fn a_refused_token_fails_with_a_message_naming_the_role() {
    let broker = Broker::start().await.unwrap();
    broker.refuse_tokens(true);
    let producers = producers(&broker, &[("O365_EVENT_HUBS_SEND_ATTEMPTS", "1")]);
    let mut sink = sink(&producers);
    sink.publish(&[event("a", "Audit.Exchange", 10)])
        .await
        .unwrap();
    let error = format!(
        "{:#}",
        tokio::time::timeout(Duration::from_secs(60), sink.flush())
            .await
            .expect("flush hangs")
            .unwrap_err()
    );
    assert!(error.contains("Azure Event Hubs Data Sender"), "{error}");
    assert!(broker.received().is_empty());
}
