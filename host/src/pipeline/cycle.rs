//! One cycle for one tenant and source: take the lease, read the checkpoint
//! (or import the seed's), finish a slice left in progress, then fetch every
//! slice up to `now - min-age`, advancing the checkpoint after each one only
//! once the sink acknowledged all its events.

use super::progress::Progress;
use super::runner::{PipelineOptions, SliceStart, Summary, run_slice};
use super::window::{coverage, slices};
use crate::checkpoint::{
    Checkpoint, CheckpointStore, LocalStore, SliceProgress, StoredItem, import_legacy_timestamp,
};
use crate::gate::{Gate, GatePolicy};
use crate::grants::Admission;
use crate::runtime::{
    CallContext, Event, Info, LoadedComponent, Runtime, Setting, TimeWindow, WorkItem,
};
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
    pub save_interval: Duration,
    /// Where a source with no checkpoint at all starts (the seed looked 24
    /// hours back).
    pub first_run_lookback: Duration,
}

impl Default for CycleOptions {
    fn default() -> Self {
        Self {
            pipeline: PipelineOptions::default(),
            save_interval: Duration::from_millis(200),
            first_run_lookback: Duration::from_secs(24 * 3600),
        }
    }
}

/// What a cycle did.
#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CycleReport {
    /// The source.
    pub source: String,
    /// The tenant.
    pub tenant: String,
    /// Another instance held the lease: nothing was done.
    pub skipped_busy: bool,
    /// Everything up to `now - min-age` is published.
    pub complete: bool,
    /// Slices finished in this cycle.
    pub slices_done: usize,
    /// Slices this cycle had to do.
    pub slices_total: usize,
    /// The checkpoint's high-water mark at the end (ms).
    pub high_water_mark: i64,
    /// A span older than the source keeps, which could not be fetched.
    pub unrecoverable: Option<(i64, i64)>,
    /// Counts.
    pub summary: Summary,
    /// Wall time.
    pub seconds: f64,
}

/// Runs one cycle of `source` for `tenant` at `now_ms`.
#[allow(clippy::too_many_arguments)]
pub async fn run_cycle(
    runtime: &Arc<Runtime>,
    source: &Source,
    tenant: &str,
    gate: Arc<Gate>,
    store: &LocalStore,
    sink: &mut dyn EventSink,
    options: &CycleOptions,
    now_ms: i64,
) -> anyhow::Result<CycleReport> {
    let started = Instant::now();
    let mut report = CycleReport {
        source: source.name.clone(),
        tenant: tenant.to_string(),
        ..CycleReport::default()
    };
    let Some(_lease) = store.try_lease(&source.name, tenant)? else {
        tracing::info!(source = %source.name, tenant, "another instance is running this source for this tenant; skipping this cycle");
        report.skipped_busy = true;
        return Ok(report);
    };
    let checkpoint = match store.load(&source.name, tenant)? {
        Some(checkpoint) => checkpoint,
        None => first_checkpoint(store, source, tenant, now_ms, options),
    };
    let call = CallContext {
        tenant: tenant.to_string(),
        now_ms,
        settings: source.settings.clone(),
        gate,
        policy: source.policy(tenant),
    };
    let mut progress = CheckpointProgress {
        store,
        source: &source.name,
        tenant,
        checkpoint,
        now_ms,
        dedup_horizon: source.info.dedup_horizon as i64,
        interval: options.save_interval,
        last_save: Instant::now(),
    };

    // A slice a previous cycle left unfinished comes first.
    if let Some(slice) = progress.checkpoint.slice.clone() {
        tracing::info!(source = %source.name, tenant, outstanding = slice.outstanding.len(), "resuming an unfinished slice");
        let items = slice
            .outstanding
            .iter()
            .cloned()
            .map(WorkItem::from)
            .collect();
        if !run_one(
            runtime,
            source,
            &call,
            slice.window(),
            SliceStart::Resume(items),
            sink,
            options,
            &mut progress,
            &mut report,
        )
        .await?
        {
            return Ok(finish(report, &progress, started));
        }
    }

    let plan = coverage(progress.checkpoint.high_water_mark, now_ms, &source.info);
    if let Some(lost) = plan.unrecoverable {
        telemetry::unrecoverable_span(&source.name, tenant, lost.start, lost.end);
        report.unrecoverable = Some((lost.start, lost.end));
        progress.checkpoint.high_water_mark = lost.end;
    }
    let windows = plan
        .fetch
        .map(|w| slices(w, source.info.max_window))
        .unwrap_or_default();
    report.slices_total += windows.len();
    for window in windows {
        let state = progress.checkpoint.component_state.clone();
        progress.checkpoint.slice = Some(SliceProgress {
            start: window.start,
            end: window.end,
            outstanding: Vec::new(),
        });
        if !run_one(
            runtime,
            source,
            &call,
            window,
            SliceStart::Plan(state),
            sink,
            options,
            &mut progress,
            &mut report,
        )
        .await?
        {
            break;
        }
    }
    // Persist the pruned memory and state even when there was nothing to do.
    if report.slices_total == 0 {
        progress.save(Vec::new()).await?;
    }
    report.complete = progress.checkpoint.slice.is_none() && report.summary.failures.is_empty();
    Ok(finish(report, &progress, started))
}

fn finish(
    mut report: CycleReport,
    progress: &CheckpointProgress<'_>,
    started: Instant,
) -> CycleReport {
    report.high_water_mark = progress.checkpoint.high_water_mark;
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// Runs one slice and moves the checkpoint; whether the cycle may go on.
#[allow(clippy::too_many_arguments)]
async fn run_one(
    runtime: &Arc<Runtime>,
    source: &Source,
    call: &CallContext,
    window: TimeWindow,
    start: SliceStart,
    sink: &mut dyn EventSink,
    options: &CycleOptions,
    progress: &mut CheckpointProgress<'_>,
    report: &mut CycleReport,
) -> anyhow::Result<bool> {
    report.slices_total += usize::from(matches!(start, SliceStart::Resume(_)));
    let outcome = run_slice(
        runtime,
        &source.component,
        call,
        window,
        start,
        sink,
        &options.pipeline,
        progress,
        &mut report.summary,
    )
    .await?;
    if outcome.state.is_some() {
        progress.checkpoint.component_state = outcome.state;
    }
    if outcome.complete {
        progress.checkpoint.high_water_mark = window.end;
        progress.checkpoint.slice = None;
        progress.save(Vec::new()).await?;
        report.slices_done += 1;
        telemetry::checkpoint_advanced(&source.name, &call.tenant, window.end, call.now_ms);
        Ok(true)
    } else {
        if outcome.outstanding.is_empty() {
            // Planning failed: plan the slice again next cycle.
            progress.checkpoint.slice = None;
        }
        progress.save(outcome.outstanding).await?;
        tracing::error!(source = %source.name, tenant = %call.tenant, "slice not finished; the checkpoint stays before it and the next cycle retries it");
        Ok(false)
    }
}

fn first_checkpoint(
    store: &LocalStore,
    source: &Source,
    tenant: &str,
    now_ms: i64,
    options: &CycleOptions,
) -> Checkpoint {
    let default = now_ms - options.first_run_lookback.as_millis() as i64;
    let legacy = source
        .legacy_container
        .as_deref()
        .and_then(|container| Some((container, store.legacy_timestamp(container)?)));
    let start = match legacy {
        Some((container, text)) => match import_legacy_timestamp(&text) {
            Ok(ms) => {
                tracing::info!(source = %source.name, tenant, "first start: resuming from the previous version's checkpoint {container}/last_successfull_fetch_on");
                ms
            }
            Err(e) => {
                tracing::warn!(source = %source.name, tenant, "the previous version's checkpoint {container}/last_successfull_fetch_on is unreadable ({e}); starting 24 hours back");
                default
            }
        },
        None => {
            tracing::info!(source = %source.name, tenant, "first start: no checkpoint, starting {} back", crate::cli::human_ms(options.first_run_lookback.as_millis() as u64));
            default
        }
    };
    Checkpoint::starting_at(start)
}

/// Progress kept in the checkpoint.
struct CheckpointProgress<'a> {
    store: &'a LocalStore,
    source: &'a str,
    tenant: &'a str,
    checkpoint: Checkpoint,
    now_ms: i64,
    dedup_horizon: i64,
    interval: Duration,
    last_save: Instant,
}

#[async_trait::async_trait]
impl Progress for CheckpointProgress<'_> {
    fn is_done(&self, key: &str) -> bool {
        self.checkpoint
            .remembered
            .get(key)
            .is_some_and(|expiry| *expiry > self.now_ms)
    }

    fn planned(&mut self, state: Option<&str>) {
        if let Some(state) = state {
            self.checkpoint.component_state = Some(state.to_string());
        }
    }

    fn completed(&mut self, item: &WorkItem, now_ms: i64) {
        if let Some(ttl) = item.remember_for {
            self.checkpoint
                .remembered
                .insert(item.key.clone(), now_ms.saturating_add(ttl as i64));
        }
    }

    fn fresh_events(&mut self, events: Vec<Event>) -> Vec<Event> {
        if self.dedup_horizon <= 0 {
            return events;
        }
        let expiry = self.now_ms.saturating_add(self.dedup_horizon);
        let recent = &mut self.checkpoint.recent_events;
        events
            .into_iter()
            .filter(|e| match recent.get(&e.id) {
                Some(until) if *until > self.now_ms => false,
                _ => {
                    recent.insert(e.id.clone(), expiry);
                    true
                }
            })
            .collect()
    }

    fn save_due(&self) -> bool {
        self.last_save.elapsed() >= self.interval
    }

    async fn save(&mut self, outstanding: Vec<WorkItem>) -> anyhow::Result<()> {
        if let Some(slice) = self.checkpoint.slice.as_mut() {
            slice.outstanding = outstanding.iter().map(StoredItem::from).collect();
        }
        self.checkpoint.prune(self.now_ms);
        self.checkpoint.updated_at = chrono::Utc::now().timestamp_millis();
        self.store
            .save(self.source, self.tenant, &mut self.checkpoint)?;
        self.last_save = Instant::now();
        Ok(())
    }
}
