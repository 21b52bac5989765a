//! The production sink: Azure Event Hubs over AMQP.
//!
//! `publish` buffers events and sends full batches as they fill (a batch is
//! as large as the hub allows: the producer reads the link's maximum message
//! size); `flush` sends the rest and returns only when the broker accepted
//! every batch. A batch that fails is retried, whole, with backoff and a
//! fresh connection, up to `O365_EVENT_HUBS_SEND_ATTEMPTS` times; after that
//! `flush` fails and the cycle leaves the checkpoint where it was, so the
//! next cycle publishes the same events again (at least once: a batch whose
//! acceptance was lost with its connection arrives twice).
//!
//! Each event is one message: the body is the event's JSON envelope (the
//! line the JSON-lines sink writes), content type `application/json`, the
//! message id is the event's id, and application properties `source`,
//! `kind` and `tenant` let a consumer route without parsing. The partition
//! key follows [`PartitionKeyPolicy`]; an event too large for one message
//! is published truncated (`oversized`).

mod config;
mod oversized;
mod producer;

pub use config::{DEFAULT_HUB, EventHubsConfig, PartitionKeyPolicy, validate_hub_name};
pub use oversized::truncate;
pub use producer::{Producers, TestBrokerCredential};

use super::EventSink;
use crate::runtime::Event;
use azure_core_amqp::AmqpSymbol;
use azure_messaging_eventhubs::EventDataBatchOptions;
use azure_messaging_eventhubs::models::{AmqpMessage, EventData};
use std::sync::Arc;
use std::time::Duration;

/// Pending bytes at which `publish` starts sending (about four batches).
const SEND_AT: usize = 4 << 20;

/// Room left in a message for the AMQP framing and properties around a
/// truncated body.
const OVERHEAD: usize = 8 * 1024;

/// Publishes one source's events of one tenant to its hub.
pub struct EventHubsSink {
    producers: Arc<Producers>,
    hub: String,
    source: String,
    tenant: String,
    /// Events handed over and not yet accepted, with their partition key.
    pending: Vec<(Option<String>, Event)>,
    pending_bytes: usize,
    backoff: Duration,
    /// How long one attempt may wait for the broker's acknowledgement.
    send_timeout: Duration,
}

impl EventHubsSink {
    /// A sink for `source` and `tenant` on the shared producers (cheap: one per cycle).
    pub fn new(producers: Arc<Producers>, source: &str, tenant: &str) -> Self {
        Self {
            hub: producers.config().hub_for(source).to_string(),
            producers,
            source: source.to_string(),
            tenant: tenant.to_string(),
            pending: Vec::new(),
            pending_bytes: 0,
            backoff: Duration::from_millis(500),
            send_timeout: Duration::from_secs(60),
        }
    }

    /// Sets the first retry delay (doubling, at most 30 s); tests shorten it.
    pub fn with_backoff(mut self, first: Duration) -> Self {
        self.backoff = first;
        self
    }

    /// Sets how long one attempt waits for an acknowledgement (60 s).
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    fn key_of(&self, event: &Event) -> Option<String> {
        match self.producers.config().partition_key {
            PartitionKeyPolicy::None => None,
            PartitionKeyPolicy::Tenant => Some(self.tenant.clone()),
            PartitionKeyPolicy::Kind => Some(event.kind.clone()),
        }
    }

    fn message(&self, event: &Event, body: String) -> EventData {
        EventData::builder()
            .with_body(body.into_bytes())
            .with_content_type("application/json".into())
            .with_message_id(event.id.clone())
            .add_property("source".into(), self.source.clone())
            .add_property("kind".into(), event.kind.clone())
            .add_property("tenant".into(), self.tenant.clone())
            .build()
    }

    /// Sends every pending event, batch by batch, in order.
    async fn send_pending(&mut self) -> anyhow::Result<()> {
        while !self.pending.is_empty() {
            let taken = self.send_one_batch().await?;
            let sent: Vec<_> = self.pending.drain(..taken).collect();
            self.pending_bytes -= sent.iter().map(|(_, e)| e.body.len()).sum::<usize>();
        }
        Ok(())
    }

    /// Sends the longest run of pending events with one partition key that
    /// fits one batch, retrying it whole; returns how many it sent.
    async fn send_one_batch(&mut self) -> anyhow::Result<usize> {
        let mut attempt = 0u32;
        let mut delay = self.backoff;
        loop {
            attempt += 1;
            let producer = self.producers.get(&self.hub).await;
            let result = match &producer {
                Ok(producer) => {
                    match tokio::time::timeout(self.send_timeout, self.try_send(producer)).await {
                        Ok(result) => result,
                        Err(_) => Err(anyhow::anyhow!(
                            "no acknowledgement within {:?} (connection lost?)",
                            self.send_timeout
                        )),
                    }
                }
                Err(e) => Err(anyhow::anyhow!("{e:#}")),
            };
            match result {
                Ok(taken) => return Ok(taken),
                Err(e) if attempt >= self.producers.config().send_attempts => {
                    let text = format!("{e:#}");
                    let hint = if text.contains("401") || text.contains("nauthorized") {
                        ". The token was refused: give this identity the role `Azure Event Hubs \
                         Data Sender` on the namespace or hub"
                    } else {
                        ""
                    };
                    return Err(e.context(format!(
                        "Event Hub `{}`: a batch was refused {attempt} times; the checkpoint stays \
                         and the next cycle sends these events again{hint}",
                        self.hub
                    )));
                }
                Err(e) => {
                    crate::telemetry::send_retried(
                        &self.source,
                        &self.tenant,
                        &self.hub,
                        attempt,
                        &e,
                    );
                    if let Ok(producer) = &producer {
                        self.producers.reset(&self.hub, producer).await;
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    async fn send_alone(
        &self,
        producer: &azure_messaging_eventhubs::ProducerClient,
    ) -> anyhow::Result<usize> {
        let (key, event) = &self.pending[0];
        let max = self.producers.config().max_event_bytes;
        let body = if event.body.len() + OVERHEAD > max {
            let body = truncate(&event.body, max - OVERHEAD);
            crate::telemetry::event_truncated(
                &self.source,
                &self.tenant,
                &event.id,
                event.body.len(),
                body.len(),
            );
            body
        } else {
            event.body.clone()
        };
        let mut message = AmqpMessage::from(self.message(event, body));
        if let Some(key) = key {
            message.add_message_annotation(AmqpSymbol::from("x-opt-partition-key"), key.clone());
        }
        producer.send_message(message, None).await?;
        Ok(1)
    }

    async fn try_send(
        &self,
        producer: &azure_messaging_eventhubs::ProducerClient,
    ) -> anyhow::Result<usize> {
        let key = self.pending[0].0.clone();
        let batch = producer
            .create_batch(Some(EventDataBatchOptions {
                partition_key: key.clone(),
                ..Default::default()
            }))
            .await?;
        let mut taken = 0;
        for (event_key, event) in &self.pending {
            if *event_key != key {
                break;
            }
            if !batch.try_add_event_data(self.message(event, event.body.clone()), None)? {
                break;
            }
            taken += 1;
        }
        if taken == 0 {
            // The first event alone does not fit an empty batch (the
            // producer counts a batch's first message twice, so a batch
            // holds one event of at most about half the link's limit): it
            // goes on its own, truncated if it exceeds one message.
            drop(batch);
            return self.send_alone(producer).await;
        }
        producer.send_batch(batch, None).await?;
        Ok(taken)
    }
}

#[async_trait::async_trait]
impl EventSink for EventHubsSink {
    async fn publish(&mut self, events: &[Event]) -> anyhow::Result<()> {
        for event in events {
            self.pending_bytes += event.body.len();
            self.pending.push((self.key_of(event), event.clone()));
        }
        if self.pending_bytes >= SEND_AT {
            self.send_pending().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        self.send_pending().await
    }

    fn describe(&self) -> String {
        format!(
            "Event Hub {}/{}",
            self.producers.config().namespace,
            self.hub
        )
    }
}
