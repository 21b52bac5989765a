//! One `ProducerClient` per hub, opened on first use and shared by every
//! cycle's sink; replaced after a failed send so that a dropped connection
//! is reopened rather than retried on a dead one.

use super::config::EventHubsConfig;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_messaging_eventhubs::{ProducerClient, RetryOptions};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// The producers of one namespace, by hub.
pub struct Producers {
    config: EventHubsConfig,
    credential: Arc<dyn TokenCredential>,
    open: Mutex<HashMap<String, Arc<ProducerClient>>>,
}

impl Producers {
    /// Producers that authorize with `credential`.
    pub fn new(config: EventHubsConfig, credential: Arc<dyn TokenCredential>) -> Self {
        Self {
            config,
            credential,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The settings they were built from.
    pub fn config(&self) -> &EventHubsConfig {
        &self.config
    }

    /// The producer of `hub`, opening it (connection, CBS token) if needed.
    pub async fn get(&self, hub: &str) -> anyhow::Result<Arc<ProducerClient>> {
        let mut open = self.open.lock().await;
        if let Some(producer) = open.get(hub) {
            return Ok(producer.clone());
        }
        let mut builder = ProducerClient::builder()
            .with_application_id("o365-host".into())
            // The SDK retries a little inside; the sink's own loop around a
            // whole batch (with a fresh connection) does the rest.
            .with_retry_options(RetryOptions {
                initial_delay: azure_core::time::Duration::milliseconds(100),
                max_delay: azure_core::time::Duration::seconds(2),
                max_retries: 2,
                max_total_elapsed: azure_core::time::Duration::seconds(10),
            });
        if let Some(endpoint) = &self.config.endpoint {
            builder = builder.with_custom_endpoint(endpoint.clone());
        }
        let producer = builder
            .open(&self.config.namespace, hub, self.credential.clone())
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot open Event Hub `{hub}` in {} ({}): {e}. Check \
                     EventHub__fullyQualifiedNamespace, the hub's name and that this identity \
                     has the role `Azure Event Hubs Data Sender`",
                    self.config.namespace,
                    self.config
                        .endpoint
                        .clone()
                        .unwrap_or_else(|| format!("amqps://{}", self.config.namespace)),
                )
            })?;
        let producer = Arc::new(producer);
        open.insert(hub.to_string(), producer.clone());
        Ok(producer)
    }

    /// Forgets `hub`'s producer after a failure: the next `get` reconnects.
    pub async fn reset(&self, hub: &str, failed: &Arc<ProducerClient>) {
        let mut open = self.open.lock().await;
        if open.get(hub).is_some_and(|p| Arc::ptr_eq(p, failed)) {
            open.remove(hub);
        }
    }
}

/// A fixed token for a local test broker over plain `amqp://`, which checks
/// none: never used with an `amqps://` endpoint.
#[derive(Debug)]
pub struct TestBrokerCredential;

#[async_trait::async_trait]
impl TokenCredential for TestBrokerCredential {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(
            "test-broker-token",
            azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1),
        ))
    }
}
