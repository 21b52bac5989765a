//! `o365-host bench pipeline`: end-to-end figures. The simulator runs as a
//! separate process (so its memory and CPU are not counted), and this
//! process runs one cycle against it with the file sink, then reports wall
//! time, events per second, CPU seconds per million events, peak RSS and
//! what checkpointing wrote (saves, bytes per save, bytes per million
//! events). `--latency-ms 50 --blobs ...` measures a latency-bound catch-up
//! instead; `--source message-trace --traces-per-hour 10000 --days 3` a
//! message-trace catch-up.

use super::deployment::{Deployment, DeploymentArgs};
use crate::settings::SettingsSource;
use crate::telemetry::process::{cpu_seconds, peak_rss_mib};
use anyhow::Context as _;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Which source `bench pipeline` runs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchSource {
    /// Audit content: one day of `--events` events.
    Audit,
    /// Message traces: `--days` days at `--traces-per-hour`.
    MessageTrace,
}

/// Flags of `bench pipeline`.
#[derive(clap::Args, Debug)]
pub struct PipelineBenchArgs {
    /// The source to run.
    #[arg(long, value_enum, default_value = "audit")]
    pub source: BenchSource,
    /// Message traces per hour (`--source message-trace`).
    #[arg(long, default_value_t = 10_000)]
    pub traces_per_hour: u32,
    /// Days of message traces to catch up (`--source message-trace`; the
    /// simulator keeps 8).
    #[arg(long, default_value_t = 3)]
    pub days: u32,
    /// Audit events in the day of content to fetch (approximately).
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Events per content blob.
    #[arg(long, default_value_t = 100)]
    pub events_per_blob: u32,
    /// Content types to fetch (fewer types, fewer blobs each... as you like).
    #[arg(
        long,
        default_value = "Audit.AzureActiveDirectory,Audit.Exchange,Audit.SharePoint,Audit.General,DLP.All"
    )]
    pub content_types: String,
    /// Simulated latency per API request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Work items running at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Request budget per minute (O365_REQUESTS_PER_MINUTE); 0 measures
    /// without pacing.
    #[arg(long, default_value_t = 0)]
    pub requests_per_minute: u32,
    /// Instances of a reusable component kept warm between calls
    /// (O365_COMPONENT_IDLE_INSTANCES); 0 measures a fresh instance per call.
    #[arg(long, default_value_t = 32)]
    pub idle_instances: u32,
    /// A `.wasm` to run instead of the embedded component (an A/B
    /// comparison of two builds of a connector).
    #[arg(long)]
    pub component: Option<std::path::PathBuf>,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the end-to-end benchmark.
pub async fn bench_pipeline(args: PipelineBenchArgs) -> anyhow::Result<()> {
    let types = args
        .content_types
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .count()
        .max(1) as u64;
    let blobs_per_hour = (args.events / args.events_per_blob.max(1) as u64 / types / 24).max(1);
    let exe = std::env::current_exe()?;
    let mut sim = tokio::process::Command::new(exe)
        .args(["simulate", "--listen", "127.0.0.1:0"])
        .args(["--blobs-per-hour", &blobs_per_hour.to_string()])
        .args(["--events-per-blob", &args.events_per_blob.to_string()])
        .args(["--traces-per-hour", &args.traces_per_hour.to_string()])
        .args(["--latency-ms", &args.latency_ms.to_string()])
        .env("O365_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the simulator")?;
    let stdout = sim.stdout.take().context("simulator stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next_line()
            .await?
            .context("the simulator exited before listening")?;
        if let Some(url) = line.trim().strip_prefix("url:") {
            break url.trim().to_string();
        }
    };

    let dir = std::env::temp_dir().join(format!("o365-bench-{}", std::process::id()));
    let mut deployment_args = DeploymentArgs::for_simulator(
        &url,
        dir.join("state"),
        dir.join("events"),
        args.concurrency,
    );
    deployment_args.runtime.idle_instances = args.idle_instances;
    let (source, settings, lookback) = match args.source {
        BenchSource::Audit => (
            "audit",
            BTreeMap::from([
                ("O365_EVENT_TYPES".to_string(), args.content_types.clone()),
                (
                    "O365_REQUESTS_PER_MINUTE".to_string(),
                    args.requests_per_minute.to_string(),
                ),
            ]),
            // One day of content: one slice.
            Duration::from_secs(24 * 3600 - 60),
        ),
        BenchSource::MessageTrace => (
            "message-trace",
            BTreeMap::from([(
                "MESSAGE_TRACES_REQUESTS_PER_5_MINUTES".to_string(),
                (u64::from(args.requests_per_minute) * 5).to_string(),
            )]),
            Duration::from_secs(u64::from(args.days.max(1)) * 24 * 3600),
        ),
    };
    deployment_args.sources = vec![source.into()];
    let mut settings = settings;
    if let Some(path) = &args.component {
        let setting = match args.source {
            BenchSource::Audit => "O365_AUDIT_COMPONENT",
            BenchSource::MessageTrace => "O365_MESSAGE_TRACE_COMPONENT",
        };
        settings.insert(setting.to_string(), path.display().to_string());
    }
    let mut deployment =
        Deployment::build_with(&deployment_args, SettingsSource::only(settings)).await?;
    deployment.options.first_run_lookback = lookback;

    let calls_before = deployment.runtime.instance_counts();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let report = deployment.cycle(&deployment.sources[0]).await?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let calls = deployment.runtime.instance_counts();
    let _ = sim.kill().await;
    let _ = std::fs::remove_dir_all(&dir);

    let s = &report.summary;
    let store = deployment.store.figures();
    let per_save = |bytes: u64| bytes as f64 / store.saves.max(1) as f64;
    let requests = s.items
        + s.counters
            .get("subscriptions-started")
            .copied()
            .unwrap_or(0)
        + 1;
    let figures = serde_json::json!({
        "source": source,
        "complete": report.complete,
        "events": s.events,
        "requests": requests,
        "blobs": s.counters.get("blobs"),
        "pages": s.counters.get("pages"),
        "throttled": s.throttled,
        "wallSeconds": wall,
        "eventsPerSecond": s.events as f64 / wall.max(1e-9),
        "cpuSeconds": cpu,
        "cpuSecondsPerMillionEvents": cpu.map(|c| c * 1e6 / (s.events.max(1) as f64)),
        "peakRssMiB": peak_rss_mib(),
        "checkpointSaves": store.saves,
        "checkpointBytesWritten": store.bytes_written,
        "checkpointBytesPerSave": per_save(store.bytes_written),
        "checkpointLargestSave": store.largest_save,
        "checkpointBytesPerMillionEvents": store.bytes_written as f64 * 1e6 / (s.events.max(1) as f64),
        "checkpointBytesRead": store.bytes_read,
        "checkpointCompactions": store.compactions,
        "latencyMs": args.latency_ms,
        "requestsPerMinute": args.requests_per_minute,
        "concurrency": args.concurrency,
        "idleInstances": args.idle_instances,
        "callsOnFreshInstances": calls.fresh - calls_before.fresh,
        "callsOnWarmInstances": calls.warm - calls_before.warm,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        for (k, v) in figures.as_object().into_iter().flatten() {
            println!("{k:<28} {v}");
        }
    }
    Ok(())
}
