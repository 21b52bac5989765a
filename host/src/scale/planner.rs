//! Planning: one cycle request per due tenant and source, never a second
//! while one is pending or running (`marker`). The timer invocation plans
//! when queue mode is on; `o365-host plan` and `o365-host worker --plan`
//! do the same outside Functions. Several planners at once are safe: the
//! marker is claimed conditionally, so each tenant and source is enqueued
//! by exactly one of them.

use super::ScaleOut;
use super::marker::Claim;
use super::message::CycleRequest;
use crate::cli::Deployment;
use crate::cli::ScheduledSource;
use futures::StreamExt as _;

/// Requests claimed and sent at once.
const PLAN_CONCURRENCY: usize = 16;

/// What one planning pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanReport {
    /// Requests enqueued (tenant label and source).
    pub enqueued: Vec<String>,
    /// Tenant-and-sources skipped: a request is pending or running.
    pub pending: usize,
    /// Tenant-and-sources skipped: poisoned recently, held back.
    pub held: usize,
    /// Tenant-and-sources that could not be planned, with why.
    pub failed: Vec<String>,
}

impl PlanReport {
    /// One line for logs.
    pub fn line(&self) -> String {
        format!(
            "planned {} cycle request(s); {} still pending or running, {} poisoned and held back, {} not planned",
            self.enqueued.len(),
            self.pending,
            self.held,
            self.failed.len()
        )
    }
}

/// Enqueues a request for every tenant of `source` (every source when
/// `None`) that has none pending.
pub async fn plan(deployment: &Deployment, scale: &ScaleOut, source: Option<&str>) -> PlanReport {
    let due = deployment
        .sources
        .iter()
        .filter(|s| source.is_none_or(|name| s.source.name() == name));
    plan_these(scale, due).await
}

/// Enqueues a request for each of `due` that has none pending.
pub async fn plan_these<'a>(
    scale: &ScaleOut,
    due: impl IntoIterator<Item = &'a ScheduledSource>,
) -> PlanReport {
    let now = chrono::Utc::now();
    let planned = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let due: Vec<&ScheduledSource> = due.into_iter().collect();
    // Boxed futures built in a loop rather than a closure over the stream:
    // a closure would not be `Send` for every lifetime a handler needs.
    type Planned<'f> =
        std::pin::Pin<Box<dyn Future<Output = (String, anyhow::Result<Claim>)> + Send + 'f>>;
    let mut plans: Vec<Planned<'_>> = Vec::new();
    for scheduled in due {
        let request = CycleRequest {
            tenant: scheduled.tenant.id.clone(),
            key: scheduled.tenant.key.clone(),
            source: scheduled.source.name().to_string(),
            planned: planned.clone(),
        };
        plans.push(Box::pin(async move {
            let outcome = plan_one(scale, &request, now.timestamp_millis()).await;
            (request.label(), outcome)
        }));
    }
    let outcomes: Vec<(String, anyhow::Result<Claim>)> = futures::stream::iter(plans)
        .buffer_unordered(PLAN_CONCURRENCY)
        .collect()
        .await;
    let mut report = PlanReport::default();
    for (label, outcome) in outcomes {
        match outcome {
            Ok(Claim::Claimed) => report.enqueued.push(label),
            Ok(Claim::Pending(_)) => report.pending += 1,
            Ok(Claim::Poisoned(_)) => report.held += 1,
            Err(e) => {
                tracing::error!("{label}: not planned: {e:#}");
                report.failed.push(format!("{label}: {e:#}"));
            }
        }
    }
    report.enqueued.sort();
    report
}

async fn plan_one(scale: &ScaleOut, request: &CycleRequest, now_ms: i64) -> anyhow::Result<Claim> {
    let claim = scale
        .markers
        .claim(&request.source, &request.tenant, now_ms)
        .await?;
    if claim == Claim::Claimed
        && let Err(e) = scale.queue.send(request).await
    {
        // Without its request the marker would hold the tenant back until
        // it expires: release it, so the next plan tries again.
        if let Err(release) = scale
            .markers
            .release(&request.source, &request.tenant)
            .await
        {
            tracing::warn!(
                "{}: releasing the pending marker: {release:#}",
                request.label()
            );
        }
        return Err(e);
    }
    Ok(claim)
}
