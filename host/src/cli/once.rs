//! `o365-host once`: one cycle of every tenant and source, then exit; and
//! `o365-host run`: cycles on each source's schedule until stopped.
//!
//! Cycles of different tenants and sources run side by side, at most
//! `O365_PARALLEL_CYCLES` at once: one tenant that is throttled, slow or
//! failing holds only its own cycle, never the others'.

use super::deployment::{Deployment, DeploymentArgs, ScheduledSource, print_report};
use chrono::Utc;
use futures::StreamExt as _;
use std::sync::Arc;
use tokio::sync::{Semaphore, watch};

/// Runs one cycle of each tenant and source, every one even when another
/// fails; whether all completed.
pub async fn once(args: &DeploymentArgs) -> anyhow::Result<bool> {
    let deployment = Deployment::build(args).await?;
    Ok(cycle_all(&deployment).await)
}

/// One cycle of each tenant and source of `deployment`, reported as each
/// finishes; one that fails does not keep the others from running. Whether
/// all completed.
pub async fn cycle_all(deployment: &Deployment) -> bool {
    cycle_these(deployment, deployment.sources.iter()).await
}

/// One cycle of each of `sources`, at most `parallel_cycles` at once.
pub async fn cycle_these<'a>(
    deployment: &'a Deployment,
    sources: impl Iterator<Item = &'a ScheduledSource>,
) -> bool {
    let results: Vec<bool> = futures::stream::iter(sources)
        .map(|scheduled| async move { report_cycle(deployment, scheduled).await })
        .buffer_unordered(deployment.parallel_cycles)
        .collect()
        .await;
    results.into_iter().all(|complete| complete)
}

/// Runs and reports one cycle; whether it completed (a cycle skipped
/// because another instance holds the lease counts as complete).
async fn report_cycle(deployment: &Deployment, scheduled: &ScheduledSource) -> bool {
    let label = deployment.label(scheduled);
    match deployment.cycle(scheduled).await {
        Ok(report) => {
            print_report(&label, &report);
            report.complete || report.skipped_busy
        }
        Err(e) => {
            tracing::error!(source = %scheduled.source.name(), tenant = %scheduled.tenant.label(), "cycle failed: {e:#}");
            eprintln!("{label}: FAILED — {e:#}");
            false
        }
    }
}

/// Runs cycles on schedule until Ctrl-C: each tenant and source on its own
/// timer, so a long catch-up of one never delays another's cycle. A failed
/// cycle is reported and the next one retries. At Ctrl-C no new cycle
/// starts and running ones finish (their progress is checkpointed); a
/// second Ctrl-C stops at once, keeping everything up to the last
/// checkpoint.
pub async fn run(args: &DeploymentArgs) -> anyhow::Result<()> {
    let deployment = Arc::new(Deployment::build(args).await?);
    let _following = deployment.follow_registry();
    let slots = Arc::new(Semaphore::new(deployment.parallel_cycles));
    let (stop, stopped) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..deployment.sources.len() {
        let deployment = deployment.clone();
        let slots = slots.clone();
        let mut stopped = stopped.clone();
        tasks.spawn(async move {
            let scheduled = &deployment.sources[index];
            while let Some(when) = scheduled.schedule.next_after(Utc::now()) {
                tracing::info!(source = %scheduled.source.name(), tenant = %scheduled.tenant.label(), at = %when, "next cycle");
                let wait = (when - Utc::now()).to_std().unwrap_or_default();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stopped.changed() => return,
                }
                let Ok(_slot) = slots.acquire().await else { return };
                if *stopped.borrow() {
                    return;
                }
                report_cycle(&deployment, scheduled).await;
            }
            tracing::warn!(source = %scheduled.source.name(), "the schedule has no next occurrence");
        });
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { while tasks.join_next().await.is_some() {} } => {
            anyhow::bail!("no schedule has a next occurrence");
        }
    }
    tracing::info!("stopping: running cycles finish and checkpoint; Ctrl-C again to stop at once");
    let _ = stop.send(true);
    tokio::select! {
        _ = async { while tasks.join_next().await.is_some() {} } => {}
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("stopped; everything up to the last checkpoint is kept");
        }
    }
    Ok(())
}
