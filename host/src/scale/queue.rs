//! The cycle queue and its poison queue, on the Queue service of the
//! checkpoints' storage account, through the official `azure_storage_queue`
//! client (1.1, on the same `azure_core` as the Blob client: one transport,
//! one SAS or identity for both, `BlobAccount::queue_client`).
//!
//! A consumer receives a request with a visibility timeout, extends it while
//! the cycle runs (each extension returns a new pop receipt, which the next
//! call must name), and deletes it when done; a request whose consumer dies
//! reappears when the timeout lapses, with its dequeue count raised.

use super::message::{CycleRequest, PoisonRecord};
use super::settings::QueueSettings;
use crate::azure::storage::{BlobAccount, Service, explain, status};
use anyhow::Context as _;
use azure_storage_queue::QueueClient;
use azure_storage_queue::models::{
    QueueClientGetPropertiesResultHeaders as _, QueueClientPeekMessagesOptions,
    QueueClientReceiveMessagesOptions, QueueClientSendMessageOptions, QueueMessage,
};
use std::sync::Arc;
use std::time::Duration;

/// The most messages one receive or peek returns (the service's limit).
pub const MAX_BATCH: u32 = 32;

/// A received request, with what deleting or extending it needs.
#[derive(Clone, Debug)]
pub struct Received {
    /// The message id.
    pub id: String,
    /// The current pop receipt (changes with every extension).
    pub pop_receipt: String,
    /// How often it was received, this time included.
    pub dequeue_count: u32,
    /// The request, or why the text is not one.
    pub request: Result<CycleRequest, String>,
}

/// The cycle queue and its poison queue.
pub struct CycleQueue {
    account: Arc<BlobAccount>,
    names: QueueSettings,
}

impl CycleQueue {
    /// The queues `settings` name in `account` (no request yet).
    pub fn new(account: Arc<BlobAccount>, settings: &QueueSettings) -> anyhow::Result<Self> {
        let queue = Self {
            account,
            names: settings.clone(),
        };
        queue.client(&settings.queue)?;
        Ok(queue)
    }

    /// The cycle queue's name.
    pub fn name(&self) -> &str {
        &self.names.queue
    }

    /// The poison queue's name.
    pub fn poison_name(&self) -> &str {
        &self.names.poison
    }

    fn client(&self, name: &str) -> anyhow::Result<QueueClient> {
        self.account
            .queue_client(name)
            .with_context(|| format!("the cycle queue {name}"))
    }

    /// Creates both queues if missing; the first request, so its error says
    /// whether the account, the key or the role is wrong.
    pub async fn ensure(&self) -> anyhow::Result<()> {
        for name in [&self.names.queue, &self.names.poison] {
            match self.client(name)?.create(None).await {
                Ok(_) => {}
                Err(e) if status(&e).0 == Some(409) => {}
                Err(e) => return Err(self.fail(name, "creating the queue", e)),
            }
        }
        Ok(())
    }

    /// Enqueues `request`.
    pub async fn send(&self, request: &CycleRequest) -> anyhow::Result<()> {
        self.send_text(&self.names.queue, request.encode(), None)
            .await
    }

    /// Enqueues `request` to become visible after `delay` (a continuation
    /// or a retry sent as a new message).
    pub async fn send_later(&self, request: &CycleRequest, delay: Duration) -> anyhow::Result<()> {
        self.send_text(&self.names.queue, request.encode(), Some(delay))
            .await
    }

    /// Puts `record` on the poison queue. Poison messages never expire:
    /// they wait for an operator.
    pub async fn poison(&self, record: &PoisonRecord) -> anyhow::Result<()> {
        self.send_text(&self.names.poison, record.encode(), None)
            .await
    }

    async fn send_text(
        &self,
        name: &str,
        text: String,
        delay: Option<Duration>,
    ) -> anyhow::Result<()> {
        let message = QueueMessage {
            message_text: Some(text),
        };
        let options = QueueClientSendMessageOptions {
            message_time_to_live: (name == self.names.poison).then_some(-1),
            visibility_timeout: delay.map(secs),
            ..Default::default()
        };
        self.client(name)?
            .send_message(message.try_into()?, Some(options))
            .await
            .map_err(|e| self.fail(name, "sending a message", e))?;
        Ok(())
    }

    /// Receives up to `max` requests (1 to 32), each invisible to other
    /// consumers for `visibility`.
    pub async fn receive(&self, max: u32, visibility: Duration) -> anyhow::Result<Vec<Received>> {
        let name = &self.names.queue;
        let options = QueueClientReceiveMessagesOptions {
            number_of_messages: Some(max.clamp(1, MAX_BATCH) as i32),
            visibility_timeout: Some(secs(visibility)),
            ..Default::default()
        };
        let response = self
            .client(name)?
            .receive_messages(Some(options))
            .await
            .map_err(|e| self.fail(name, "receiving messages", e))?;
        let messages = response
            .into_model()
            .map_err(|e| self.fail(name, "reading received messages", e))?;
        Ok(messages
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                Some(Received {
                    id: m.message_id?,
                    pop_receipt: m.pop_receipt?,
                    dequeue_count: m.dequeue_count.unwrap_or(1).clamp(0, u32::MAX as i64) as u32,
                    request: CycleRequest::decode(m.message_text.as_deref().unwrap_or_default()),
                })
            })
            .collect())
    }

    /// Keeps `message` invisible for `visibility` more; updates its pop
    /// receipt.
    pub async fn extend(&self, message: &mut Received, visibility: Duration) -> anyhow::Result<()> {
        let name = &self.names.queue;
        let response = self
            .client(name)?
            .update_message(&message.id, &message.pop_receipt, secs(visibility), None)
            .await
            .map_err(|e| self.fail(name, "extending a message's visibility", e))?;
        let receipt = response
            .headers()
            .get_optional_str(&azure_core::http::headers::HeaderName::from_static(
                "x-ms-popreceipt",
            ))
            .map(str::to_string)
            .context("the Queue service answered an update without a pop receipt")?;
        message.pop_receipt = receipt;
        Ok(())
    }

    /// Deletes `message` (its request is done, continued or poisoned). A
    /// message already gone counts as deleted.
    pub async fn delete(&self, message: &Received) -> anyhow::Result<()> {
        let name = &self.names.queue;
        match self
            .client(name)?
            .delete_message(&message.id, &message.pop_receipt, None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if status(&e).0 == Some(404) => Ok(()),
            Err(e) => Err(self.fail(name, "deleting a message", e)),
        }
    }

    /// Messages in the cycle queue, visible or not (approximate, as the
    /// service counts them).
    pub async fn length(&self) -> anyhow::Result<u64> {
        self.approximate(&self.names.queue).await
    }

    /// Messages in the poison queue (approximate).
    pub async fn poison_length(&self) -> anyhow::Result<u64> {
        self.approximate(&self.names.poison).await
    }

    async fn approximate(&self, name: &str) -> anyhow::Result<u64> {
        let response = self
            .client(name)?
            .get_properties(None)
            .await
            .map_err(|e| self.fail(name, "reading the queue's length", e))?;
        Ok(response
            .approximate_messages_count()
            .ok()
            .flatten()
            .unwrap_or(0)
            .max(0) as u64)
    }

    /// The first poison records (up to 32, oldest first), without taking
    /// them off the queue; unreadable messages are reported as such.
    pub async fn peek_poison(&self) -> anyhow::Result<Vec<Result<PoisonRecord, String>>> {
        let name = &self.names.poison;
        let options = QueueClientPeekMessagesOptions {
            number_of_messages: Some(MAX_BATCH as i32),
            ..Default::default()
        };
        let response = self
            .client(name)?
            .peek_messages(Some(options))
            .await
            .map_err(|e| self.fail(name, "peeking", e))?;
        let messages = response
            .into_model()
            .map_err(|e| self.fail(name, "reading peeked messages", e))?;
        Ok(messages
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|m| PoisonRecord::decode(m.message_text.as_deref().unwrap_or_default()))
            .collect())
    }

    /// Moves every poison record back to the cycle queue as a fresh
    /// request (after the operator fixed the cause); how many.
    pub async fn retry_poisoned(&self) -> anyhow::Result<usize> {
        let name = &self.names.poison;
        let client = self.client(name)?;
        let mut moved = 0;
        loop {
            let options = QueueClientReceiveMessagesOptions {
                number_of_messages: Some(MAX_BATCH as i32),
                visibility_timeout: Some(60),
                ..Default::default()
            };
            let messages = client
                .receive_messages(Some(options))
                .await
                .map_err(|e| self.fail(name, "receiving poison messages", e))?
                .into_model()
                .map_err(|e| self.fail(name, "reading poison messages", e))?
                .items
                .unwrap_or_default();
            if messages.is_empty() {
                return Ok(moved);
            }
            for m in messages {
                let (Some(id), Some(receipt)) = (m.message_id, m.pop_receipt) else {
                    continue;
                };
                let text = m.message_text.as_deref().unwrap_or_default();
                match PoisonRecord::decode(text) {
                    // A placeholder for a message that was no request.
                    Ok(record) if record.request.tenant == "?" => tracing::warn!(
                        "poison message {id} was no cycle request ({}), deleted",
                        record.cause
                    ),
                    Ok(record) => {
                        let mut request = record.request;
                        request.planned =
                            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                        self.send(&request).await?;
                        moved += 1;
                    }
                    Err(e) => tracing::warn!(
                        "poison message {id} is no cycle request ({e}), deleted: {}",
                        text.chars().take(200).collect::<String>()
                    ),
                }
                client
                    .delete_message(&id, &receipt, None)
                    .await
                    .map_err(|e| self.fail(name, "deleting a poison message", e))?;
            }
        }
    }

    /// A failed queue request, with the fix.
    fn fail(&self, name: &str, action: &str, e: azure_core::Error) -> anyhow::Error {
        let fix = match status(&e) {
            (Some(404), Some("QueueNotFound")) => format!(
                "the queue is gone from {}; it is created at start, so restart the host",
                Service::Queue.endpoint(&self.account)
            ),
            _ => explain(&self.account, Service::Queue, &e),
        };
        anyhow::anyhow!("queue {name}: {action}: {fix}")
    }
}

fn secs(d: Duration) -> i32 {
    d.as_secs().clamp(0, i32::MAX as u64) as i32
}
