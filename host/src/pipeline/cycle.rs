//! One cycle for one tenant and source: take the lease, read the checkpoint
//! (or import the seed's), run the set-aside items an operator asked to
//! retry, finish a slice left in progress, then fetch every slice up to
//! `now - min-age`, advancing the checkpoint after each one only once the
//! sink acknowledged all its events.
//!
//! An item that fails in `set_aside_after` cycles is set aside with its cause
//! (see `checkpoint::SetAsideItem`) so that one item that never succeeds
//! cannot hold the tenant until its data ages out; failures of the
//! credentials are never set aside, since every item would fail alike.

use super::checkpoint_progress::{CheckpointProgress, SavePace};
use super::live::LiveSource;
use super::progress::Progress;
use super::runner::{FailedItem, PipelineOptions, SliceStart, Summary, run_slice};
use super::window::{coverage, slices};
use crate::checkpoint::{
    Checkpoint, CheckpointStore, LEGACY_BLOB, SetAsideItem, SliceProgress, StoredItem,
    import_legacy_timestamp,
};
use crate::gate::{Gate, GatePolicy};
use crate::grants::Admission;
use crate::runtime::{CallContext, Info, LoadedComponent, Runtime, Setting, TimeWindow, WorkItem};
use crate::sink::EventSink;
use crate::telemetry;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connector configured for a deployment.
pub struct Source {
    /// Checkpoint name of the source (`audit`, `message-trace`).
    pub name: String,
    /// The seed's checkpoint container for this source (`auditlogstate`).
    pub legacy_container: Option<String>,
    /// The loaded component.
    pub component: Arc<LoadedComponent>,
    /// Its description with `settings`.
    pub info: Info,
    /// The settings it gets.
    pub settings: Vec<Setting>,
    /// What the operator's grant for this source admitted of `info`
    /// (`Grant::admit`, at load): the only endpoints the gate lets it reach.
    pub admission: Admission,
}

impl Source {
    /// What the gate lets this source reach for `tenant`.
    pub fn policy(&self, tenant: &str) -> Arc<GatePolicy> {
        Arc::new(GatePolicy::admitted(&self.admission, tenant))
    }
}

/// How cycles run.
#[derive(Clone, Debug)]
pub struct CycleOptions {
    /// Work queue settings.
    pub pipeline: PipelineOptions,
    /// How often progress inside a slice is checkpointed.
    pub save_pace: SavePace,
    /// Where a source with no checkpoint at all starts (the seed looked 24
    /// hours back).
    pub first_run_lookback: Duration,
    /// Cycles in which an item may fail before it is set aside and the
    /// window moves on without it (`O365_SET_ASIDE_AFTER`).
    pub set_aside_after: u32,
}

impl Default for CycleOptions {
    fn default() -> Self {
        Self {
            pipeline: PipelineOptions::default(),
            save_pace: SavePace::default(),
            first_run_lookback: Duration::from_secs(24 * 3600),
            set_aside_after: 3,
        }
    }
}

/// The prefix of a component counter that measures data that can never be
/// fetched (`lost-window-seconds`: a listing aged past the source's
/// retention); the host reports it as a loss, like an unrecoverable span.
pub const LOSS_COUNTER: &str = "lost-";

/// What a cycle did.
#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CycleReport {
    /// The source.
    pub source: String,
    /// The tenant.
    pub tenant: String,
    /// The component version that ran the cycle's last slice
    /// (`name version (sha256 prefix)`).
    pub component: String,
    /// Times the component was swapped for a new version during the cycle.
    pub swaps: u32,
    /// Another instance held the lease: nothing was done.
    pub skipped_busy: bool,
    /// Everything up to `now - min-age` is published, no event kind lags
    /// behind, and nothing was set aside in this cycle.
    pub complete: bool,
    /// Slices finished in this cycle.
    pub slices_done: usize,
    /// Slices this cycle had to do.
    pub slices_total: usize,
    /// The checkpoint's high-water mark at the end (ms).
    pub high_water_mark: i64,
    /// A span older than the source keeps, which could not be fetched.
    pub unrecoverable: Option<(i64, i64)>,
    /// Items waiting in the set-aside list after this cycle.
    pub set_aside_total: usize,
    /// The cycle stopped early at its deadline (`PipelineOptions::deadline`),
    /// and why; what it did not do stays in the checkpoint for the next.
    pub stopped: Option<String>,
    /// Counts.
    pub summary: Summary,
    /// Wall time.
    pub seconds: f64,
}

/// Runs one cycle of `live` for `tenant` at `now_ms`, on the version of
/// its component that is current (looked at again before each slice).
#[allow(clippy::too_many_arguments)]
pub async fn run_cycle(
    runtime: &Arc<Runtime>,
    live: &LiveSource,
    tenant: &str,
    gate: Arc<Gate>,
    store: &dyn CheckpointStore,
    sink: &mut dyn EventSink,
    options: &CycleOptions,
    now_ms: i64,
) -> anyhow::Result<CycleReport> {
    let started = Instant::now();
    let source = live.current();
    let mut report = CycleReport {
        source: source.name.clone(),
        tenant: tenant.to_string(),
        component: source.version_label(),
        ..CycleReport::default()
    };
    let Some(lease) = store.try_lease(live.name(), tenant).await? else {
        tracing::info!(source = %live.name(), tenant, "another instance is running this source for this tenant; skipping this cycle");
        report.skipped_busy = true;
        return Ok(report);
    };
    let component = &source.component;
    telemetry::cycle::component_version(
        &source.name,
        tenant,
        &component.name,
        &component.info.version,
        &component.digest,
    );
    let result = run_leased(
        runtime, live, source, tenant, gate, store, sink, options, now_ms, report, started,
    )
    .await;
    match &result {
        Ok(report) => telemetry::cycle::finished(report, chrono::Utc::now().timestamp_millis()),
        Err(_) => {
            let checkpoint = store.load(live.name(), tenant).await.ok().flatten();
            let high_water_mark = checkpoint.map(|c| c.high_water_mark);
            telemetry::cycle::failed(live.name(), tenant, high_water_mark);
        }
    }
    if !lease.is_held() {
        tracing::warn!(source = %live.name(), tenant, "the lease on this tenant and source was lost during the cycle (renewals failed); the conditional checkpoint writes kept the checkpoint whole");
    }
    lease.release().await;
    result
}

/// The cycle, once the lease is held.
#[allow(clippy::too_many_arguments)]
async fn run_leased(
    runtime: &Arc<Runtime>,
    live: &LiveSource,
    source: Arc<Source>,
    tenant: &str,
    gate: Arc<Gate>,
    store: &dyn CheckpointStore,
    sink: &mut dyn EventSink,
    options: &CycleOptions,
    now_ms: i64,
    mut report: CycleReport,
    started: Instant,
) -> anyhow::Result<CycleReport> {
    let checkpoint = match store.load(&source.name, tenant).await? {
        Some(checkpoint) => checkpoint,
        None => first_checkpoint(store, &source, tenant, now_ms, options).await?,
    };
    let call = CallContext {
        tenant: tenant.to_string(),
        now_ms,
        settings: source.settings.clone(),
        gate,
        policy: source.policy(tenant),
    };
    let mut progress = CheckpointProgress::new(
        store,
        live.name(),
        tenant,
        checkpoint,
        now_ms,
        source.info.dedup_horizon,
        options.save_pace,
    );
    let mut cycle = Cycle {
        runtime,
        live,
        source,
        call,
        sink,
        options,
        progress: &mut progress,
        report: &mut report,
    };
    let finished = cycle.run().await?;
    if finished && cycle.report.slices_total == 0 {
        // Persist the pruned memory and state even when there was nothing to do.
        cycle.progress.save(Vec::new()).await?;
    }
    let source = cycle.source.clone();
    report.component = source.version_label();
    if finished {
        report.complete = progress.checkpoint.slice.is_none()
            && report.summary.failures.is_empty()
            && report.summary.lagging.is_empty()
            && report.summary.set_aside == 0;
    }
    for (kind, lag) in &report.summary.lagging {
        telemetry::kind_behind(&source.name, tenant, kind, &lag.reason, lag.seconds);
    }
    for (name, value) in &report.summary.counters {
        if name.starts_with(LOSS_COUNTER) && *value > 0 {
            telemetry::loss_reported(&source.name, tenant, name, *value);
        }
    }
    Ok(finish(report, &progress, started))
}

fn finish(
    mut report: CycleReport,
    progress: &CheckpointProgress<'_>,
    started: Instant,
) -> CycleReport {
    report.high_water_mark = progress.checkpoint.high_water_mark;
    report.set_aside_total = progress.checkpoint.set_aside.len();
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// One cycle in progress: what every step of it shares.
struct Cycle<'a, 'p> {
    runtime: &'a Arc<Runtime>,
    live: &'a LiveSource,
    /// The version running the current slice.
    source: Arc<Source>,
    call: CallContext,
    sink: &'a mut dyn EventSink,
    options: &'a CycleOptions,
    progress: &'a mut CheckpointProgress<'p>,
    report: &'a mut CycleReport,
}

impl Cycle<'_, '_> {
    /// Retried items, then a slice left unfinished, then every new slice up
    /// to `now - min-age`; whether the cycle got to the end.
    async fn run(&mut self) -> anyhow::Result<bool> {
        if !self.run_retries().await? {
            return Ok(false);
        }

        // A slice a previous cycle left unfinished comes first.
        if let Some(slice) = self.progress.checkpoint.slice.clone() {
            self.report.slices_total += 1;
            let start = self.resume(&slice);
            if !self.run_slice(slice.window(), start).await? {
                return Ok(false);
            }
        }
        loop {
            match self.run_new_slices().await? {
                NewSlices::Done => return Ok(true),
                NewSlices::Stopped => return Ok(false),
                NewSlices::Swapped => continue,
            }
        }
    }

    /// How a slice a previous cycle left unfinished goes on: its outstanding
    /// items, or, if another version of the component planned it, planned
    /// again by this one (items already done are skipped by key, so this
    /// costs at most repeated reads, never a lost window).
    fn resume(&mut self, slice: &SliceProgress) -> SliceStart {
        let digest = &self.source.component.digest;
        match &slice.planned_by {
            Some(by) if by != digest => {
                tracing::info!(source = %self.source.name, tenant = %self.call.tenant, planned_by = %short(by), now = %self.source.version_label(), "an unfinished slice was planned by another version of the component; this version plans it again");
                let state = self.progress.checkpoint.component_state.clone();
                if let Some(slice) = self.progress.checkpoint.slice.as_mut() {
                    slice.outstanding.clear();
                    slice.failures.clear();
                    slice.planned_by = Some(digest.clone());
                }
                SliceStart::Plan(state)
            }
            _ => {
                tracing::info!(source = %self.source.name, tenant = %self.call.tenant, outstanding = slice.outstanding.len(), "resuming an unfinished slice");
                SliceStart::Resume(
                    slice
                        .outstanding
                        .iter()
                        .cloned()
                        .map(WorkItem::from)
                        .collect(),
                )
            }
        }
    }

    /// Adopts the component version that is current now, if it changed;
    /// whether it did.
    fn adopt_current_version(&mut self) -> bool {
        let current = self.live.current();
        if Arc::ptr_eq(&current, &self.source) {
            return false;
        }
        tracing::info!(source = %current.name, tenant = %self.call.tenant, from = %self.source.version_label(), to = %current.version_label(), "the next slice runs on the new component version");
        self.call.settings = current.settings.clone();
        self.call.policy = current.policy(&self.call.tenant);
        self.progress.set_dedup_horizon(current.info.dedup_horizon);
        self.source = current;
        self.report.swaps += 1;
        true
    }

    /// Plans and runs every slice from the high-water mark to `now -
    /// min-age`, on the current version; stops early when a new version
    /// becomes current (the caller plans the rest with it).
    async fn run_new_slices(&mut self) -> anyhow::Result<NewSlices> {
        self.adopt_current_version();
        let info = self.source.info.clone();
        let plan = coverage(
            self.progress.checkpoint.high_water_mark,
            self.call.now_ms,
            &info,
        );
        if let Some(lost) = plan.unrecoverable {
            telemetry::unrecoverable_span(
                &self.source.name,
                &self.call.tenant,
                lost.start,
                lost.end,
            );
            self.report.unrecoverable = Some((lost.start, lost.end));
            self.progress.checkpoint.high_water_mark = lost.end;
        }
        let windows = plan
            .fetch
            .map(|w| slices(w, info.max_window))
            .unwrap_or_default();
        self.report.slices_total += windows.len();
        for (done, window) in windows.iter().enumerate() {
            if self.deadline_stops_new_work() {
                return Ok(NewSlices::Stopped);
            }
            if done > 0 && !Arc::ptr_eq(&self.live.current(), &self.source) {
                // The new version may cut the rest into other slices.
                self.report.slices_total -= windows.len() - done;
                return Ok(NewSlices::Swapped);
            }
            let state = self.progress.checkpoint.component_state.clone();
            self.progress.checkpoint.slice = Some(SliceProgress {
                start: window.start,
                end: window.end,
                outstanding: Vec::new(),
                failures: Default::default(),
                planned_by: Some(self.source.component.digest.clone()),
            });
            if !self.run_slice(*window, SliceStart::Plan(state)).await? {
                return Ok(NewSlices::Stopped);
            }
        }
        Ok(NewSlices::Done)
    }

    /// Runs the items an operator asked to retry (they stay in the
    /// set-aside list meanwhile): what succeeds leaves the list, what fails
    /// again stays in it with one more attempt and the new cause.
    /// Whether the cycle may go on (the deadline did not cut it short).
    async fn run_retries(&mut self) -> anyhow::Result<bool> {
        let retry = std::mem::take(&mut self.progress.checkpoint.retry);
        if retry.is_empty() {
            return Ok(true);
        }
        // Outstanding retries are written back by `save` until they finish.
        self.progress.checkpoint.retry = retry.clone();
        let keys: Vec<String> = retry.iter().map(|i| i.key.clone()).collect();
        let items: Vec<WorkItem> = retry.into_iter().map(WorkItem::from).collect();
        tracing::info!(source = %self.source.name, tenant = %self.call.tenant, items = items.len(), "retrying set-aside items");
        let window = TimeWindow {
            start: self.progress.checkpoint.high_water_mark,
            end: self.progress.checkpoint.high_water_mark,
        };
        self.progress.retrying = true;
        let outcome = self.execute(window, SliceStart::Resume(items)).await;
        self.progress.retrying = false;
        let outcome = outcome?;
        let mut still_failing: std::collections::HashSet<String> =
            outcome.remaining.iter().map(|i| i.key.clone()).collect();
        for failed in outcome.failed {
            still_failing.insert(failed.item.key.clone());
            let attempts = self.previous_attempts(&failed.item.key).saturating_add(1);
            self.set_aside(failed, attempts, window);
        }
        for gone in outcome.expired {
            still_failing.insert(gone.item.key.clone());
            self.set_aside_expired(gone, window);
        }
        let recovered: std::collections::HashSet<&String> = keys
            .iter()
            .filter(|k| !still_failing.contains(*k))
            .collect();
        self.progress
            .checkpoint
            .set_aside
            .retain(|e| !recovered.contains(&e.item.key));
        tracing::info!(source = %self.source.name, tenant = %self.call.tenant, recovered = recovered.len(), failed_again = still_failing.len(), "set-aside items retried");
        // What the deadline left unrun is retried by the next cycle.
        self.progress.checkpoint.retry = outcome.remaining.iter().map(StoredItem::from).collect();
        self.progress.save_now().await?;
        if outcome.cut_short {
            self.stop_at_deadline();
        }
        Ok(!outcome.cut_short)
    }

    /// Whether the deadline allows no new work; records the stop if so.
    fn deadline_stops_new_work(&mut self) -> bool {
        let stops = self
            .options
            .pipeline
            .deadline
            .is_some_and(|d| d.stops_new_work());
        if stops {
            self.stop_at_deadline();
        }
        stops
    }

    fn stop_at_deadline(&mut self) {
        let Some(deadline) = self.options.pipeline.deadline else {
            return;
        };
        let reason = deadline.reason();
        tracing::warn!(source = %self.source.name, tenant = %self.call.tenant, "{reason}");
        self.report.stopped = Some(reason);
    }

    /// Runs one slice, settles its failures and moves the checkpoint;
    /// whether the cycle may go on.
    async fn run_slice(&mut self, window: TimeWindow, start: SliceStart) -> anyhow::Result<bool> {
        let outcome = self.execute(window, start).await?;
        if outcome.state.is_some() {
            self.progress.checkpoint.component_state = outcome.state;
        }
        if !outcome.planned {
            // Planning failed: plan the slice again next cycle.
            self.progress.checkpoint.slice = None;
            self.progress.save(Vec::new()).await?;
            if outcome.cut_short {
                self.stop_at_deadline();
                return Ok(false);
            }
            tracing::error!(source = %self.source.name, tenant = %self.call.tenant, "planning failed; the checkpoint stays before the slice and the next cycle plans it again");
            return Ok(false);
        }
        for gone in outcome.expired {
            self.set_aside_expired(gone, window);
        }
        let mut still_failing = self.settle(outcome.failed, window);
        if outcome.cut_short {
            // Everything acknowledged is recorded; the rest stays outstanding.
            still_failing.extend(outcome.remaining);
            self.progress.save(still_failing).await?;
            self.stop_at_deadline();
            return Ok(false);
        }
        if still_failing.is_empty() {
            self.progress.checkpoint.high_water_mark = window.end;
            self.progress.checkpoint.slice = None;
            self.progress.save(Vec::new()).await?;
            self.report.slices_done += 1;
            telemetry::checkpoint_advanced(
                &self.source.name,
                &self.call.tenant,
                window.end,
                self.call.now_ms,
            );
            Ok(true)
        } else {
            self.progress.save(still_failing).await?;
            tracing::error!(source = %self.source.name, tenant = %self.call.tenant, "slice not finished; the checkpoint stays before it and the next cycle retries what failed");
            Ok(false)
        }
    }

    async fn execute(
        &mut self,
        window: TimeWindow,
        start: SliceStart,
    ) -> anyhow::Result<super::runner::SliceOutcome> {
        run_slice(
            self.runtime,
            &self.source.component,
            &self.call,
            window,
            start,
            &mut *self.sink,
            &self.options.pipeline,
            &mut *self.progress,
            &mut self.report.summary,
        )
        .await
    }

    /// Counts each failed item's attempts; sets aside those that failed
    /// `set_aside_after` times (never for systemic failures, which would
    /// fail every item alike). Returns the items that stay outstanding.
    fn settle(&mut self, failed: Vec<FailedItem>, window: TimeWindow) -> Vec<WorkItem> {
        let mut outstanding = Vec::new();
        for failed in failed {
            let Some(slice) = self.progress.checkpoint.slice.as_mut() else {
                outstanding.push(failed.item);
                continue;
            };
            let record = slice.failures.entry(failed.item.key.clone()).or_default();
            record.attempts = record.attempts.saturating_add(1);
            record.last_error = failed.error.clone();
            let attempts = record.attempts;
            if failed.systemic || attempts < self.options.set_aside_after {
                outstanding.push(failed.item);
            } else {
                slice.failures.remove(&failed.item.key);
                self.set_aside(failed, attempts, window);
            }
        }
        if let Some(slice) = self.progress.checkpoint.slice.as_mut() {
            let keys: std::collections::HashSet<&str> =
                outstanding.iter().map(|i| i.key.as_str()).collect();
            slice.failures.retain(|key, _| keys.contains(key.as_str()));
        }
        outstanding
    }

    fn set_aside(&mut self, failed: FailedItem, attempts: u32, window: TimeWindow) {
        telemetry::item_set_aside(
            &self.source.name,
            &self.call.tenant,
            &failed.item.key,
            attempts,
            &failed.error,
        );
        self.report.summary.set_aside += 1;
        let entry = self.entry(failed, true, attempts, window);
        self.progress.checkpoint.set_item_aside(entry);
    }

    fn set_aside_expired(&mut self, gone: FailedItem, window: TimeWindow) {
        telemetry::item_lost(
            &self.source.name,
            &self.call.tenant,
            "expired",
            &gone.item.key,
        );
        let attempts = self.previous_attempts(&gone.item.key).saturating_add(1);
        let entry = self.entry(gone, false, attempts, window);
        self.progress.checkpoint.set_item_aside(entry);
    }

    /// A set-aside entry; an item set aside before keeps its original window.
    fn entry(
        &self,
        failed: FailedItem,
        retryable: bool,
        attempts: u32,
        window: TimeWindow,
    ) -> SetAsideItem {
        let (window_start, window_end) = self
            .progress
            .checkpoint
            .set_aside
            .iter()
            .find(|e| e.item.key == failed.item.key)
            .map(|e| (e.window_start, e.window_end))
            .unwrap_or((window.start, window.end));
        SetAsideItem {
            item: StoredItem::from(&failed.item),
            cause: failed.error,
            retryable,
            attempts,
            window_start,
            window_end,
            set_aside_at: self.call.now_ms,
        }
    }

    fn previous_attempts(&self, key: &str) -> u32 {
        self.progress
            .checkpoint
            .set_aside
            .iter()
            .find(|e| e.item.key == key)
            .map(|e| e.attempts)
            .unwrap_or(0)
    }
}

/// How a run of new slices ended.
enum NewSlices {
    /// Every slice up to `now - min-age` is done.
    Done,
    /// A slice did not finish, or the deadline came: the cycle ends.
    Stopped,
    /// A new component version became current: plan the rest with it.
    Swapped,
}

fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

impl Source {
    /// How logs and reports name the running version:
    /// `name version (sha256 prefix)`.
    pub fn version_label(&self) -> String {
        format!(
            "{} {} ({})",
            self.info.name,
            self.info.version,
            short(&self.component.digest)
        )
    }
}

/// The checkpoint of a first start: the previous version's timestamp if
/// the store has it, else `first_run_lookback` back. A legacy blob that
/// cannot be read (as opposed to absent) fails the cycle, since starting 24
/// hours back could skip what the previous version had not fetched.
async fn first_checkpoint(
    store: &dyn CheckpointStore,
    source: &Source,
    tenant: &str,
    now_ms: i64,
    options: &CycleOptions,
) -> anyhow::Result<Checkpoint> {
    let default = now_ms - options.first_run_lookback.as_millis() as i64;
    let legacy = match source.legacy_container.as_deref() {
        Some(container) => store
            .legacy_timestamp(container)
            .await?
            .map(|text| (container, text)),
        None => None,
    };
    let start = match legacy {
        Some((container, text)) => match import_legacy_timestamp(&text) {
            Ok(ms) => {
                tracing::info!(source = %source.name, tenant, "first start: resuming from the previous version's checkpoint {container}/{LEGACY_BLOB} in {}", store.location());
                ms
            }
            Err(e) => {
                tracing::warn!(source = %source.name, tenant, "the previous version's checkpoint {container}/{LEGACY_BLOB} is unreadable ({e}); starting 24 hours back");
                default
            }
        },
        None => {
            tracing::info!(source = %source.name, tenant, "first start: no checkpoint, starting {} back", crate::fmt::human_ms(options.first_run_lookback.as_millis() as u64));
            default
        }
    };
    Ok(Checkpoint::starting_at(start))
}
