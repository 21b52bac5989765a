//! Where normalized events go. The pipeline hands a sink batches of events
//! (`publish`) and counts them as delivered only once `flush` returns: that
//! is the acknowledgement a checkpoint may rely on. Separating the two lets
//! a sink batch its durability (one fsync, one broker round trip) over many
//! work items: the pipeline flushes before every checkpoint write, not after
//! every item.

pub mod eventhubs;
mod factory;
mod jsonl;

pub use eventhubs::EventHubsSink;
pub use factory::SinkFactory;
pub use jsonl::JsonLinesSink;

use crate::runtime::Event;

/// Receives batches of events.
#[async_trait::async_trait]
pub trait EventSink: Send {
    /// Hands over a batch. It may be buffered: nothing is acknowledged
    /// until [`EventSink::flush`] returns.
    async fn publish(&mut self, events: &[Event]) -> anyhow::Result<()>;

    /// Returns once every event handed over so far is durable (written and
    /// synced, or acknowledged by the broker). An error means some may not
    /// be: the checkpoint must not move past them.
    async fn flush(&mut self) -> anyhow::Result<()>;

    /// A short description for logs and summaries (`file out.jsonl`, `stdout`).
    fn describe(&self) -> String;
}
