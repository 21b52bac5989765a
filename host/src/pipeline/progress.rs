//! What the runner reports as work completes, and asks before it starts
//! work: the seam between running a slice and keeping its progress (a
//! checkpoint in production, memory in the harness).

use crate::runtime::{Event, WorkItem};
use std::collections::HashMap;

/// Keeps the progress of a slice.
#[async_trait::async_trait]
pub trait Progress: Send {
    /// Whether work with this key is already done (a content id listed again).
    fn is_done(&self, key: &str) -> bool;

    /// Records the connector state a fresh `plan` returned.
    fn planned(&mut self, _state: Option<&str>) {}

    /// Records an item whose events are published.
    fn completed(&mut self, item: &WorkItem, now_ms: i64);

    /// The events not published before (by id, within the dedup horizon);
    /// remembers them as published.
    fn fresh_events(&mut self, events: Vec<Event>) -> Vec<Event>;

    /// Whether it is time to persist progress.
    fn save_due(&self) -> bool;

    /// Persists progress: `outstanding` is all work not yet published.
    async fn save(&mut self, outstanding: Vec<WorkItem>) -> anyhow::Result<()>;
}

/// Progress kept in memory only (the harness): remembers keys and event ids
/// for the length of the run.
#[derive(Default)]
pub struct MemoryProgress {
    done: HashMap<String, ()>,
    seen_events: HashMap<String, ()>,
    dedup_events: bool,
}

impl MemoryProgress {
    /// Progress that deduplicates events by id when `dedup_events` (the
    /// component declared a dedup horizon).
    pub fn new(dedup_events: bool) -> Self {
        Self {
            dedup_events,
            ..Self::default()
        }
    }
}

#[async_trait::async_trait]
impl Progress for MemoryProgress {
    fn is_done(&self, key: &str) -> bool {
        self.done.contains_key(key)
    }

    fn completed(&mut self, item: &WorkItem, _now_ms: i64) {
        self.done.insert(item.key.clone(), ());
    }

    fn fresh_events(&mut self, events: Vec<Event>) -> Vec<Event> {
        if !self.dedup_events {
            return events;
        }
        events
            .into_iter()
            .filter(|e| self.seen_events.insert(e.id.clone(), ()).is_none())
            .collect()
    }

    fn save_due(&self) -> bool {
        false
    }

    async fn save(&mut self, _outstanding: Vec<WorkItem>) -> anyhow::Result<()> {
        Ok(())
    }
}
