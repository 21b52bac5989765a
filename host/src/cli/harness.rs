//! `o365-host harness FILE.wasm --api URL`: run one component over a time
//! range against a simulator or the real API (the same code path), write its
//! events as JSON lines, and optionally record the HTTP exchanges or replay
//! them offline.

use super::args::{NetworkArgs, RuntimeArgs, TokenArgs};
use super::deployment::grant_for;
use crate::gate::{Gate, GatePolicy, NetworkTransport, Recorder, Replayer, Transport};
use crate::grants::{Api, Cloud, apply_cloud_defaults};
use crate::pipeline::{
    MemoryProgress, PipelineOptions, SliceStart, Summary, coverage, run_slice, slices,
};
use crate::runtime::{CallContext, Info, Runtime, SettingKind, TimeWindow};
use crate::settings::{SettingsSource, parse_assignment, parse_duration};
use crate::sink::{EventSink, JsonLinesSink};
use anyhow::{Context as _, bail};
use chrono::{DateTime, TimeZone, Utc};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Flags of `harness`.
#[derive(clap::Args, Debug)]
pub struct HarnessArgs {
    /// The component (`.wasm`).
    pub file: PathBuf,
    /// Base URL of the API: sets every `api-base` setting of the component
    /// (for example a simulator's `http://127.0.0.1:8080`).
    #[arg(long)]
    pub api: Option<String>,
    /// The tenant (directory) id.
    #[arg(long, env = "ENTRA_TENANT_ID")]
    pub tenant: Option<String>,
    /// A component setting, `NAME=VALUE` (repeatable); overrides the environment.
    #[arg(long = "set", value_parser = parse_assignment)]
    pub set: Vec<(String, String)>,
    /// How far back to start (for example 2h, 3d).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub since: Duration,
    /// Start of the range (RFC 3339); overrides --since.
    #[arg(long)]
    pub from: Option<DateTime<Utc>>,
    /// End of the range (RFC 3339); default now minus the component's min-age.
    #[arg(long)]
    pub to: Option<DateTime<Utc>>,
    /// Write events to this file (JSON lines) instead of stdout.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Save every HTTP exchange in this directory.
    #[arg(long, conflicts_with = "replay")]
    pub record: Option<PathBuf>,
    /// Answer every request from a recording instead of the network.
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// Work items running at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub tokens: TokenArgs,
}

/// What a recording remembers about its run, so a replay asks the same.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunRecord {
    tenant: String,
    now_ms: i64,
    from_ms: i64,
    to_ms: Option<i64>,
    settings: BTreeMap<String, String>,
}

const RUN_FILE: &str = "run.json";

/// Runs the harness; whether every item succeeded.
pub async fn harness(args: HarnessArgs) -> anyhow::Result<bool> {
    let started = Instant::now();
    let runtime = Runtime::new(args.runtime.config()?)?;
    let component = Arc::new(runtime.load_file(&args.file).await?);

    let replayed: Option<RunRecord> = match &args.replay {
        Some(dir) => {
            let path = dir.join(RUN_FILE);
            let text = std::fs::read(&path).with_context(|| {
                format!(
                    "{} is not a recording made with --record (no {RUN_FILE})",
                    dir.display()
                )
            })?;
            Some(
                serde_json::from_slice(&text)
                    .with_context(|| format!("reading {}", path.display()))?,
            )
        }
        None => None,
    };

    let source = match &replayed {
        Some(run) => SettingsSource::only(run.settings.clone()),
        None => operator_settings(&args.set, args.api.as_deref(), &component.info)?,
    };
    let cloud = Cloud::from_settings(&source)?;
    let settings = source.for_component(&component.info);
    let info = match runtime.describe(&component, &settings).await? {
        Ok(info) => info,
        Err(e) => bail!("setting {}: {}", e.setting, e.message),
    };
    // What the component asks for must fall inside what the settings grant.
    let admission = grant_for(&info.name, &source)?.admit(&info)?;

    let tenant = match (&replayed, &args.tenant) {
        (Some(run), _) => run.tenant.clone(),
        (None, Some(t)) => t.clone(),
        (None, None) => bail!("no tenant: give --tenant or set ENTRA_TENANT_ID"),
    };
    let now_ms = replayed
        .as_ref()
        .map(|r| r.now_ms)
        .unwrap_or_else(|| Utc::now().timestamp_millis());
    let from_ms = match (&replayed, args.from) {
        (Some(run), _) => run.from_ms,
        (None, Some(from)) => from.timestamp_millis(),
        (None, None) => now_ms - args.since.as_millis() as i64,
    };
    let to_ms = match &replayed {
        Some(run) => run.to_ms,
        None => args.to.map(|t| t.timestamp_millis()),
    };

    let network = args.network.config()?;
    let client = network.client()?;
    let mut transport: Arc<dyn Transport> = match &args.replay {
        Some(dir) => Arc::new(Replayer::load(dir)?),
        None => Arc::new(NetworkTransport::new(
            client.clone(),
            network.max_response_bytes,
        )),
    };
    if let Some(dir) = &args.record {
        transport = Arc::new(Recorder::new(transport, dir)?);
        let run = RunRecord {
            tenant: tenant.clone(),
            now_ms,
            from_ms,
            to_ms,
            settings: settings
                .iter()
                .map(|s| (s.name.clone(), s.value.clone()))
                .collect(),
        };
        std::fs::write(dir.join(RUN_FILE), serde_json::to_vec_pretty(&run)?)?;
    }
    let tokens = args
        .tokens
        .provider(&source, cloud, client, &network.extra_ca_pems)
        .await?;
    let gate = Arc::new(Gate::new(transport, tokens));
    let policy = Arc::new(GatePolicy::admitted(&admission, &tenant));
    let call = CallContext {
        tenant: tenant.clone(),
        now_ms,
        settings,
        gate,
        policy,
    };

    let mut plan = coverage(from_ms, now_ms, &info);
    if let (Some(to), Some(fetch)) = (to_ms, plan.fetch.as_mut()) {
        fetch.end = fetch.end.min(to);
    }
    if let Some(lost) = plan.unrecoverable {
        tracing::error!(
            "{} to {} is older than the source keeps data ({}); it cannot be fetched",
            fmt_ms(lost.start),
            fmt_ms(lost.end),
            super::inspect::human_ms(info.max_lookback)
        );
    }
    let windows = plan
        .fetch
        .filter(|w| w.start < w.end)
        .map(|w| slices(w, info.max_window))
        .unwrap_or_default();

    let mut sink: Box<dyn EventSink> = match &args.out {
        Some(path) => Box::new(JsonLinesSink::append_to(path).await?),
        None => Box::new(JsonLinesSink::stdout()),
    };
    let options = PipelineOptions {
        concurrency: args.concurrency,
        ..PipelineOptions::default()
    };
    let mut summary = Summary::default();
    let mut progress = MemoryProgress::new(info.dedup_horizon > 0);
    let mut state = None;
    let mut complete = true;
    for (i, window) in windows.iter().enumerate() {
        tracing::info!(
            "slice {}/{}: {} to {}",
            i + 1,
            windows.len(),
            fmt_ms(window.start),
            fmt_ms(window.end)
        );
        let outcome = run_slice(
            &runtime,
            &component,
            &call,
            *window,
            SliceStart::Plan(state.clone()),
            sink.as_mut(),
            &options,
            &mut progress,
            &mut summary,
        )
        .await?;
        complete &= outcome.complete;
        if outcome.state.is_some() {
            state = outcome.state;
        }
        tracing::info!("{} events so far", summary.events);
    }
    print_summary(&summary, &windows, started.elapsed(), &sink.describe());
    Ok(complete && summary.failures.is_empty())
}

/// The operator's settings for running `info`'s component by hand: the
/// environment, `--set` on top, the cloud's defaults where nothing is set,
/// and `--api` for every API base the host grants and the component reads
/// (an explicit `--set` still wins).
pub fn operator_settings(
    set: &[(String, String)],
    api: Option<&str>,
    info: &Info,
) -> anyhow::Result<SettingsSource> {
    let mut overrides: BTreeMap<String, String> = set.iter().cloned().collect();
    if let Some(api) = api {
        let bases = Api::ALL.iter().map(|a| a.base_setting().to_string());
        let declared = info
            .settings
            .iter()
            .filter(|doc| doc.kind == SettingKind::ApiBase)
            .map(|doc| doc.name.clone());
        for name in bases.chain(declared) {
            overrides.entry(name).or_insert_with(|| api.to_string());
        }
    }
    let mut source = SettingsSource::from_environment(overrides);
    let cloud = Cloud::from_settings(&source)?;
    apply_cloud_defaults(&mut source, cloud);
    Ok(source)
}

fn fmt_ms(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

fn print_summary(summary: &Summary, windows: &[TimeWindow], elapsed: Duration, output: &str) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    eprintln!("── summary ──");
    eprintln!("slices      {}", windows.len());
    eprintln!(
        "events      {} ({:.0}/s)",
        summary.events,
        summary.events as f64 / secs
    );
    eprintln!(
        "work items  {} done, {} duplicates skipped",
        summary.items, summary.duplicate_items
    );
    for (name, value) in &summary.counters {
        eprintln!("{name:<11} {value}");
    }
    eprintln!("throttled   {}", summary.throttled);
    eprintln!("retries     {}", summary.retries);
    eprintln!("expired     {}", summary.expired);
    eprintln!("duration    {:.2}s", secs);
    eprintln!("output      {output}");
    if !summary.failures.is_empty() {
        eprintln!("failures    {}", summary.failures.len());
        for f in summary.failures.iter().take(10) {
            eprintln!("  - {f}");
        }
    }
}
