//! The work queue of one slice: plan (or resume), then run items with
//! bounded concurrency, retrying what may succeed later, publishing events as
//! results come, and reporting progress so it can be checkpointed.

use super::deadline::Deadline;
use super::progress::Progress;
use super::retry::RetryPolicy;
use crate::runtime::{
    CallContext, FetchError, InvokeError, LoadedComponent, PlanRequest, Runtime, StepOutput,
    TimeWindow, WorkItem,
};
use crate::sink::EventSink;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use tokio::task::JoinSet;
use tracing::Instrument as _;

/// How a slice is run.
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// Work items running at once.
    pub concurrency: usize,
    /// Retries of throttled and transient failures.
    pub retry: RetryPolicy,
    /// When to stop taking work and abandon what runs (a platform timeout);
    /// none: run to the end.
    pub deadline: Option<Deadline>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            concurrency: 16,
            retry: RetryPolicy::default(),
            deadline: None,
        }
    }
}

/// What happened, summed over a run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Summary {
    /// Events published.
    pub events: u64,
    /// Events dropped because their id was already published.
    pub duplicate_events: u64,
    /// Work items completed.
    pub items: u64,
    /// Work items dropped because their key was already done.
    pub duplicate_items: u64,
    /// Throttling answers received.
    pub throttled: u64,
    /// Calls retried.
    pub retries: u64,
    /// Content that had expired before it could be fetched.
    pub expired: u64,
    /// The component's own counters, summed.
    pub counters: BTreeMap<String, u64>,
    /// Items that failed for good, with why.
    pub failures: Vec<String>,
    /// Items set aside after failing too often (see `checkpoint::SetAsideItem`).
    pub set_aside: u64,
    /// Event kinds the component reported as behind the window, by kind.
    pub lagging: BTreeMap<String, Lag>,
}

/// An event kind the component could not bring up to the window's end (a
/// subscription still starting, a permission missing), as it reported with a
/// `lagging:<kind>:<reason>` counter.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Lag {
    /// Why, in the component's words (`subscription-pending`).
    pub reason: String,
    /// How far behind the window's end, in seconds.
    pub seconds: u64,
}

/// The counter prefix by which a component reports a lagging event kind:
/// `lagging:<kind>:<reason>`, valued in seconds behind.
pub const LAGGING_COUNTER: &str = "lagging:";

impl Summary {
    /// Sums a call's counters into the summary; `lagging:` counters are
    /// kept apart (the largest lag per kind), since lags do not add up.
    pub fn add_counters(&mut self, counters: &[crate::runtime::Counter]) {
        for c in counters {
            if let Some(rest) = c.name.strip_prefix(LAGGING_COUNTER) {
                let (kind, reason) = rest.split_once(':').unwrap_or((rest, "behind"));
                let lag = self.lagging.entry(kind.to_string()).or_default();
                if c.value >= lag.seconds {
                    *lag = Lag {
                        reason: reason.to_string(),
                        seconds: c.value,
                    };
                }
            } else {
                *self.counters.entry(c.name.clone()).or_default() += c.value;
            }
        }
    }
}

/// How a slice begins.
pub enum SliceStart {
    /// Plan the window, passing the connector's state.
    Plan(Option<String>),
    /// Continue from work stored in a checkpoint.
    Resume(Vec<WorkItem>),
}

/// How a slice ended.
#[derive(Debug)]
pub struct SliceOutcome {
    /// Every item succeeded (or expired): the slice is fully published.
    pub complete: bool,
    /// The slice was planned (or resumed); false when `plan` failed.
    pub planned: bool,
    /// The component state `plan` returned, if it planned and returned one.
    pub state: Option<String>,
    /// Items that failed for good in this run, with why.
    pub failed: Vec<FailedItem>,
    /// Items whose content had expired: never fetchable, counted as lost.
    pub expired: Vec<FailedItem>,
    /// The deadline stopped the slice: `remaining` were not run (or were
    /// abandoned while running) and published nothing.
    pub cut_short: bool,
    /// Items not run because of the deadline; they stay outstanding.
    pub remaining: Vec<WorkItem>,
}

impl SliceOutcome {
    fn not_planned(cut_short: bool) -> Self {
        Self {
            complete: false,
            planned: false,
            state: None,
            failed: Vec::new(),
            expired: Vec::new(),
            cut_short,
            remaining: Vec::new(),
        }
    }
}

/// A work item that did not succeed, and why.
#[derive(Debug)]
pub struct FailedItem {
    /// The item.
    pub item: WorkItem,
    /// The error, as reported.
    pub error: String,
    /// The failure is the host's or the credentials' (see
    /// `InvokeError::is_systemic`), not the item's.
    pub systemic: bool,
}

struct Finished {
    item: WorkItem,
    result: Result<StepOutput, InvokeError>,
    retries: u64,
    throttled: u64,
}

/// Work waiting to run; a key is queued at most once per slice.
///
/// Planned items run in the order planned; the follow-up items of a step
/// (the next listing page, the blobs it found) run *before* the rest, in the
/// order the step gave them. So a page chain is finished before it can age
/// past the source's retention, and the oldest slice's work is done first.
#[derive(Default)]
struct Queue {
    waiting: VecDeque<WorkItem>,
    seen: HashSet<String>,
    running: HashMap<String, WorkItem>,
    failed: Vec<FailedItem>,
}

impl Queue {
    fn admit(&mut self, item: &WorkItem, progress: &dyn Progress, summary: &mut Summary) -> bool {
        if progress.is_done(&item.key) || !self.seen.insert(item.key.clone()) {
            summary.duplicate_items += 1;
            tracing::debug!(key = %item.key, "skipping a work item already done or queued");
            false
        } else {
            true
        }
    }

    /// Stops tracking the finished item `key` when `progress` remembers it
    /// as done: `admit` skips it from there, so `seen` holds only what is
    /// waiting or running (or not remembered), not every item of a long
    /// catch-up (50,000 content blobs in 5 million events).
    fn forget_if_remembered(&mut self, key: &str, progress: &dyn Progress) {
        if progress.is_done(key) {
            self.seen.remove(key);
        }
    }

    /// Queues planned work behind what is waiting.
    fn push(&mut self, item: WorkItem, progress: &dyn Progress, summary: &mut Summary) {
        if self.admit(&item, progress, summary) {
            self.waiting.push_back(item);
        }
    }

    /// Queues a step's follow-up work ahead of what is waiting, in order.
    fn push_follow_ups(
        &mut self,
        items: Vec<WorkItem>,
        progress: &dyn Progress,
        summary: &mut Summary,
    ) {
        let admitted: Vec<WorkItem> = items
            .into_iter()
            .filter(|item| self.admit(item, progress, summary))
            .collect();
        for item in admitted.into_iter().rev() {
            self.waiting.push_front(item);
        }
    }

    /// Everything not yet published, failed items first.
    fn outstanding(&self) -> Vec<WorkItem> {
        self.failed
            .iter()
            .map(|f| &f.item)
            .chain(self.running.values())
            .chain(self.waiting.iter())
            .cloned()
            .collect()
    }
}

/// Runs a slice; events go to `sink` as they come, progress to `progress`.
#[allow(clippy::too_many_arguments)]
pub async fn run_slice(
    runtime: &Arc<Runtime>,
    component: &Arc<LoadedComponent>,
    call: &CallContext,
    window: TimeWindow,
    start: SliceStart,
    sink: &mut dyn EventSink,
    options: &PipelineOptions,
    progress: &mut dyn Progress,
    summary: &mut Summary,
) -> anyhow::Result<SliceOutcome> {
    let (items, state) = match start {
        SliceStart::Resume(items) => (items, None),
        SliceStart::Plan(state) => {
            if options.deadline.is_some_and(|d| d.stops_new_work()) {
                return Ok(SliceOutcome::not_planned(true));
            }
            match plan_with_retries(runtime, component, call, window, state, options, summary).await
            {
                Ok(plan) => {
                    summary.add_counters(&plan.counters);
                    progress.planned(plan.state.as_deref());
                    (plan.items, plan.state)
                }
                Err(NotPlanned { cut_short }) => {
                    return Ok(SliceOutcome::not_planned(cut_short));
                }
            }
        }
    };
    let mut queue = Queue::default();
    for item in items {
        queue.push(item, progress, summary);
    }
    sink.flush().await?;
    progress.save(queue.outstanding()).await?;

    let mut expired = Vec::new();
    let mut running: JoinSet<Finished> = JoinSet::new();
    let mut cut_short = false;
    loop {
        let stop_new_work = options.deadline.is_some_and(|d| d.stops_new_work());
        while !stop_new_work && running.len() < options.concurrency.max(1) {
            let Some(item) = queue.waiting.pop_front() else {
                break;
            };
            queue.running.insert(item.key.clone(), item.clone());
            running.spawn(
                run_item(
                    runtime.clone(),
                    component.clone(),
                    call.clone(),
                    options.retry.clone(),
                    item,
                )
                .in_current_span(),
            );
        }
        let joined = match options.deadline {
            Some(deadline) => tokio::select! {
                joined = running.join_next() => joined,
                _ = tokio::time::sleep_until(deadline.abandon_running.into()) => {
                    // Dropped items published nothing: they stay outstanding.
                    running.abort_all();
                    cut_short = true;
                    tracing::warn!(component = %component.name, tenant = %call.tenant, abandoned = queue.running.len(), "deadline: abandoning running work items; they stay outstanding");
                    break;
                }
            },
            None => running.join_next().await,
        };
        let Some(joined) = joined else {
            cut_short |= !queue.waiting.is_empty();
            break;
        };
        let finished = joined.map_err(|e| anyhow::anyhow!("a work item task failed: {e}"))?;
        queue.running.remove(&finished.item.key);
        summary.retries += finished.retries;
        summary.throttled += finished.throttled;
        match finished.result {
            Ok(output) => {
                let total = output.events.len();
                let events = progress.fresh_events(output.events);
                summary.duplicate_events += (total - events.len()) as u64;
                sink.publish(&events).await?;
                crate::telemetry::events_published(
                    &component.name,
                    &call.tenant,
                    events.len() as u64,
                );
                summary.events += events.len() as u64;
                summary.items += 1;
                summary.add_counters(&output.counters);
                queue.push_follow_ups(output.next, progress, summary);
                progress.completed(&finished.item, call.now_ms);
                queue.forget_if_remembered(&finished.item.key, progress);
            }
            Err(InvokeError::Failed {
                error: FetchError::Expired(message),
                ..
            }) => {
                summary.expired += 1;
                tracing::warn!(component = %component.name, tenant = %call.tenant, key = %finished.item.key, "content expired and is skipped: {message}");
                progress.completed(&finished.item, call.now_ms);
                queue.forget_if_remembered(&finished.item.key, progress);
                expired.push(FailedItem {
                    item: finished.item,
                    error: message,
                    systemic: false,
                });
            }
            Err(e) => {
                tracing::error!(component = %component.name, tenant = %call.tenant, key = %finished.item.key, "work item failed: {e}");
                summary.failures.push(e.to_string());
                queue.failed.push(FailedItem {
                    item: finished.item,
                    error: e.to_string(),
                    systemic: e.is_systemic(),
                });
            }
        }
        if progress.save_due() {
            // What the checkpoint records as done must be acknowledged first.
            sink.flush().await?;
            progress.save(queue.outstanding()).await?;
        }
    }
    // Abandoned tasks are gone before anything is recorded.
    while running.join_next().await.is_some() {}
    sink.flush().await?;
    let remaining: Vec<WorkItem> = queue.running.into_values().chain(queue.waiting).collect();
    if cut_short {
        tracing::info!(component = %component.name, tenant = %call.tenant, remaining = remaining.len(), "deadline: the slice stops here; what remains stays outstanding");
    }
    Ok(SliceOutcome {
        complete: queue.failed.is_empty() && remaining.is_empty(),
        planned: true,
        state,
        failed: queue.failed,
        expired,
        cut_short,
        remaining,
    })
}

/// Why a slice was not planned.
struct NotPlanned {
    /// The deadline stopped it (not a failure of the component).
    cut_short: bool,
}

async fn plan_with_retries(
    runtime: &Arc<Runtime>,
    component: &Arc<LoadedComponent>,
    call: &CallContext,
    window: TimeWindow,
    state: Option<String>,
    options: &PipelineOptions,
    summary: &mut Summary,
) -> Result<crate::runtime::PlanOutput, NotPlanned> {
    let mut attempt = 1;
    loop {
        let request = PlanRequest {
            window,
            state: state.clone(),
        };
        let planned = match options.deadline {
            Some(deadline) => {
                let until = deadline.abandon_running.into();
                match tokio::time::timeout_at(until, runtime.plan(component, call, request)).await {
                    Ok(planned) => planned,
                    Err(_) => return Err(NotPlanned { cut_short: true }),
                }
            }
            None => runtime.plan(component, call, request).await,
        };
        match planned {
            Ok(plan) => return Ok(plan),
            Err(e) => {
                if is_throttle(&e) {
                    summary.throttled += 1;
                }
                let delay = options.retry.delay(attempt, &e);
                // A retry that would start past the deadline is not made.
                let too_late = delay
                    .zip(options.deadline)
                    .is_some_and(|(delay, deadline)| {
                        std::time::Instant::now() + delay >= deadline.stop_new_work
                    });
                if too_late {
                    tracing::warn!(component = %component.name, tenant = %call.tenant, "planning failed and the deadline leaves no time to retry: {e}");
                    summary
                        .failures
                        .push(format!("{e} (not retried: the deadline leaves no time)"));
                    return Err(NotPlanned { cut_short: true });
                }
                match delay {
                    Some(delay) => {
                        tracing::warn!(component = %component.name, tenant = %call.tenant, "plan will be retried in {delay:?}: {e}");
                        summary.retries += 1;
                        attempt += 1;
                        tokio::time::sleep(delay).await;
                    }
                    None => {
                        tracing::error!(component = %component.name, tenant = %call.tenant, "planning failed: {e}");
                        summary.failures.push(e.to_string());
                        return Err(NotPlanned { cut_short: false });
                    }
                }
            }
        }
    }
}

fn is_throttle(e: &InvokeError) -> bool {
    matches!(
        e,
        InvokeError::Failed {
            error: FetchError::Throttled(_),
            ..
        }
    )
}

async fn run_item(
    runtime: Arc<Runtime>,
    component: Arc<LoadedComponent>,
    call: CallContext,
    retry: RetryPolicy,
    item: WorkItem,
) -> Finished {
    let mut attempt = 1;
    let mut retries = 0;
    let mut throttled = 0;
    loop {
        let result = runtime.step(&component, &call, item.clone()).await;
        let delay = match &result {
            Ok(_) => None,
            Err(e) => {
                if is_throttle(e) {
                    throttled += 1;
                }
                retry.delay(attempt, e)
            }
        };
        match (delay, result) {
            (Some(delay), Err(e)) => {
                tracing::warn!(component = %component.name, tenant = %call.tenant, key = %item.key, attempt, "retrying in {delay:?}: {e}");
                retries += 1;
                attempt += 1;
                tokio::time::sleep(delay).await;
            }
            (_, result) => {
                return Finished {
                    item,
                    result,
                    retries,
                    throttled,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::MemoryProgress;

    fn item(key: &str) -> WorkItem {
        WorkItem {
            kind: "k".into(),
            key: key.into(),
            payload: String::new(),
            remember_for: None,
        }
    }

    fn keys(queue: &Queue) -> Vec<&str> {
        queue.waiting.iter().map(|i| i.key.as_str()).collect()
    }

    #[test]
    fn follow_ups_run_before_planned_work_in_the_order_given() {
        let progress = MemoryProgress::new(false);
        let mut summary = Summary::default();
        let mut queue = Queue::default();
        for key in ["list-a", "list-b"] {
            queue.push(item(key), &progress, &mut summary);
        }
        queue.waiting.pop_front();
        let next = vec![item("list-a-page-2"), item("blob-1"), item("blob-2")];
        queue.push_follow_ups(next, &progress, &mut summary);
        assert_eq!(
            keys(&queue),
            ["list-a-page-2", "blob-1", "blob-2", "list-b"]
        );
        // A key already queued is not queued again.
        queue.push_follow_ups(vec![item("blob-1")], &progress, &mut summary);
        assert_eq!(summary.duplicate_items, 1);
        assert_eq!(queue.waiting.len(), 4);
    }

    #[test]
    fn a_finished_remembered_item_leaves_the_seen_set_and_is_still_skipped() {
        let mut progress = MemoryProgress::new(false);
        let mut summary = Summary::default();
        let mut queue = Queue::default();
        queue.push(item("blob-1"), &progress, &mut summary);
        let running = queue.waiting.pop_front().unwrap();
        // Not finished yet: only the seen-set keeps it from running twice.
        queue.forget_if_remembered(&running.key, &progress);
        queue.push_follow_ups(vec![item("blob-1")], &progress, &mut summary);
        assert_eq!((queue.waiting.len(), summary.duplicate_items), (0, 1));

        progress.completed(&running, 0);
        queue.forget_if_remembered(&running.key, &progress);
        assert!(
            queue.seen.is_empty(),
            "a long catch-up must not keep every key"
        );
        queue.push_follow_ups(vec![item("blob-1")], &progress, &mut summary);
        assert_eq!((queue.waiting.len(), summary.duplicate_items), (0, 2));
    }

    #[test]
    fn lagging_counters_keep_the_largest_lag_per_kind_instead_of_adding_up() {
        use crate::runtime::Counter;
        let mut summary = Summary::default();
        let counter = |name: &str, value| Counter {
            name: name.into(),
            value,
        };
        summary.add_counters(&[
            counter("pages", 2),
            counter("lagging:DLP.All:subscription-pending", 600),
        ]);
        summary.add_counters(&[
            counter("pages", 3),
            counter("lagging:DLP.All:subscription-pending", 900),
        ]);
        assert_eq!(summary.counters["pages"], 5);
        assert!(
            !summary
                .counters
                .contains_key("lagging:DLP.All:subscription-pending")
        );
        assert_eq!(
            summary.lagging["DLP.All"],
            Lag {
                reason: "subscription-pending".into(),
                seconds: 900
            }
        );
    }
}
