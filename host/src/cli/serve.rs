//! `o365-host serve`: the Azure Functions custom handler. The Functions host
//! starts it (host.json `customHandler`) and invokes one route per timer
//! function; each invocation runs that source's cycle, as `once` does,
//! stopping before the function timeout (`crate::functions`).

use super::deployment::{Deployment, DeploymentArgs};
use crate::functions::{
    self, Functions, Invocation, InvocationContext, InvocationRequest, InvocationResponse, Invoke,
    PORT_SETTING, TIMER_FUNCTIONS, TimerFunction,
};
use crate::pipeline::{CycleReport, Deadline};
use crate::settings::SettingsSource;
use anyhow::Context as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// Serves the timer functions on `FUNCTIONS_CUSTOMHANDLER_PORT` until the
/// process ends.
pub async fn serve(args: DeploymentArgs) -> anyhow::Result<()> {
    let settings = SettingsSource::from_environment(args.set.iter().cloned().collect());
    let port = functions::listen_port(&settings)?;
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(std::path::Path::to_path_buf));
    let timeout = functions::resolve_timeout(&settings, exe_dir.as_deref())?;
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port} ({PORT_SETTING})"))?;
    tracing::info!(
        port,
        function_timeout = %describe(timeout.limit),
        timeout_from = %timeout.from,
        "custom handler listening"
    );
    // The Functions host waits 60 s for the handler to answer; loading the
    // components may take longer on a cold start, so it happens behind the
    // listener, and invocations wait for it.
    let deployment = Arc::new(LazyDeployment {
        args,
        cell: OnceCell::new(),
        scale: OnceCell::new(),
    });
    tokio::spawn({
        let deployment = deployment.clone();
        async move {
            if let Err(e) = deployment.get().await {
                tracing::error!("the host could not start: {e}");
            }
        }
    });
    let mut served = Functions::new()
        .about("functionTimeout", describe(timeout.limit).into())
        .about("functionTimeoutFrom", timeout.from.clone().into());
    for function in TIMER_FUNCTIONS {
        served = served.route(
            function.name,
            Arc::new(SourceFunction {
                function: *function,
                deployment: deployment.clone(),
                timeout: timeout.limit,
            }),
        );
    }
    // Queue mode (crate::scale): runCycle runs one request per invocation.
    served = served.route(
        super::serve_queue::QUEUE_FUNCTION,
        Arc::new(super::serve_queue::QueueFunction {
            deployment: deployment.clone(),
            timeout: timeout.limit,
        }),
    );
    functions::server::serve(listener, served).await
}

fn describe(limit: Option<Duration>) -> String {
    limit.map_or_else(
        || "none".to_string(),
        |t| crate::fmt::human_ms(t.as_millis() as u64),
    )
}

/// The deployment, built once, on first need.
pub(super) struct LazyDeployment {
    args: DeploymentArgs,
    cell: OnceCell<Result<Deployment, String>>,
    scale: OnceCell<Option<crate::scale::ScaleOut>>,
}

impl LazyDeployment {
    /// The queues when queue mode is on (`O365_CYCLE_QUEUE`), opened once
    /// it succeeds (a storage hiccup at start fails that invocation only).
    pub(super) async fn scale(&self) -> Result<Option<&crate::scale::ScaleOut>, String> {
        let settings = SettingsSource::from_environment(self.args.set.iter().cloned().collect());
        self.scale
            .get_or_try_init(|| async {
                crate::scale::ScaleOut::from_settings(&settings)
                    .await
                    .map_err(|e| format!("{e:#}"))
            })
            .await
            .map(Option::as_ref)
    }

    pub(super) async fn get(&self) -> Result<&Deployment, &str> {
        self.cell
            .get_or_init(|| async {
                let deployment = Deployment::build(&self.args)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                deployment.follow_registry();
                Ok(deployment)
            })
            .await
            .as_ref()
            .map_err(String::as_str)
    }
}

/// One tenant's cycle of a source in an invocation.
pub struct TenantRun {
    /// The tenant.
    pub tenant: String,
    /// The cycle's report, or why it could not run.
    pub result: anyhow::Result<CycleReport>,
}

/// Runs `source` for every tenant of the deployment, side by side (at
/// most `O365_PARALLEL_CYCLES` at once), each cycle stopping at `deadline`;
/// nothing when the deployment does not run that source (`O365_SOURCES`).
pub async fn run_source_invocation(
    deployment: &Deployment,
    source: &str,
    deadline: Option<Deadline>,
) -> Vec<TenantRun> {
    use futures::StreamExt as _;
    // Boxed futures built in a loop rather than closures over the stream:
    // closures would not be `Send` for every lifetime the handler needs.
    let mut runs: Vec<std::pin::Pin<Box<dyn Future<Output = TenantRun> + Send + '_>>> = Vec::new();
    for scheduled in &deployment.sources {
        if scheduled.source.name() == source {
            runs.push(Box::pin(async move {
                TenantRun {
                    tenant: scheduled.tenant.label().to_string(),
                    result: deployment.cycle_until(scheduled, deadline).await,
                }
            }));
        }
    }
    futures::stream::iter(runs)
        .buffer_unordered(deployment.parallel_cycles)
        .collect()
        .await
}

/// A timer function: runs its source's cycle for every tenant.
struct SourceFunction {
    function: TimerFunction,
    deployment: Arc<LazyDeployment>,
    timeout: Option<Duration>,
}

#[async_trait::async_trait]
impl Invoke for SourceFunction {
    async fn invoke(&self, request: InvocationRequest, _context: InvocationContext) -> Invocation {
        let deadline = self
            .timeout
            .map(|timeout| Deadline::before_timeout(Instant::now(), timeout));
        let source = self.function.source;
        let mut logs = Vec::new();
        if request.timer().is_some_and(|t| t.is_past_due) {
            logs.push(format!(
                "{source}: the timer is past due (a scheduled run was missed, for example during a \
                 restart); this run continues from the checkpoint"
            ));
        }
        let deployment = match self.deployment.get().await {
            Ok(deployment) => deployment,
            Err(e) => {
                logs.push(format!("{source}: FAILED: the host could not start: {e}"));
                return finish(self.function, false, logs, Vec::new());
            }
        };
        match self.deployment.scale().await {
            Ok(Some(scale)) => {
                return super::serve_queue::plan_invocation(deployment, scale, source, logs).await;
            }
            Ok(None) => {}
            Err(e) => return super::serve_queue::unavailable(&e, logs),
        }
        let started = Instant::now();
        // An instance the platform froze between invocations polled
        // nothing meanwhile: look at the pointers before the cycles start.
        deployment.refresh_components().await;
        let runs = run_source_invocation(deployment, source, deadline).await;
        let tenants: Vec<String> = deployment
            .sources
            .iter()
            .filter(|scheduled| scheduled.source.name() == source)
            .map(|scheduled| scheduled.tenant.id.clone())
            .collect();
        crate::telemetry::cycle::invocation_finished(
            source,
            &tenants,
            started.elapsed().as_secs_f64(),
        );
        if runs.is_empty() {
            logs.push(format!(
                "{source}: not run, O365_SOURCES does not include it; nothing to do"
            ));
        }
        let mut succeeded = true;
        let mut reports = Vec::new();
        for run in runs {
            match run.result {
                Ok(report) => {
                    succeeded &= report.complete || report.skipped_busy;
                    logs.extend(functions::logs::report_lines(&report));
                    reports.push(serde_json::to_value(&report).unwrap_or_default());
                }
                Err(e) => {
                    succeeded = false;
                    logs.push(format!(
                        "{source} (tenant {}): FAILED: {e:#}; the checkpoint stays where it was",
                        run.tenant
                    ));
                }
            }
        }
        finish(self.function, succeeded, logs, reports)
    }
}

/// The answer: `Logs`, the reports under `Outputs.reports` and a one-line
/// `ReturnValue`. No binding takes either and the Functions host ignores
/// them; they are there for whoever reads the body (Core Tools traces it,
/// tests), and older Functions hosts warned on every invocation without them.
fn finish(
    function: TimerFunction,
    succeeded: bool,
    logs: Vec<String>,
    reports: Vec<serde_json::Value>,
) -> Invocation {
    let mut outputs = serde_json::Map::new();
    outputs.insert("reports".into(), reports.into());
    Invocation {
        succeeded,
        response: InvocationResponse {
            outputs,
            logs,
            return_value: format!(
                "{}: {}",
                function.name,
                if succeeded { "succeeded" } else { "failed" }
            )
            .into(),
        },
    }
}
