//! The work queue of one slice: plan, then run items with bounded
//! concurrency, retrying what may succeed later, and publish as results come.

use super::retry::RetryPolicy;
use crate::runtime::{
    CallContext, FetchError, InvokeError, LoadedComponent, PlanRequest, Runtime, StepOutput,
    TimeWindow, WorkItem,
};
use crate::sink::EventSink;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use tokio::task::JoinSet;

/// How a slice is run.
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// Work items running at once.
    pub concurrency: usize,
    /// Retries of throttled and transient failures.
    pub retry: RetryPolicy,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            concurrency: 16,
            retry: RetryPolicy::default(),
        }
    }
}

/// What happened, summed over a run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Summary {
    /// Events published.
    pub events: u64,
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
}

impl Summary {
    fn add_counters(&mut self, counters: &[crate::runtime::Counter]) {
        for c in counters {
            *self.counters.entry(c.name.clone()).or_default() += c.value;
        }
    }
}

/// How a slice ended.
#[derive(Clone, Debug)]
pub struct SliceOutcome {
    /// Every item succeeded (or expired): the slice is fully published.
    pub complete: bool,
    /// The component state `plan` returned, if any.
    pub state: Option<String>,
}

/// Work waiting to run; a key is queued at most once per slice.
#[derive(Default)]
struct Queue {
    items: VecDeque<WorkItem>,
    queued: HashSet<String>,
}

impl Queue {
    fn push(&mut self, item: WorkItem, done_keys: &HashSet<String>, summary: &mut Summary) {
        if done_keys.contains(&item.key) || !self.queued.insert(item.key.clone()) {
            summary.duplicate_items += 1;
            tracing::debug!(key = %item.key, "skipping a work item already done or queued");
        } else {
            self.items.push_back(item);
        }
    }
}

struct Finished {
    item: WorkItem,
    result: Result<StepOutput, InvokeError>,
    retries: u64,
    throttled: u64,
}

/// Plans `window` and runs all its work; events go to `sink` as they come.
/// `done_keys` holds the keys of work already completed (content listed
/// twice is skipped) and gains the keys completed here.
#[allow(clippy::too_many_arguments)]
pub async fn run_slice(
    runtime: &Arc<Runtime>,
    component: &Arc<LoadedComponent>,
    call: &CallContext,
    window: TimeWindow,
    state: Option<String>,
    sink: &mut dyn EventSink,
    options: &PipelineOptions,
    done_keys: &mut HashSet<String>,
    summary: &mut Summary,
) -> anyhow::Result<SliceOutcome> {
    let plan = {
        let mut attempt = 1;
        loop {
            match runtime
                .plan(
                    component,
                    call,
                    PlanRequest {
                        window,
                        state: state.clone(),
                    },
                )
                .await
            {
                Ok(plan) => break plan,
                Err(e) => {
                    note_throttle(&e, summary);
                    match options.retry.delay(attempt, &e) {
                        Some(delay) => {
                            tracing::warn!(component = %component.name, tenant = %call.tenant, "plan will be retried in {delay:?}: {e}");
                            summary.retries += 1;
                            attempt += 1;
                            tokio::time::sleep(delay).await;
                        }
                        None => {
                            summary.failures.push(e.to_string());
                            return Ok(SliceOutcome {
                                complete: false,
                                state: None,
                            });
                        }
                    }
                }
            }
        }
    };
    summary.add_counters(&plan.counters);

    let mut queue = Queue::default();
    for item in plan.items {
        queue.push(item, done_keys, summary);
    }

    let mut complete = true;
    let mut running: JoinSet<Finished> = JoinSet::new();
    loop {
        while running.len() < options.concurrency.max(1) {
            let Some(item) = queue.items.pop_front() else {
                break;
            };
            running.spawn(run_item(
                runtime.clone(),
                component.clone(),
                call.clone(),
                options.retry.clone(),
                item,
            ));
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let finished = joined.map_err(|e| anyhow::anyhow!("a work item task failed: {e}"))?;
        summary.retries += finished.retries;
        summary.throttled += finished.throttled;
        match finished.result {
            Ok(output) => {
                sink.publish(&output.events).await?;
                summary.events += output.events.len() as u64;
                summary.items += 1;
                summary.add_counters(&output.counters);
                for next in output.next {
                    queue.push(next, done_keys, summary);
                }
            }
            Err(InvokeError::Failed {
                error: FetchError::Expired(message),
                ..
            }) => {
                summary.expired += 1;
                tracing::warn!(component = %component.name, tenant = %call.tenant, key = %finished.item.key, "content expired and is skipped: {message}");
            }
            Err(e) => {
                complete = false;
                tracing::error!(component = %component.name, tenant = %call.tenant, key = %finished.item.key, "work item failed: {e}");
                summary.failures.push(e.to_string());
                continue;
            }
        }
        done_keys.insert(finished.item.key);
    }
    Ok(SliceOutcome {
        complete,
        state: plan.state,
    })
}

fn note_throttle(e: &InvokeError, summary: &mut Summary) {
    if matches!(
        e,
        InvokeError::Failed {
            error: FetchError::Throttled(_),
            ..
        }
    ) {
        summary.throttled += 1;
    }
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
                if matches!(
                    e,
                    InvokeError::Failed {
                        error: FetchError::Throttled(_),
                        ..
                    }
                ) {
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
