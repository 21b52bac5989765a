//! The broker as the real Event Hubs producer sees it: properties, partition
//! links, the size limit, refused tokens. (The sink's behaviour against it
//! is tested in `host/tests/eventhubs.rs`.)

use amqp_broker::Broker;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_messaging_eventhubs::models::EventData;
use azure_messaging_eventhubs::{ProducerClient, RetryOptions, SendEventOptions};
use std::sync::Arc;

#[derive(Debug)]
struct AnyToken;

#[async_trait::async_trait]
impl TokenCredential for AnyToken {
    async fn get_token(
        &self,
        _: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(
            "token",
            azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1),
        ))
    }
}

async fn producer(broker: &Broker) -> ProducerClient {
    ProducerClient::builder()
        .with_custom_endpoint(broker.endpoint())
        .with_retry_options(RetryOptions {
            max_retries: 0,
            ..Default::default()
        })
        .open("ns.servicebus.windows.net", "hub", Arc::new(AnyToken))
        .await
        .unwrap()
}

#[tokio::test]
async fn answers_hub_and_partition_properties() {
    let broker = Broker::start().await.unwrap();
    let producer = producer(&broker).await;
    let hub = producer.get_eventhub_properties().await.unwrap();
    assert_eq!(hub.name, "hub");
    assert_eq!(hub.partition_ids, ["0", "1", "2", "3"]);
    let partition = producer.get_partition_properties("2").await.unwrap();
    assert_eq!(partition.id, "2");
    assert!(partition.is_empty);
}

#[tokio::test]
async fn records_partition_links_tokens_and_bodies() {
    let broker = Broker::start().await.unwrap();
    let producer = producer(&broker).await;
    producer
        .send_event(
            EventData::builder().with_body(b"hello".to_vec()).build(),
            Some(SendEventOptions {
                partition_id: Some("3".into()),
            }),
        )
        .await
        .unwrap();
    let received = broker.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].hub, "hub");
    assert_eq!(received[0].partition.as_deref(), Some("3"));
    assert_eq!(received[0].body, b"hello");
    let tokens = broker.tokens();
    assert!(
        tokens
            .iter()
            .any(|(audience, kind)| audience.ends_with("/hub/Partitions/3") && kind == "jwt"),
        "{tokens:?}"
    );
}

#[tokio::test]
async fn a_refused_token_stops_the_send() {
    let broker = Broker::start().await.unwrap();
    broker.refuse_tokens(true);
    let producer = producer(&broker).await;
    let error = producer
        .send_event(EventData::builder().with_body(b"x".to_vec()).build(), None)
        .await
        .unwrap_err();
    assert!(format!("{error}").contains("401"), "{error}");
    assert!(broker.received().is_empty());
}
