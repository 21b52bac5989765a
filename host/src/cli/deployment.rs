//! What `once`, `run` and `demo` share: the sources this host runs, their
//! settings and schedules, the gate, the checkpoint store and the sinks,
//! built from flags and settings (the seed's setting names).

use super::args::{NetworkArgs, RuntimeArgs, TokenArgs};
use crate::checkpoint::{CheckpointStore, store_from_settings};
use crate::gate::{Gate, NetworkTransport};
use crate::grants::{Api, Cloud, Grant, GrantError, apply_api_override, apply_cloud_defaults};
use crate::pipeline::{CycleOptions, CycleReport, LiveSource, PipelineOptions, Source, run_cycle};
use crate::registry::follow::{Configure, Followed, Follower};
use crate::registry::registry_from_settings;
use crate::runtime::{LoadedComponent, Runtime, SettingKind};
use crate::schedule::{DEFAULT_SCHEDULE, Schedule};
use crate::settings::check::check;
use crate::settings::tenants::{TENANTS_SETTING, TenantSettings};
use crate::settings::{Origin, SettingsSource, parse_assignment};
use crate::sink::SinkFactory;
use crate::tokens::{TenantTokens, provider_from_settings};
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
    /// The tenant (directory) id (`ENTRA_TENANT_ID`); with `O365_TENANTS`,
    /// runs only the tenant with this key or id.
    #[arg(long)]
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
    /// Cycles (tenant and source) running at once; one slow or failing
    /// tenant holds only its own.
    #[arg(long, env = "O365_PARALLEL_CYCLES", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub parallel_cycles: u32,
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
            parallel_cycles: 4,
            set_aside_after: 3,
            runtime: RuntimeArgs {
                memory_mb: 512,
                deadline: std::time::Duration::from_secs(300),
                idle_instances: 32,
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

    /// The flags given (or read by clap from the environment) as settings,
    /// so that `config check` judges them and each tenant's view falls back
    /// to them.
    pub(crate) fn as_settings(&self) -> Vec<(&'static str, String)> {
        let t = &self.tokens;
        [
            ("O365_STATIC_TOKEN", t.token.clone()),
            ("ENTRA_APP_CLIENT_ID", t.client_id.clone()),
            ("ENTRA_APP_CLIENT_SECRET", t.client_secret.clone()),
            ("ENTRA_AUTHORITY_HOST", t.authority.clone()),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .collect()
    }
}

/// A tenant of the deployment.
#[derive(Clone, Debug)]
pub struct TenantRef {
    /// Its key in `O365_TENANTS`; `None` for a single-tenant deployment.
    pub key: Option<String>,
    /// The tenant (directory) id: checkpoints, tokens and budgets are keyed
    /// by it.
    pub id: String,
}

impl TenantRef {
    /// How reports name it.
    pub fn label(&self) -> &str {
        self.key.as_deref().unwrap_or(&self.id)
    }
}

/// A source of one tenant, ready to run, with its schedule.
pub struct ScheduledSource {
    /// The tenant.
    pub tenant: TenantRef,
    /// Where the tenant's events go: its hubs, or its JSON-lines files
    /// (`<out>/<key>/` when the deployment has several tenants).
    pub sinks: Arc<SinkFactory>,
    /// The source, configured with the tenant's settings; its component
    /// follows the registry (`crate::registry::follow`).
    pub source: Arc<LiveSource>,
    /// When its cycles run.
    pub schedule: Schedule,
}

/// Everything a cycle needs.
pub struct Deployment {
    /// The component runtime.
    pub runtime: Arc<Runtime>,
    /// Every tenant's sources, tenant by tenant, in the order cycles run.
    pub sources: Vec<ScheduledSource>,
    /// The outbound gate (tokens per tenant).
    pub gate: Arc<Gate>,
    /// Checkpoints: Blob storage or a local directory, from the settings.
    pub store: Arc<dyn CheckpointStore>,
    /// Where events go.
    pub out_dir: PathBuf,
    /// Cycle settings.
    pub options: CycleOptions,
    /// Cycles running at once (`O365_PARALLEL_CYCLES`).
    pub parallel_cycles: usize,
    /// More than one tenant: reports name the tenant.
    pub multi_tenant: bool,
    /// Follows the component registry, if one is configured.
    pub follower: Option<Arc<Follower>>,
    /// How often the follower polls (`O365_COMPONENT_POLL_INTERVAL`); `None`
    /// reads the registry only at start.
    pub poll_interval: Option<std::time::Duration>,
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
        settings: SettingsSource,
    ) -> anyhow::Result<Self> {
        Self::assemble(args, settings, Network::Connect).await
    }

    /// Builds everything that needs no network (settings, components, their
    /// grants): what `config check` judges. A deployment built this way has
    /// no credentials (reading a certificate from Key Vault is a network
    /// call) and keeps checkpoints locally (Blob storage is not touched):
    /// it is for judging, not for running.
    pub async fn build_offline(
        args: &DeploymentArgs,
        settings: SettingsSource,
    ) -> anyhow::Result<Self> {
        Self::assemble(args, settings, Network::Offline).await
    }

    async fn assemble(
        args: &DeploymentArgs,
        settings: SettingsSource,
        network_use: Network,
    ) -> anyhow::Result<Self> {
        let (settings, tenants) = checked_settings(args, settings)?;
        let runtime = Runtime::new(args.runtime.config()?)?;
        let network = args.network.config()?;
        let client = network.client()?;
        let transport = Arc::new(NetworkTransport::new(
            client.clone(),
            network.max_response_bytes,
        ));

        let mut components = ComponentCache::default();
        let mut sources = Vec::new();
        let mut followed = Vec::new();
        let mut tokens = TenantTokens::default();
        for tenant in &tenants {
            let mut view = tenant.settings.clone();
            let cloud = Cloud::from_settings(&view)?;
            apply_cloud_defaults(&mut view, cloud);
            let id = tenant.id().context("checked: every tenant has an id")?;
            let tenant_ref = TenantRef {
                key: tenant.key.clone(),
                id: id.clone(),
            };
            let in_tenant = |e: anyhow::Error| match &tenant.key {
                Some(key) => e.context(format!("tenant {key}")),
                None => e,
            };
            let provider: Arc<dyn crate::tokens::TokenProvider> = match network_use {
                Network::Connect => {
                    provider_from_settings(&view, cloud, client.clone(), &network.extra_ca_pems)
                        .await
                        .map_err(in_tenant)?
                }
                Network::Offline => Arc::new(crate::tokens::NoTokens),
            };
            tokens.insert(&id, provider);
            let out_dir = match &tenant.key {
                None => args.out_dir.clone(),
                Some(key) => args.out_dir.join(key),
            };
            let sinks = Arc::new(SinkFactory::from_settings(&view, out_dir).map_err(in_tenant)?);
            for known in wanted_sources(args, &view)? {
                let component = components
                    .load(&runtime, known, &view)
                    .await
                    .map_err(in_tenant)?;
                let (source, schedule) =
                    configure(&runtime, known, component, &view, args.api.as_deref())
                        .await
                        .map_err(in_tenant)?;
                let live = Arc::new(LiveSource::new(source));
                followed.push(Followed {
                    name: known.name.to_string(),
                    tenant_id: id.clone(),
                    tenant_key: tenant.key.clone(),
                    live: live.clone(),
                    pinned: view.get(known.component_setting).is_some(),
                    configure: reconfigure(&runtime, known, &view, args.api.as_deref()),
                });
                sources.push(ScheduledSource {
                    tenant: tenant_ref.clone(),
                    sinks: sinks.clone(),
                    source: live,
                    schedule,
                });
            }
        }
        let gate = Arc::new(Gate::new(transport, Arc::new(tokens)));
        let follower = match network_use {
            Network::Connect => match registry_from_settings(&settings)? {
                Some(registry) => {
                    let follower = Follower::new(registry, runtime.clone(), followed);
                    // The first cycle already runs the versions the pointers name.
                    follower.poll().await;
                    Some(Arc::new(follower))
                }
                None => None,
            },
            Network::Offline => None,
        };
        let poll_interval = poll_interval(&settings)?;
        let store: Arc<dyn CheckpointStore> = match network_use {
            Network::Connect => store_from_settings(&settings, &args.state_dir).await?,
            Network::Offline => Arc::new(crate::checkpoint::LocalStore::new(&args.state_dir)),
        };
        Ok(Self {
            runtime,
            sources,
            gate,
            store,
            out_dir: args.out_dir.clone(),
            options: CycleOptions {
                pipeline: PipelineOptions {
                    concurrency: args.concurrency.max(1),
                    ..PipelineOptions::default()
                },
                set_aside_after: args.set_aside_after,
                ..CycleOptions::default()
            },
            parallel_cycles: args.parallel_cycles.max(1) as usize,
            multi_tenant: tenants.iter().any(|t| t.key.is_some()),
            follower,
            poll_interval,
        })
    }

    /// Reads the registry's pointers now and swaps what changed (a
    /// Functions invocation does this first: between invocations the
    /// platform may freeze the instance and its polling with it).
    pub async fn refresh_components(&self) {
        if let Some(follower) = &self.follower {
            // Many queue invocations start at once on a busy instance: one
            // read of the pointers serves those of the next few seconds.
            follower.poll_unless_fresh(REFRESH_FRESHNESS).await;
        }
    }

    /// Starts following the registry in the background (`run`, `serve`);
    /// the versions read at start stay when polling is off.
    pub fn follow_registry(&self) -> Option<tokio::task::JoinHandle<()>> {
        let follower = self.follower.clone()?;
        for (tenant, source, version, running) in follower.live_versions() {
            let from = match running {
                crate::registry::follow::Running::Configured => "the settings".to_string(),
                crate::registry::follow::Running::Registry { pointer, .. } => pointer,
            };
            tracing::info!(tenant = %tenant, source = %source, component = %version, from = %from, "live component version");
        }
        let interval = self.poll_interval?;
        tracing::info!(registry = %follower.registry().location(), every = %crate::fmt::human_ms(interval.as_millis() as u64), "following the component registry");
        Some(follower.spawn(interval))
    }

    /// Runs one cycle of `scheduled` now.
    pub async fn cycle(&self, scheduled: &ScheduledSource) -> anyhow::Result<CycleReport> {
        self.cycle_until(scheduled, None).await
    }

    /// Runs one cycle of `scheduled` now that stops at `deadline` (a
    /// Functions invocation's timeout), if any.
    pub async fn cycle_until(
        &self,
        scheduled: &ScheduledSource,
        deadline: Option<crate::pipeline::Deadline>,
    ) -> anyhow::Result<CycleReport> {
        let source = &scheduled.source;
        let tenant = &scheduled.tenant;
        let mut options = self.options.clone();
        options.pipeline.deadline = deadline;
        let mut sink = scheduled
            .sinks
            .for_source(source.name(), &tenant.id)
            .await?;
        run_cycle(
            &self.runtime,
            source.as_ref(),
            &tenant.id,
            self.gate.clone(),
            self.store.as_ref(),
            sink.as_mut(),
            &options,
            chrono::Utc::now().timestamp_millis(),
        )
        .await
    }

    /// How reports name `scheduled`: the source, after the tenant when the
    /// deployment has several.
    pub fn label(&self, scheduled: &ScheduledSource) -> String {
        if self.multi_tenant {
            format!("{} {}", scheduled.tenant.label(), scheduled.source.name())
        } else {
            scheduled.source.name().to_string()
        }
    }
}

/// Whether building a deployment may use the network: reading the app's
/// certificate from Key Vault, creating the checkpoint container.
#[derive(Clone, Copy)]
enum Network {
    Connect,
    Offline,
}

/// The settings with the flags folded in, checked as a whole (every
/// problem named at once, before any network call), and the tenants they
/// describe, narrowed to `--tenant` when several are configured.
fn checked_settings(
    args: &DeploymentArgs,
    mut settings: SettingsSource,
) -> anyhow::Result<(SettingsSource, Vec<TenantSettings>)> {
    for (name, value) in args.as_settings() {
        if settings.get(name).is_none() {
            settings.set(name, &value);
        }
    }
    let multi = settings.get(TENANTS_SETTING).is_some();
    match args
        .tenant
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        Some(tenant) if !multi => settings.set("ENTRA_TENANT_ID", tenant),
        _ => {}
    }
    let report = check(&settings, None);
    if !report.errors.is_empty() {
        bail!(
            "the configuration is not usable ({} problem(s); `o365-host config check` shows \
             the whole configuration):\n{}",
            report.errors.len(),
            report.error_text()
        );
    }
    let mut tenants = report.tenants;
    if multi && let Some(only) = args.tenant.as_deref().map(str::trim) {
        tenants.retain(|t| {
            t.key
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(only))
                || t.id().is_some_and(|id| id.eq_ignore_ascii_case(only))
        });
        if tenants.is_empty() {
            bail!(
                "--tenant `{only}` is neither a key in {TENANTS_SETTING} nor the id of one of its tenants"
            );
        }
    }
    Ok((settings, tenants))
}

/// The sources `--sources` / `O365_SOURCES` select for a tenant (all by
/// default).
fn wanted_sources(
    args: &DeploymentArgs,
    view: &SettingsSource,
) -> anyhow::Result<Vec<&'static KnownSource>> {
    let own = matches!(view.origin("O365_SOURCES"), Some(Origin::Tenant(_)));
    let names: Vec<String> = if !args.sources.is_empty() && !own {
        args.sources.clone()
    } else if let Some(list) = view.get("O365_SOURCES") {
        list.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    } else {
        return Ok(KNOWN_SOURCES.iter().collect());
    };
    names
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
        .collect()
}

/// Components loaded once per choice, shared by every tenant that makes it.
#[derive(Default)]
struct ComponentCache {
    loaded: BTreeMap<(&'static str, String), Arc<LoadedComponent>>,
}

impl ComponentCache {
    /// The component `known`'s setting chooses in `settings`: an embedded
    /// version by name, or a `.wasm` file.
    async fn load(
        &mut self,
        runtime: &Arc<Runtime>,
        known: &'static KnownSource,
        settings: &SettingsSource,
    ) -> anyhow::Result<Arc<LoadedComponent>> {
        let choice = settings.get(known.component_setting);
        let key = (known.name, choice.clone().unwrap_or_default());
        if let Some(component) = self.loaded.get(&key) {
            return Ok(component.clone());
        }
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
        let component = Arc::new(component);
        self.loaded.insert(key, component.clone());
        Ok(component)
    }
}

/// How recent a read of the registry's pointers an invocation accepts.
const REFRESH_FRESHNESS: std::time::Duration = std::time::Duration::from_secs(5);

/// The setting of the registry's polling interval.
pub const POLL_INTERVAL_SETTING: &str = "O365_COMPONENT_POLL_INTERVAL";

/// `O365_COMPONENT_POLL_INTERVAL`: a duration (default 60 s); `0s` reads
/// the registry only at start.
fn poll_interval(settings: &SettingsSource) -> anyhow::Result<Option<std::time::Duration>> {
    let text = settings
        .get(POLL_INTERVAL_SETTING)
        .unwrap_or_else(|| "60s".to_string());
    let interval = crate::settings::parse_duration(&text).with_context(|| {
        format!("{POLL_INTERVAL_SETTING} = `{text}`: give a duration such as 30s or 5m (0s: only at start)")
    })?;
    Ok((!interval.is_zero()).then_some(interval))
}

/// How the follower turns a registry version into this tenant's source:
/// the same `configure` as at start, with the tenant's settings.
fn reconfigure(
    runtime: &Arc<Runtime>,
    known: &'static KnownSource,
    view: &SettingsSource,
    api: Option<&str>,
) -> Configure {
    let runtime = runtime.clone();
    let view = view.clone();
    let api = api.map(str::to_string);
    Arc::new(move |component| {
        let runtime = runtime.clone();
        let view = view.clone();
        let api = api.clone();
        Box::pin(async move {
            let (source, _) = configure(&runtime, known, component, &view, api.as_deref()).await?;
            Ok(source)
        })
    })
}

async fn configure(
    runtime: &Arc<Runtime>,
    known: &KnownSource,
    component: Arc<LoadedComponent>,
    settings: &SettingsSource,
    api: Option<&str>,
) -> anyhow::Result<(Source, Schedule)> {
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
    Ok((
        Source {
            name: known.name.to_string(),
            legacy_container: Some(known.legacy_container.to_string()),
            component,
            info,
            settings: values,
            admission,
        },
        schedule,
    ))
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

/// Prints a cycle's report for people; `label` names the source (and the
/// tenant, when there are several).
pub fn print_report(label: &str, report: &CycleReport) {
    let text = crate::telemetry::report::describe(report);
    eprintln!("{label}: {}", text.headline);
    for line in text.details {
        eprintln!("  {line}");
    }
}
