//! What `once`, `run` and `demo` share: the sources this host runs, their
//! settings and schedules, the gate, the checkpoint store and the sinks,
//! built from flags and settings (the seed's setting names).

use super::args::{NetworkArgs, RuntimeArgs, TokenArgs};
use crate::checkpoint::LocalStore;
use crate::gate::{Gate, NetworkTransport};
use crate::grants::{Api, Cloud, Grant, GrantError, apply_api_override, apply_cloud_defaults};
use crate::pipeline::{CycleOptions, CycleReport, PipelineOptions, Source, run_cycle};
use crate::runtime::{Runtime, SettingKind};
use crate::schedule::{DEFAULT_SCHEDULE, Schedule};
use crate::settings::{SettingsSource, parse_assignment};
use crate::sink::SinkFactory;
use anyhow::{Context as _, bail};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// A source this host knows how to run.
pub struct KnownSource {
    /// Checkpoint and file name.
    pub name: &'static str,
    /// The embedded versions of its component, by name; the first is the
    /// default.
    pub builtins: &'static [(&'static str, &'static [u8])],
    /// A setting choosing an embedded version by name, or naming a `.wasm`
    /// file to run instead.
    pub component_setting: &'static str,
    /// The setting holding its schedule.
    pub schedule_setting: &'static str,
    /// The seed's checkpoint container.
    pub legacy_container: &'static str,
    /// The APIs the operator's settings grant this source (`crate::grants`).
    pub apis: &'static [Api],
}

/// Every source, in the order cycles run.
pub const KNOWN_SOURCES: &[KnownSource] = &[
    KnownSource {
        name: "audit",
        builtins: &[("management-api", connector_artifacts::AUDIT_WASM)],
        component_setting: "O365_AUDIT_COMPONENT",
        schedule_setting: "AUDIT_LOGS_INDEXER_SCHEDULE",
        legacy_container: "auditlogstate",
        apis: &[Api::ManagementActivity],
    },
    KnownSource {
        name: "message-trace",
        builtins: &[
            ("graph", connector_artifacts::MESSAGE_TRACE_GRAPH_WASM),
            (
                "reporting",
                connector_artifacts::MESSAGE_TRACE_REPORTING_WASM,
            ),
        ],
        component_setting: "O365_MESSAGE_TRACE_COMPONENT",
        schedule_setting: "MESSAGE_TRACES_INDEXER_SCHEDULE",
        legacy_container: "messagetracestate",
        apis: &[Api::GraphMessageTraces, Api::ExchangeReporting],
    },
];

/// Flags shared by `once` and `run`.
#[derive(clap::Args, Debug, Clone)]
pub struct DeploymentArgs {
    /// The tenant (directory) id.
    #[arg(long, env = "ENTRA_TENANT_ID")]
    pub tenant: Option<String>,
    /// Sources to run, comma-separated (default: all).
    #[arg(long, env = "O365_SOURCES", value_delimiter = ',')]
    pub sources: Vec<String>,
    /// Base URL for every source's API (a simulator); default: each
    /// source's own setting.
    #[arg(long)]
    pub api: Option<String>,
    /// A setting, `NAME=VALUE` (repeatable); overrides the environment.
    #[arg(long = "set", value_parser = parse_assignment)]
    pub set: Vec<(String, String)>,
    /// Directory of checkpoints (local mode).
    #[arg(long, env = "O365_STATE_DIR", default_value = ".o365-state")]
    pub state_dir: PathBuf,
    /// Directory of the JSON-lines event files, one per source (local mode).
    #[arg(long, env = "O365_OUTPUT_DIR", default_value = "o365-events")]
    pub out_dir: PathBuf,
    /// Work items running at once per cycle.
    #[arg(long, env = "O365_CONCURRENCY", default_value_t = 32)]
    pub concurrency: usize,
    /// Cycles in which a work item may fail before it is set aside (listed
    /// by `o365-host set-aside list`) and the window moves on without it.
    #[arg(long, env = "O365_SET_ASIDE_AFTER", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub set_aside_after: u32,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub tokens: TokenArgs,
}

impl DeploymentArgs {
    /// A deployment of every source against a simulator at `url`, with the
    /// simulator's client credentials and embedded defaults elsewhere
    /// (`demo`, `bench pipeline`).
    pub fn for_simulator(
        url: &str,
        state_dir: PathBuf,
        out_dir: PathBuf,
        concurrency: usize,
    ) -> Self {
        Self {
            tenant: Some(o365_simulator::DEFAULT_TENANT.into()),
            sources: Vec::new(),
            api: Some(url.to_string()),
            set: Vec::new(),
            state_dir,
            out_dir,
            concurrency,
            set_aside_after: 3,
            runtime: RuntimeArgs {
                memory_mb: 512,
                deadline: std::time::Duration::from_secs(300),
                cache_dir: None,
            },
            network: NetworkArgs {
                proxy: None,
                proxy_token: None,
                ca_cert: None,
            },
            tokens: TokenArgs {
                token: None,
                client_id: Some(o365_simulator::DEFAULT_CLIENT_ID.into()),
                client_secret: Some(o365_simulator::DEFAULT_CLIENT_SECRET.into()),
                authority: Some(url.to_string()),
            },
        }
    }
}

/// A source ready to run, with its schedule.
pub struct ScheduledSource {
    /// The source.
    pub source: Source,
    /// When its cycles run.
    pub schedule: Schedule,
}

/// Everything a cycle needs.
pub struct Deployment {
    /// The component runtime.
    pub runtime: Arc<Runtime>,
    /// The sources, configured.
    pub sources: Vec<ScheduledSource>,
    /// The outbound gate.
    pub gate: Arc<Gate>,
    /// Checkpoints.
    pub store: LocalStore,
    /// The tenant.
    pub tenant: String,
    /// Where events go.
    pub out_dir: PathBuf,
    /// Cycle settings.
    pub options: CycleOptions,
    /// Event Hubs or JSON-lines files (`EventHub__fullyQualifiedNamespace`).
    pub sinks: SinkFactory,
}

impl Deployment {
    /// Builds the deployment from flags and the environment; every wrong
    /// setting is reported by name.
    pub async fn build(args: &DeploymentArgs) -> anyhow::Result<Self> {
        let overrides: BTreeMap<String, String> = args.set.iter().cloned().collect();
        Self::build_with(args, SettingsSource::from_environment(overrides)).await
    }

    /// Builds the deployment with settings from `settings` only.
    pub async fn build_with(
        args: &DeploymentArgs,
        mut settings: SettingsSource,
    ) -> anyhow::Result<Self> {
        let cloud = Cloud::from_settings(&settings)?;
        apply_cloud_defaults(&mut settings, cloud);
        let tenant = args
            .tenant
            .clone()
            .filter(|t| !t.trim().is_empty())
            .context("ENTRA_TENANT_ID / --tenant is not set: give the tenant (directory) id to collect from")?;
        let runtime = Runtime::new(args.runtime.config()?)?;

        let wanted: Vec<&KnownSource> = if args.sources.is_empty() {
            KNOWN_SOURCES.iter().collect()
        } else {
            args.sources
                .iter()
                .map(|name| {
                    KNOWN_SOURCES
                        .iter()
                        .find(|k| k.name == name.trim())
                        .with_context(|| {
                            format!(
                                "O365_SOURCES / --sources names `{name}`; known sources: {}",
                                KNOWN_SOURCES
                                    .iter()
                                    .map(|k| k.name)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        })
                })
                .collect::<anyhow::Result<_>>()?
        };
        let mut sources = Vec::new();
        for known in wanted {
            sources.push(configure(&runtime, known, &settings, args.api.as_deref()).await?);
        }

        let network = args.network.config()?;
        let client = network.client()?;
        let transport = Arc::new(NetworkTransport::new(
            client.clone(),
            network.max_response_bytes,
        ));
        let gate = Arc::new(Gate::new(transport, args.tokens.provider(client, cloud)?));
        Ok(Self {
            runtime,
            sources,
            gate,
            store: LocalStore::new(&args.state_dir),
            tenant,
            sinks: SinkFactory::from_settings(&settings, args.out_dir.clone())?,
            out_dir: args.out_dir.clone(),
            options: CycleOptions {
                pipeline: PipelineOptions {
                    concurrency: args.concurrency.max(1),
                    ..PipelineOptions::default()
                },
                set_aside_after: args.set_aside_after,
                ..CycleOptions::default()
            },
        })
    }

    /// Runs one cycle of `source` now.
    pub async fn cycle(&self, source: &Source) -> anyhow::Result<CycleReport> {
        let mut sink = self.sinks.for_source(&source.name, &self.tenant).await?;
        run_cycle(
            &self.runtime,
            source,
            &self.tenant,
            self.gate.clone(),
            &self.store,
            sink.as_mut(),
            &self.options,
            chrono::Utc::now().timestamp_millis(),
        )
        .await
    }
}

async fn configure(
    runtime: &Arc<Runtime>,
    known: &KnownSource,
    settings: &SettingsSource,
    api: Option<&str>,
) -> anyhow::Result<ScheduledSource> {
    let choice = settings.get(known.component_setting);
    let builtin = match choice.as_deref() {
        None => known.builtins.first(),
        Some(name) => known.builtins.iter().find(|(n, _)| *n == name.trim()),
    };
    let component = match (builtin, choice) {
        (Some((version, wasm)), _) => {
            let origin = format!("embedded {} component ({version})", known.name);
            runtime.load(&origin, wasm).await?
        }
        (None, Some(path)) if path.ends_with(".wasm") => runtime
            .load_file(std::path::Path::new(&path))
            .await
            .with_context(|| format!("{} = {path}", known.component_setting))?,
        (None, other) => bail!(
            "{} = `{}` is neither an embedded version ({}) nor a path to a .wasm file",
            known.component_setting,
            other.unwrap_or_default(),
            known
                .builtins
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut source_settings = settings.clone();
    if let Some(api) = api {
        apply_api_override(&mut source_settings, api);
        for doc in &component.info.settings {
            if doc.kind == SettingKind::ApiBase {
                source_settings.set(&doc.name, api);
            }
        }
    }
    let grant = Grant::from_settings(known.name, known.apis, &source_settings)?;
    let values = source_settings.for_component(&component.info);
    let info = match runtime.describe(&component, &values).await? {
        Ok(info) => info,
        Err(e) => bail!("setting {}: {}", e.setting, e.message),
    };
    // The component's endpoints and limits are a request: refused here,
    // before any call, unless the operator's grant covers them.
    let admission = grant.admit(&info)?;
    let schedule_text = settings
        .get(known.schedule_setting)
        .unwrap_or_else(|| DEFAULT_SCHEDULE.to_string());
    let schedule = Schedule::parse(known.schedule_setting, &schedule_text)?;
    tracing::info!(
        source = known.name,
        component = %format!("{} {}", info.name, info.version),
        schedule = schedule.text(),
        "source configured"
    );
    Ok(ScheduledSource {
        source: Source {
            name: known.name.to_string(),
            legacy_container: Some(known.legacy_container.to_string()),
            component: Arc::new(component),
            info,
            settings: values,
            admission,
        },
        schedule,
    })
}

/// The grant for a component run as source `name`: that source's APIs if
/// the host knows it, otherwise every API the settings point at (a
/// component run by hand with `harness` or looked at with `inspect`).
pub fn grant_for(name: &str, settings: &SettingsSource) -> Result<Grant, GrantError> {
    let apis = KNOWN_SOURCES
        .iter()
        .find(|k| k.name == name)
        .map_or(&Api::ALL[..], |k| k.apis);
    Grant::from_settings(name, apis, settings)
}

/// Prints a cycle's report for people.
pub fn print_report(report: &CycleReport) {
    let s = &report.summary;
    if report.skipped_busy {
        eprintln!(
            "{}: skipped, another instance holds this tenant's lease",
            report.source
        );
        return;
    }
    let rate = s.events as f64 / report.seconds.max(1e-9);
    eprintln!(
        "{}: {} — {} events ({rate:.0}/s), {} slices of {}, {} items, {} duplicate items and {} duplicate events dropped, {} throttled, {} retries, {} expired, {:.2}s; checkpoint at {}",
        report.source,
        if report.complete {
            "complete"
        } else {
            "INCOMPLETE"
        },
        s.events,
        report.slices_done,
        report.slices_total,
        s.items,
        s.duplicate_items,
        s.duplicate_events,
        s.throttled,
        s.retries,
        s.expired,
        report.seconds,
        chrono::DateTime::from_timestamp_millis(report.high_water_mark)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    );
    if !s.counters.is_empty() {
        let counters: Vec<String> = s.counters.iter().map(|(k, v)| format!("{k} {v}")).collect();
        eprintln!("  {}", counters.join(", "));
    }
    for (kind, lag) in &s.lagging {
        eprintln!(
            "  behind: {kind} is {} behind ({}); its window stays open until it catches up",
            crate::fmt::human_ms(lag.seconds.saturating_mul(1000)),
            lag.reason
        );
    }
    for failure in s.failures.iter().take(10) {
        eprintln!("  failed: {failure}");
    }
    if s.set_aside > 0 || report.set_aside_total > 0 {
        eprintln!(
            "  set aside: {} item(s) this cycle, {} waiting; `o365-host set-aside list` shows them and why",
            s.set_aside, report.set_aside_total
        );
    }
}
