//! Where normalized events go. The pipeline hands a sink batches of events
//! and counts them as delivered only once `publish` returns: that is the
//! acknowledgement a checkpoint may rely on.

mod jsonl;

pub use jsonl::JsonLinesSink;

use crate::runtime::Event;

/// Receives batches of events.
#[async_trait::async_trait]
pub trait EventSink: Send {
    /// Publishes a batch; returns only once the batch is durable (written
    /// and flushed, or acknowledged by the broker).
    async fn publish(&mut self, events: &[Event]) -> anyhow::Result<()>;

    /// A short description for logs and summaries (`file out.jsonl`, `stdout`).
    fn describe(&self) -> String;
}
