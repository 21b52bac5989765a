//! `o365-host worker`: a plain queue consumer, so a container deployment
//! (Container Apps, Kubernetes with KEDA on queue length) scales the same
//! way as the Functions queue trigger. It receives up to
//! `O365_PARALLEL_CYCLES` requests at a time, each invisible to other
//! consumers for `O365_CYCLE_VISIBILITY`, extends that every third of it
//! while the cycle runs, and deletes the message when the request is done,
//! continued or poisoned (`consumer`). With `--plan` it also plans on each
//! source's schedule (any number of workers may: the marker dedupes).

use super::ScaleOut;
use super::consumer::{Outcome, run_request};
use super::planner::plan_these;
use super::queue::Received;
use crate::cli::Deployment;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore, watch};

/// The shortest and longest wait between receives of an empty queue.
const IDLE_MIN: Duration = Duration::from_millis(200);
const IDLE_MAX: Duration = Duration::from_secs(2);

/// How a worker runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct WorkerOptions {
    /// Also plan on each source's schedule (and once at start).
    pub plan: bool,
    /// Exit once the queue is empty and no cycle runs (a catch-up, a
    /// benchmark) instead of waiting for more.
    pub exit_when_idle: bool,
}

/// What a worker did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Requests done (including those another instance was running).
    pub done: u64,
    /// Requests continued by a fresh one.
    pub continued: u64,
    /// Attempts that failed and were left for a retry.
    pub retried: u64,
    /// Requests poisoned.
    pub poisoned: u64,
}

/// Consumes requests until `stop` turns true (then running cycles finish
/// and settle their messages) or, with `exit_when_idle`, the queue is empty.
pub async fn run(
    deployment: Arc<Deployment>,
    scale: Arc<ScaleOut>,
    options: WorkerOptions,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<WorkerStats> {
    let slots = Arc::new(Semaphore::new(deployment.parallel_cycles));
    let stats = Arc::new(std::sync::Mutex::new(WorkerStats::default()));
    let mut tasks = tokio::task::JoinSet::new();
    if options.plan {
        let (deployment, scale, stop) = (deployment.clone(), scale.clone(), stop.clone());
        tasks.spawn(async move { plan_on_schedules(deployment, scale, stop).await });
    }
    let mut idle = IDLE_MIN;
    tracing::info!(
        queue = scale.queue.name(),
        parallel = deployment.parallel_cycles,
        visibility_s = scale.settings.visibility.as_secs(),
        "worker consuming cycle requests"
    );
    loop {
        if *stop.borrow() {
            break;
        }
        let Ok(first) = slots.clone().acquire_owned().await else {
            break;
        };
        let mut permits = vec![first];
        while let Ok(more) = slots.clone().try_acquire_owned() {
            permits.push(more);
        }
        let received = match scale
            .queue
            .receive(permits.len() as u32, scale.settings.visibility)
            .await
        {
            Ok(received) => received,
            Err(e) => {
                tracing::error!("{e:#}; receiving again in 5s");
                drop(permits);
                wait_or_stop(&mut stop, Duration::from_secs(5)).await;
                continue;
            }
        };
        if received.is_empty() {
            drop(permits);
            if options.exit_when_idle && slots.available_permits() == deployment.parallel_cycles {
                match scale.queue.length().await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => tracing::warn!("{e:#}"),
                }
            }
            wait_or_stop(&mut stop, idle).await;
            idle = (idle * 2).min(IDLE_MAX);
            continue;
        }
        idle = IDLE_MIN;
        for message in received {
            let Some(permit) = permits.pop() else { break };
            let (deployment, scale, stats) = (deployment.clone(), scale.clone(), stats.clone());
            tasks.spawn(async move {
                let outcome = handle(&deployment, &scale, message).await;
                let mut stats = stats.lock().unwrap_or_else(|e| e.into_inner());
                match outcome {
                    Outcome::Done => stats.done += 1,
                    Outcome::Continued => stats.continued += 1,
                    Outcome::Retry { .. } => stats.retried += 1,
                    Outcome::Poisoned(_) => stats.poisoned += 1,
                }
                drop(permit);
            });
        }
        // Reap finished tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
    }
    tracing::info!("worker stopping: running cycles finish and settle their requests");
    // The planner ends with `stop`; with `exit_when_idle` it is not waited for.
    if options.exit_when_idle {
        tasks.abort_all();
    }
    while tasks.join_next().await.is_some() {}
    let stats = *stats.lock().unwrap_or_else(|e| e.into_inner());
    Ok(stats)
}

/// Runs one message's request with its visibility kept up, then deletes
/// the message or sets when it reappears.
async fn handle(deployment: &Deployment, scale: &Arc<ScaleOut>, message: Received) -> Outcome {
    let attempts = message.dequeue_count;
    let request = message.request.clone();
    let message = Arc::new(Mutex::new(message));
    let visibility = scale.settings.visibility;
    let keepalive = tokio::spawn({
        let (scale, message) = (scale.clone(), message.clone());
        async move {
            loop {
                tokio::time::sleep(visibility / 3).await;
                let mut message = message.lock().await;
                if let Err(e) = scale.queue.extend(&mut message, visibility).await {
                    // Another consumer may run it too when it reappears: a
                    // repeat, which the lease makes harmless.
                    tracing::warn!("keeping a request invisible: {e:#}");
                }
            }
        }
    });
    let handled = run_request(deployment, scale, request, attempts, None).await;
    keepalive.abort();
    let _ = keepalive.await;
    for line in &handled.lines {
        match handled.outcome {
            Outcome::Done | Outcome::Continued => tracing::info!("{line}"),
            Outcome::Retry { .. } => tracing::warn!("{line}"),
            Outcome::Poisoned(_) => {} // logged at error level when poisoned
        }
    }
    let mut message = message.lock().await;
    let settled = if handled.outcome.delete_message() {
        scale.queue.delete(&message).await
    } else {
        let delay = scale.settings.retry_delay(attempts);
        scale.queue.extend(&mut message, delay).await
    };
    if let Err(e) = settled {
        tracing::warn!(
            "settling a request: {e:#}; it reappears after its visibility timeout and repeats"
        );
    }
    handled.outcome
}

/// Plans every tenant and source at start, then each on its schedule.
async fn plan_on_schedules(
    deployment: Arc<Deployment>,
    scale: Arc<ScaleOut>,
    mut stop: watch::Receiver<bool>,
) {
    let now = Utc::now();
    let mut next: Vec<Option<DateTime<Utc>>> = vec![Some(now); deployment.sources.len()];
    loop {
        let Some(when) = next.iter().flatten().min().copied() else {
            tracing::warn!("no schedule has a next occurrence; the worker plans no more");
            return;
        };
        let wait = (when - Utc::now()).to_std().unwrap_or_default();
        if wait_or_stop(&mut stop, wait).await {
            return;
        }
        let now = Utc::now();
        let due: Vec<usize> = (0..next.len())
            .filter(|&i| next[i].is_some_and(|t| t <= now))
            .collect();
        let report = plan_these(&scale, due.iter().map(|&i| &deployment.sources[i])).await;
        tracing::info!("{}", report.line());
        for i in due {
            next[i] = deployment.sources[i].schedule.next_after(now);
        }
    }
}

/// Waits `wait`, or until `stop` turns true (then true).
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(wait) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}
