//! `o365-bench normalize`: the connectors' normalization inside wasm against
//! the very same code compiled natively, on the same records.
//!
//! The records come from the simulator: the benchmark runs the real
//! components once against it (plan, listings, pages), keeping every body
//! the gate served. Then, from memory and with no network:
//! - **wasm**: the component's `step` for each content blob (audit) or page
//!   (message traces) through the host's runtime and gate, exactly as a
//!   cycle runs it: instantiation, the body crossing into the guest over
//!   `wasi:http`, parsing, normalizing, and the events lifted back;
//! - **native**: the same `step` code linked into this binary, answering its
//!   one request from memory.
//!
//! It checks that both produce the same events, and prints microseconds per
//! event each way and their ratio. A separate binary because the host never
//! links connector code natively.

mod capture;

use anyhow::{Context as _, bail};
use capture::CapturingTransport;
use clap::Parser;
use o365_host::gate::{Gate, GatePolicy, NetworkConfig, NetworkTransport};
use o365_host::grants::Admission;
use o365_host::runtime::{
    CallContext, LoadedComponent, PlanRequest, Runtime, RuntimeConfig, Setting, SettingKind,
    TimeWindow, WorkItem,
};
use o365_host::settings::SettingsSource;
use o365_host::telemetry::process;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Benchmarks of connector code.
#[derive(Parser, Debug)]
#[command(name = "o365-bench")]
enum Command {
    /// Normalization inside wasm against the same code compiled natively.
    Normalize(NormalizeArgs),
}

#[derive(clap::Args, Debug)]
struct NormalizeArgs {
    /// Audit records to normalize (about: whole blobs over five content
    /// types and a day).
    #[arg(long, default_value_t = 24_000)]
    audit_events: u32,
    /// Audit records per content blob.
    #[arg(long, default_value_t = 100)]
    events_per_blob: u32,
    /// Message trace rows to normalize.
    #[arg(long, default_value_t = 20_000)]
    traces: u32,
    /// Times each side runs over all the records; the best run counts.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Time only one side and skip the check that both agree: for
    /// `perf record`, so the profile holds nothing but that side's work.
    #[arg(long, value_enum)]
    only: Option<Side>,
}

/// One side of the comparison.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Wasm,
    Native,
}

/// One side's result.
struct Timing {
    events: usize,
    /// The fastest round, wall clock.
    best: Duration,
    /// CPU seconds of the whole process (every thread) over all rounds,
    /// and the events they produced: what a plan bills.
    cpu_seconds: f64,
    events_all_rounds: usize,
}

impl Timing {
    fn untimed() -> Self {
        Timing {
            events: 0,
            best: Duration::MAX,
            cpu_seconds: f64::NAN,
            events_all_rounds: 0,
        }
    }

    /// Wall-clock microseconds per event in the fastest round; not a number
    /// for a side that was not timed (`--only`).
    fn micros_per_event(&self) -> f64 {
        if self.best == Duration::MAX {
            return f64::NAN;
        }
        self.best.as_secs_f64() * 1e6 / self.events.max(1) as f64
    }

    /// CPU microseconds per event over all rounds.
    fn cpu_micros_per_event(&self) -> f64 {
        self.cpu_seconds * 1e6 / self.events_all_rounds.max(1) as f64
    }
}

/// Runs `round` `rounds` times; the fastest round and the CPU of them all.
async fn timed<F, Fut>(rounds: u32, mut round: F) -> anyhow::Result<Timing>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<usize>>,
{
    if rounds == 0 {
        return Ok(Timing::untimed());
    }
    let mut timing = Timing::untimed();
    let cpu_before = process::cpu_seconds();
    for _ in 0..rounds {
        let started = Instant::now();
        timing.events = round().await?;
        timing.best = timing.best.min(started.elapsed());
        timing.events_all_rounds += timing.events;
    }
    timing.cpu_seconds = match (cpu_before, process::cpu_seconds()) {
        (Some(before), Some(after)) => after - before,
        _ => f64::NAN,
    };
    Ok(timing)
}

/// One connector's work, captured: the items and the body each one read.
struct Workload {
    name: &'static str,
    component: Arc<LoadedComponent>,
    admission: Admission,
    settings: Vec<Setting>,
    /// Each item, the URL its step requested and the body it read.
    items: Vec<(WorkItem, String, bytes::Bytes)>,
    native: fn(
        &connector_sdk::Context,
        &connector_sdk::WorkItem,
        &[u8],
    ) -> Result<connector_sdk::StepOutput, connector_sdk::FetchError>,
}

fn main() -> anyhow::Result<()> {
    let Command::Normalize(args) = Command::parse();
    tokio::runtime::Runtime::new()?.block_on(normalize(args))
}

async fn normalize(args: NormalizeArgs) -> anyhow::Result<()> {
    let hours = 24u32;
    let mut tenant = o365_simulator::TenantSpec::new(o365_simulator::DEFAULT_TENANT, 3);
    // Blobs spread over the five content types and a day.
    tenant.audit_blobs_per_hour =
        (args.audit_events / args.events_per_blob.max(1) / 5 / hours).max(1);
    tenant.audit_events_per_blob = args.events_per_blob;
    tenant.traces_per_hour = (args.traces / hours).max(1);
    let sim = o365_simulator::Simulator::start(o365_simulator::SimulatorConfig {
        tenants: vec![tenant],
        ..o365_simulator::SimulatorConfig::default()
    })
    .await?;
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let capture = Arc::new(CapturingTransport::new(NetworkTransport::new(
        NetworkConfig::default().client()?,
        64 * 1024 * 1024,
    )));
    let gate = simulator_gate(&sim.url(), capture.clone())?;
    let now = chrono::Utc::now().timestamp_millis() / 1000 * 1000;
    let window = TimeWindow {
        start: now - i64::from(hours) * 3_600_000,
        end: now - 20 * 60_000,
    };

    let audit = capture_workload(
        &runtime,
        &gate,
        &capture,
        "audit",
        connector_artifacts::AUDIT_WASM,
        &sim.url(),
        window,
        now,
        "content-blob",
        audit::step_natively,
    )
    .await?;
    let traces = capture_workload(
        &runtime,
        &gate,
        &capture,
        "message-trace (Graph)",
        connector_artifacts::MESSAGE_TRACE_GRAPH_WASM,
        &sim.url(),
        window,
        now,
        "page",
        message_trace_graph::step_natively,
    )
    .await?;

    let mut rows = Vec::new();
    for workload in [&audit, &traces] {
        let replay = replay_gate(workload);
        if args.only.is_none() {
            same_events_both_ways(&runtime, &replay, workload, now).await?;
        }
        let rounds = |side| {
            if args.only == Some(side) || args.only.is_none() {
                args.rounds
            } else {
                0
            }
        };
        let wasm = time_wasm(&runtime, &replay, workload, now, rounds(Side::Wasm)).await?;
        let native = time_native(workload, now, rounds(Side::Native)).await?;
        if args.only.is_none() && wasm.events != native.events {
            bail!(
                "{}: wasm produced {} events, native {}",
                workload.name,
                wasm.events,
                native.events
            );
        }
        rows.push((workload.name, wasm, native));
    }
    report(&rows, args.json);
    Ok(())
}

fn simulator_gate(api: &str, transport: Arc<CapturingTransport>) -> anyhow::Result<Arc<Gate>> {
    let client = NetworkConfig::default().client()?;
    let mut options = o365_host::tokens::ClientCredentialsOptions::with_secret(
        o365_simulator::DEFAULT_CLIENT_ID,
        o365_host::tokens::Secret::new(o365_simulator::DEFAULT_CLIENT_SECRET),
    );
    options.authority = api.to_string();
    Ok(Arc::new(Gate::new(
        transport,
        Arc::new(o365_host::tokens::ClientCredentials::new(options, client)),
    )))
}

/// A gate that answers from the captured bodies, with no network and no
/// tokens: what the wasm side is timed with.
fn replay_gate(workload: &Workload) -> Arc<Gate> {
    let bodies = workload
        .items
        .iter()
        .map(|(_, url, body)| (url.clone(), body.clone()))
        .collect();
    Arc::new(Gate::new(
        Arc::new(capture::Canned::new(bodies)),
        Arc::new(o365_host::tokens::StaticToken::new("bench")),
    ))
}

fn call(admission: &Admission, settings: &[Setting], gate: &Arc<Gate>, now: i64) -> CallContext {
    CallContext {
        tenant: o365_simulator::DEFAULT_TENANT.to_string(),
        now_ms: now,
        settings: settings.to_vec(),
        gate: gate.clone(),
        policy: Arc::new(GatePolicy::admitted(
            admission,
            o365_simulator::DEFAULT_TENANT,
        )),
    }
}

/// Runs a component over `window` against the simulator and keeps every
/// item of `kind` with the body its step read.
#[allow(clippy::too_many_arguments)]
async fn capture_workload(
    runtime: &Arc<Runtime>,
    gate: &Arc<Gate>,
    capture: &CapturingTransport,
    name: &'static str,
    wasm: &[u8],
    api: &str,
    window: TimeWindow,
    now: i64,
    kind: &str,
    native: fn(
        &connector_sdk::Context,
        &connector_sdk::WorkItem,
        &[u8],
    ) -> Result<connector_sdk::StepOutput, connector_sdk::FetchError>,
) -> anyhow::Result<Workload> {
    let mut component = runtime.load(name, wasm).await?;
    let docs = runtime
        .describe(&component, &[])
        .await?
        .map_err(|e| anyhow::anyhow!("{}: {}", e.setting, e.message))?;
    let settings: Vec<Setting> = docs
        .settings
        .iter()
        .filter(|d| d.kind == SettingKind::ApiBase)
        .map(|d| Setting {
            name: d.name.clone(),
            value: api.to_string(),
        })
        .chain([
            setting("O365_REQUESTS_PER_MINUTE", "0"),
            setting("MESSAGE_TRACES_REQUESTS_PER_5_MINUTES", "0"),
        ])
        .filter(|s| docs.settings.iter().any(|d| d.name == s.name))
        .collect();
    component.info = runtime
        .describe(&component, &settings)
        .await?
        .map_err(|e| anyhow::anyhow!("{}: {}", e.setting, e.message))?;
    let values = settings
        .iter()
        .map(|s| (s.name.clone(), s.value.clone()))
        .collect();
    let source = if name.starts_with("audit") {
        "audit"
    } else {
        "message-trace"
    };
    let grant = o365_host::cli::grant_for(source, &SettingsSource::only(values))?;
    let admission = grant.admit(&component.info)?;
    let component = Arc::new(component);
    let call = call(&admission, &settings, gate, now);
    let plan = runtime
        .plan(
            &component,
            &call,
            PlanRequest {
                window,
                state: None,
            },
        )
        .await?;
    let mut queue = plan.items;
    let mut items = Vec::new();
    while let Some(item) = queue.pop() {
        capture.take_last();
        let output = runtime
            .step(&component, &call, item.clone())
            .await
            .with_context(|| format!("{name}: capturing {}", item.key))?;
        if item.kind == kind {
            let (url, body) = capture
                .take_last()
                .context("the step made no request to capture")?;
            items.push((item, url, body));
        }
        queue.extend(output.next);
    }
    if items.is_empty() {
        bail!("{name}: the simulator served no {kind} to measure");
    }
    Ok(Workload {
        name,
        component,
        admission,
        settings,
        items,
        native,
    })
}

fn setting(name: &str, value: &str) -> Setting {
    Setting {
        name: name.into(),
        value: value.into(),
    }
}

async fn time_wasm(
    runtime: &Arc<Runtime>,
    gate: &Arc<Gate>,
    workload: &Workload,
    now: i64,
    rounds: u32,
) -> anyhow::Result<Timing> {
    let call = call(&workload.admission, &workload.settings, gate, now);
    let call = &call;
    timed(rounds, || async move {
        let mut events = 0;
        for (item, _, _) in &workload.items {
            let output = runtime
                .step(&workload.component, call, item.clone())
                .await?;
            events += output.events.len();
        }
        Ok(events)
    })
    .await
}

/// Checks, outside the timing, that both ways produce the same events.
async fn same_events_both_ways(
    runtime: &Arc<Runtime>,
    gate: &Arc<Gate>,
    workload: &Workload,
    now: i64,
) -> anyhow::Result<()> {
    let call = call(&workload.admission, &workload.settings, gate, now);
    let ctx = native_context(workload, now);
    for (item, _, body) in &workload.items {
        let wasm = runtime
            .step(&workload.component, &call, item.clone())
            .await?;
        let native = (workload.native)(&ctx, &guest_item(item), body)
            .map_err(|e| anyhow::anyhow!("{}: native step failed: {e:?}", workload.name))?;
        let wasm: Vec<String> = wasm.events.into_iter().map(|e| e.body).collect();
        let native: Vec<String> = native.events.into_iter().map(|e| e.body).collect();
        if wasm != native {
            bail!(
                "{}: wasm and native events differ for {}",
                workload.name,
                item.key
            );
        }
    }
    Ok(())
}

fn native_context(workload: &Workload, now: i64) -> connector_sdk::Context {
    connector_sdk::Context {
        tenant: o365_simulator::DEFAULT_TENANT.to_string(),
        now,
        settings: workload
            .settings
            .iter()
            .map(|s| connector_sdk::Setting {
                name: s.name.clone(),
                value: s.value.clone(),
            })
            .collect(),
    }
}

fn guest_item(item: &WorkItem) -> connector_sdk::WorkItem {
    connector_sdk::WorkItem {
        kind: item.kind.clone(),
        key: item.key.clone(),
        payload: item.payload.clone(),
        remember_for: item.remember_for,
    }
}

async fn time_native(workload: &Workload, now: i64, rounds: u32) -> anyhow::Result<Timing> {
    let ctx = native_context(workload, now);
    let items: Vec<(connector_sdk::WorkItem, &[u8])> = workload
        .items
        .iter()
        .map(|(item, _, body)| (guest_item(item), body.as_ref()))
        .collect();
    let (ctx, items) = (&ctx, &items);
    timed(rounds, || async move {
        let mut events = 0;
        for (item, body) in items {
            let output = (workload.native)(ctx, item, body)
                .map_err(|e| anyhow::anyhow!("{}: native step failed: {e:?}", workload.name))?;
            events += output.events.len();
        }
        Ok(events)
    })
    .await
}

fn report(rows: &[(&str, Timing, Timing)], json: bool) {
    if json {
        let rows: Vec<serde_json::Value> = rows
            .iter()
            .map(|(name, wasm, native)| {
                serde_json::json!({
                    "connector": name,
                    "events": wasm.events,
                    "wasmMicrosPerEvent": wasm.micros_per_event(),
                    "nativeMicrosPerEvent": native.micros_per_event(),
                    "ratio": wasm.micros_per_event() / native.micros_per_event(),
                    "wasmCpuMicrosPerEvent": wasm.cpu_micros_per_event(),
                    "nativeCpuMicrosPerEvent": native.cpu_micros_per_event(),
                    "cpuRatio": wasm.cpu_micros_per_event() / native.cpu_micros_per_event(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return;
    }
    println!(
        "{:<22} {:>7} {:>21} {:>21} {:>7} {:>7}",
        "connector", "events", "wasm µs/event", "native µs/event", "ratio", "cpu"
    );
    println!(
        "{:<22} {:>7} {:>10} {:>10} {:>10} {:>10} {:>7} {:>7}",
        "", "", "wall", "cpu", "wall", "cpu", "wall", "ratio"
    );
    for (name, wasm, native) in rows {
        println!(
            "{:<22} {:>7} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>6.2}× {:>6.2}×",
            name,
            wasm.events.max(native.events),
            wasm.micros_per_event(),
            wasm.cpu_micros_per_event(),
            native.micros_per_event(),
            native.cpu_micros_per_event(),
            wasm.micros_per_event() / native.micros_per_event(),
            wasm.cpu_micros_per_event() / native.cpu_micros_per_event(),
        );
    }
    println!(
        "wall: the fastest round; cpu: every thread of the process over all rounds (what a plan bills)"
    );
}
