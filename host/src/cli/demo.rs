//! `o365-host demo`: the whole pipeline on embedded defaults. It starts the
//! simulator with a tenant holding more than a day of audit content and
//! message traces, runs one cycle of each source from a fresh checkpoint (so
//! the 24-hour audit window split is exercised), shows progress while it
//! catches up and ends with a summary and where the events are.

use super::deployment::{Deployment, DeploymentArgs, print_report};
use crate::settings::SettingsSource;
use o365_simulator::{DEFAULT_TENANT, Simulator, SimulatorConfig, TenantSpec};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Flags of `demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Where the demo keeps its checkpoints and events (emptied first).
    #[arg(long, default_value = "o365-demo")]
    pub dir: PathBuf,
    /// Hours of audit content to catch up on (more than 24 splits the window).
    #[arg(long, default_value_t = 30)]
    pub hours: u64,
    /// Content blobs per hour and content type in the simulated tenant.
    #[arg(long, default_value_t = 12)]
    pub blobs_per_hour: u32,
    /// Events per content blob.
    #[arg(long, default_value_t = 25)]
    pub events_per_blob: u32,
    /// Simulated API latency per request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
}

/// Runs the demo; whether the cycle completed.
pub async fn demo(args: DemoArgs) -> anyhow::Result<bool> {
    let mut tenant = TenantSpec::new(DEFAULT_TENANT, 42);
    tenant.audit_blobs_per_hour = args.blobs_per_hour;
    tenant.audit_events_per_blob = args.events_per_blob;
    tenant.history = Duration::from_secs((args.hours + 2) * 3600);
    let sim = Simulator::start(SimulatorConfig {
        tenants: vec![tenant],
        latency: Duration::from_millis(args.latency_ms),
        ..SimulatorConfig::default()
    })
    .await?;
    eprintln!("simulator of the Microsoft APIs listening on {}", sim.url());

    let state_dir = args.dir.join("state");
    let out_dir = args.dir.join("events");
    for dir in [&state_dir, &out_dir] {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
    }
    let deployment_args = DeploymentArgs::for_simulator(&sim.url(), state_dir, out_dir.clone(), 32);
    // The simulated tenant has no quota: request pacing is off so the demo
    // takes seconds. Against a real tenant it is on (O365_REQUESTS_PER_MINUTE).
    let mut settings = SettingsSource::default();
    settings.set("O365_REQUESTS_PER_MINUTE", "0");
    settings.set("MESSAGE_TRACES_REQUESTS_PER_5_MINUTES", "0");
    let mut deployment = Deployment::build_with(&deployment_args, settings).await?;
    deployment.options.first_run_lookback = Duration::from_secs(args.hours * 3600);

    eprintln!(
        "catching up on {} hours of audit logs and message traces…",
        args.hours
    );
    let started = Instant::now();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let published: f64 = crate::telemetry::snapshot()
                .iter()
                .filter(|(k, _)| k.starts_with("events_published,"))
                .map(|(_, v)| v)
                .sum();
            eprintln!(
                "  {:>6.1}s  {published:>8.0} events published",
                started.elapsed().as_secs_f64()
            );
        }
    });
    let mut reports = Vec::new();
    for scheduled in &deployment.sources {
        match deployment.cycle(scheduled).await {
            Ok(report) => reports.push(report),
            Err(e) => {
                ticker.abort();
                return Err(e);
            }
        }
    }
    ticker.abort();
    let mut complete = true;
    for report in &reports {
        print_report(&report.source, report);
        complete &= report.complete;
    }
    for scheduled in &deployment.sources {
        let file = out_dir.join(format!("{}.jsonl", scheduled.source.name()));
        eprintln!("events:      {}", file.display());
    }
    eprintln!("checkpoints: {}", args.dir.join("state").display());
    eprintln!(
        "next: point it at a real tenant with ENTRA_TENANT_ID, ENTRA_APP_CLIENT_ID and \
         ENTRA_APP_CLIENT_SECRET, then `o365-host once` (README.md, \"Running it\")"
    );
    sim.shutdown().await;
    Ok(complete)
}
