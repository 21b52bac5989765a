//! `o365-host once`: one cycle of every source, then exit; and
//! `o365-host run`: cycles on each source's schedule until stopped.

use super::deployment::{Deployment, DeploymentArgs, print_report};
use chrono::Utc;

/// Runs one cycle of each source, every source even when one fails;
/// whether all completed.
pub async fn once(args: &DeploymentArgs) -> anyhow::Result<bool> {
    let deployment = Deployment::build(args).await?;
    Ok(cycle_all(&deployment).await)
}

/// One cycle of each source of `deployment`, reported; a source that fails
/// does not keep the others from running. Whether all completed.
pub async fn cycle_all(deployment: &Deployment) -> bool {
    let mut complete = true;
    for scheduled in &deployment.sources {
        match deployment.cycle(&scheduled.source).await {
            Ok(report) => {
                print_report(&report);
                complete &= report.complete || report.skipped_busy;
            }
            Err(e) => {
                tracing::error!(source = %scheduled.source.name, "cycle failed: {e:#}");
                eprintln!("{}: FAILED — {e:#}", scheduled.source.name);
                complete = false;
            }
        }
    }
    complete
}

/// Runs cycles on schedule until Ctrl-C. A failed cycle is reported and the
/// next one retries; the process keeps running.
pub async fn run(args: &DeploymentArgs) -> anyhow::Result<()> {
    let deployment = Deployment::build(args).await?;
    let mut next: Vec<_> = deployment
        .sources
        .iter()
        .map(|s| s.schedule.next_after(Utc::now()))
        .collect();
    loop {
        let Some((index, when)) = next
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|t| (i, t)))
            .min_by_key(|(_, t)| *t)
        else {
            anyhow::bail!("no schedule has a next occurrence");
        };
        let source = &deployment.sources[index];
        tracing::info!(source = %source.source.name, at = %when, "next cycle");
        let wait = (when - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("stopping; everything up to the last checkpoint is kept");
                return Ok(());
            }
        }
        match deployment.cycle(&source.source).await {
            Ok(report) => print_report(&report),
            Err(e) => tracing::error!(source = %source.source.name, "cycle failed: {e:#}"),
        }
        next[index] = source.schedule.next_after(Utc::now());
    }
}
