//! Progress kept in the checkpoint: what the runner asks before starting
//! work (is this key done? was this event published?), what it reports as
//! work completes, and the saves.
//!
//! Two rules keep the remembered sets proportional to what can repeat, not
//! to the history behind the cycle:
//!
//! - **Expiry counts from when something is remembered**, on a clock that
//!   starts at the cycle's `now` and runs with the wall clock
//!   ([`CheckpointProgress::clock`]), and pruning uses the same clock. Counted
//!   from the cycle's start instead, nothing remembered during a six-hour
//!   catch-up would expire before the catch-up ends, and everything
//!   published in it would be remembered together.
//! - **Only events a later read can return again are remembered.** A
//!   connector with a dedup horizon re-reads at most that far before the
//!   start of a later window (message traces: the overlap, shorter than the
//!   horizon), and no later window starts before this slice's end. An event
//!   older than `slice end - dedup horizon` can therefore only come back if
//!   the same slice is read again after a crash, which duplicates anyway.
//!   Forgetting an id costs at most a duplicate; a wrongly remembered one
//!   would drop an event, so when the bound is unknown everything is
//!   remembered.

use super::progress::Progress;
use crate::checkpoint::{Checkpoint, CheckpointStore, StoredItem};
use crate::runtime::{Event, WorkItem};
use std::time::{Duration, Instant};

/// How often progress inside a slice is written: at most every `shortest`,
/// and otherwise as often as keeps the checkpoint's writes near
/// `bytes_per_second`, but at least every `longest`.
///
/// Why by size: in a catch-up the head carries the blobs listed but not yet
/// published (about 140 KB), and a save every 200 ms wrote 27 times more
/// checkpoint per event in a paced catch-up than in an unpaced one (202 MB
/// per million events), each save also cutting the sink's batch short. A
/// steady cycle's head is a few KB and is still written every 200 ms. What
/// a crash costs is at most the wait (duplicates, never losses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavePace {
    /// The shortest wait between two saves.
    pub shortest: Duration,
    /// The write rate the waits aim at.
    pub bytes_per_second: u64,
    /// The longest wait, however large a save.
    pub longest: Duration,
}

impl Default for SavePace {
    fn default() -> Self {
        Self {
            shortest: Duration::from_millis(200),
            bytes_per_second: 64 * 1024,
            longest: Duration::from_secs(5),
        }
    }
}

impl SavePace {
    /// The wait after a save that wrote `bytes`.
    pub fn wait_after(&self, bytes: u64) -> Duration {
        let by_size = Duration::from_secs_f64(bytes as f64 / self.bytes_per_second.max(1) as f64);
        by_size.clamp(self.shortest, self.longest.max(self.shortest))
    }
}

/// Progress of one cycle, kept in its checkpoint.
pub(super) struct CheckpointProgress<'a> {
    store: &'a dyn CheckpointStore,
    source: &'a str,
    tenant: &'a str,
    /// The checkpoint as it stands, saved or not.
    pub(super) checkpoint: Checkpoint,
    /// The cycle's `now` (ms) and when the cycle took it.
    now_ms: i64,
    started: Instant,
    dedup_horizon: i64,
    pace: SavePace,
    /// When the next save is due after the last one.
    wait: Duration,
    last_save: Instant,
    /// Outstanding work is the operator's retry list, not a slice's.
    pub(super) retrying: bool,
}

impl<'a> CheckpointProgress<'a> {
    /// Progress of a cycle that started at `now_ms` with `checkpoint`.
    pub(super) fn new(
        store: &'a dyn CheckpointStore,
        source: &'a str,
        tenant: &'a str,
        checkpoint: Checkpoint,
        now_ms: i64,
        dedup_horizon: u64,
        pace: SavePace,
    ) -> Self {
        Self {
            store,
            source,
            tenant,
            checkpoint,
            now_ms,
            started: Instant::now(),
            dedup_horizon: i64::try_from(dedup_horizon).unwrap_or(i64::MAX),
            pace,
            wait: pace.shortest,
            last_save: Instant::now(),
            retrying: false,
        }
    }

    /// The dedup horizon of a component version adopted mid-cycle.
    pub(super) fn set_dedup_horizon(&mut self, dedup_horizon: u64) {
        self.dedup_horizon = i64::try_from(dedup_horizon).unwrap_or(i64::MAX);
    }

    /// The cycle's `now` plus the time it has run (ms): the wall clock in
    /// production, and a consistent clock where a test sets `now`.
    pub(super) fn clock(&self) -> i64 {
        let ran = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.now_ms.saturating_add(ran)
    }

    /// The oldest event time (ms) a later read may return again: `dedup
    /// horizon` before the end of the slice in progress, or, while retrying
    /// set-aside items, before the high-water mark (every later read starts
    /// at or after it). Without a slice, everything is remembered.
    fn oldest_repeatable(&self) -> i64 {
        let next_start = if self.retrying {
            Some(self.checkpoint.high_water_mark)
        } else {
            self.checkpoint.slice.as_ref().map(|s| s.end)
        };
        next_start.map_or(i64::MIN, |start| start.saturating_sub(self.dedup_horizon))
    }

    /// Writes the checkpoint as it stands.
    pub(super) async fn save_now(&mut self) -> anyhow::Result<()> {
        let now = self.clock();
        self.checkpoint.prune(now);
        self.checkpoint.updated_at = chrono::Utc::now().timestamp_millis();
        let bytes = self
            .store
            .save(self.source, self.tenant, &mut self.checkpoint)
            .await?;
        self.wait = self.pace.wait_after(bytes);
        self.last_save = Instant::now();
        Ok(())
    }
}

#[async_trait::async_trait]
impl Progress for CheckpointProgress<'_> {
    fn is_done(&self, key: &str) -> bool {
        self.checkpoint.memory.knows_key(key, self.clock())
    }

    fn planned(&mut self, state: Option<&str>) {
        if let Some(state) = state {
            self.checkpoint.component_state = Some(state.to_string());
        }
    }

    fn completed(&mut self, item: &WorkItem, _cycle_now_ms: i64) {
        if let Some(ttl) = item.remember_for {
            let ttl = i64::try_from(ttl).unwrap_or(i64::MAX);
            let expiry = self.clock().saturating_add(ttl);
            self.checkpoint.memory.remember_key(&item.key, expiry);
        }
    }

    fn fresh_events(&mut self, events: Vec<Event>) -> Vec<Event> {
        if self.dedup_horizon <= 0 {
            return events;
        }
        let now = self.clock();
        let expiry = now.saturating_add(self.dedup_horizon);
        let oldest = self.oldest_repeatable();
        let memory = &mut self.checkpoint.memory;
        events
            .into_iter()
            .filter(|e| {
                memory.first_sight_of_event(&e.id, now, (e.time >= oldest).then_some(expiry))
            })
            .collect()
    }

    fn save_due(&self) -> bool {
        self.last_save.elapsed() >= self.wait
    }

    async fn save(&mut self, outstanding: Vec<WorkItem>) -> anyhow::Result<()> {
        let stored = outstanding.iter().map(StoredItem::from).collect();
        if self.retrying {
            self.checkpoint.retry = stored;
        } else if let Some(slice) = self.checkpoint.slice.as_mut() {
            slice.outstanding = stored;
        }
        self.save_now().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{LocalStore, SliceProgress};

    const HOUR: i64 = 3_600_000;
    const NOW: i64 = 1_795_593_600_000;

    fn event(id: &str, time: i64) -> Event {
        Event {
            id: id.into(),
            time,
            kind: "MessageTrace".into(),
            partition_key: None,
            body: "{}".into(),
        }
    }

    fn ids(events: &[Event]) -> Vec<&str> {
        events.iter().map(|e| e.id.as_str()).collect()
    }

    fn progress(store: &LocalStore, horizon: i64) -> CheckpointProgress<'_> {
        let mut checkpoint = Checkpoint::starting_at(NOW - 10 * HOUR);
        checkpoint.slice = Some(SliceProgress {
            start: NOW - 10 * HOUR,
            end: NOW - HOUR,
            outstanding: Vec::new(),
            failures: Default::default(),
            planned_by: None,
        });
        CheckpointProgress::new(
            store,
            "message-trace",
            "t1",
            checkpoint,
            NOW,
            horizon as u64,
            SavePace::default(),
        )
    }

    #[test]
    fn only_events_a_later_overlap_can_return_are_remembered() {
        let store = LocalStore::new("/nonexistent");
        let mut p = progress(&store, 2 * HOUR);
        // The slice ends at NOW - 1 h: the next read starts there, minus at
        // most the horizon, so events from NOW - 3 h on may come again.
        let fresh = p.fresh_events(vec![
            event("old", NOW - 3 * HOUR - 1),
            event("edge", NOW - 3 * HOUR),
            event("new", NOW - 2 * HOUR),
        ]);
        assert_eq!(ids(&fresh), ["old", "edge", "new"]);
        assert_eq!(p.checkpoint.memory.event_count(), 2);
        let again = p.fresh_events(vec![
            event("old", NOW - 3 * HOUR - 1),
            event("edge", NOW - 3 * HOUR),
            event("new", NOW - 2 * HOUR),
        ]);
        assert_eq!(ids(&again), ["old"], "only the unrepeatable one passes");
    }

    #[test]
    fn without_a_slice_every_event_is_remembered_and_retries_count_from_the_mark() {
        let store = LocalStore::new("/nonexistent");
        let mut p = progress(&store, HOUR);
        p.checkpoint.slice = None;
        p.fresh_events(vec![event("ancient", 0)]);
        assert_eq!(p.checkpoint.memory.event_count(), 1);

        p.retrying = true;
        p.checkpoint.high_water_mark = NOW - 5 * HOUR;
        p.fresh_events(vec![
            event("before", NOW - 6 * HOUR - 1),
            event("inside", NOW - 6 * HOUR),
        ]);
        assert!(!p.checkpoint.memory.knows_event("before", NOW));
        assert!(p.checkpoint.memory.knows_event("inside", NOW));
    }

    #[test]
    fn expiry_counts_from_when_something_is_remembered_not_from_the_cycle_start() {
        let store = LocalStore::new("/nonexistent");
        let mut p = progress(&store, HOUR);
        // The cycle has been running for three hours.
        p.started = Instant::now() - Duration::from_secs(3 * 3600);
        let item = WorkItem {
            kind: "content-blob".into(),
            key: "blob".into(),
            payload: String::new(),
            remember_for: Some(HOUR as u64),
        };
        p.completed(&item, NOW);
        p.fresh_events(vec![event("ev", NOW - HOUR)]);
        // Counted from the cycle's start, both would have expired by now.
        let later = NOW + 3 * HOUR + HOUR / 2;
        assert!(p.checkpoint.memory.knows_key("blob", later));
        assert!(p.checkpoint.memory.knows_event("ev", later));
        assert!(p.is_done("blob"));
        // Pruning runs on the same clock: what was remembered at the start
        // of the cycle is gone.
        p.checkpoint.memory.remember_key("early", NOW + HOUR);
        p.checkpoint.prune(p.clock());
        assert!(!p.checkpoint.memory.knows_key("early", NOW));
        assert!(p.checkpoint.memory.knows_key("blob", NOW));
    }

    #[tokio::test]
    async fn saves_write_the_remembered_keys_with_the_outstanding_items() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let mut p = progress(&store, 0);
        let item = |key: &str| WorkItem {
            kind: "content-blob".into(),
            key: key.into(),
            payload: String::new(),
            remember_for: Some(8 * 24 * HOUR as u64),
        };
        p.completed(&item("done"), NOW);
        p.save(vec![item("left")]).await.unwrap();
        let stored = store.load("message-trace", "t1").await.unwrap().unwrap();
        assert!(stored.memory.knows_key("done", NOW));
        assert!(!stored.memory.knows_key("left", NOW));
        assert_eq!(stored.slice.unwrap().outstanding[0].key, "left");
    }

    #[test]
    fn the_wait_after_a_save_follows_its_size_within_bounds() {
        let pace = SavePace::default();
        assert_eq!(pace.wait_after(0), Duration::from_millis(200));
        assert_eq!(pace.wait_after(4_000), Duration::from_millis(200));
        // A catch-up's head: about two seconds.
        let head = pace.wait_after(140_000);
        assert!(
            head > Duration::from_secs(2) && head < Duration::from_millis(2200),
            "{head:?}"
        );
        assert_eq!(pace.wait_after(50_000_000), Duration::from_secs(5));
        let odd = SavePace {
            shortest: Duration::from_secs(1),
            bytes_per_second: 0,
            longest: Duration::ZERO,
        };
        assert_eq!(odd.wait_after(10), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_large_save_puts_the_next_one_off() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let mut p = progress(&store, 0);
        p.pace = SavePace {
            shortest: Duration::ZERO,
            bytes_per_second: 1,
            longest: Duration::from_secs(86_400),
        };
        let item = |n: usize| WorkItem {
            kind: "content-blob".into(),
            key: format!("blob-{n}"),
            payload: "x".repeat(100),
            remember_for: None,
        };
        p.save((0..10).map(item).collect()).await.unwrap();
        let written = store.figures().bytes_written;
        assert!(written > 1_000, "{written}");
        assert_eq!(p.wait, Duration::from_secs(written));
        assert!(!p.save_due());
    }
}
