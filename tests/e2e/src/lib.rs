//! Helpers shared by the end-to-end tests in `tests/`: a runtime with a
//! shared compile cache, the test components, a gate towards a simulator.

use o365_host::gate::{Gate, GatePolicy, NetworkConfig, NetworkTransport};
use o365_host::grants::{Admission, Api, Grant, GrantedEndpoint};
use o365_host::runtime::{
    CallContext, CompileCache, LoadedComponent, Runtime, RuntimeConfig, Setting, WorkItem,
};
use o365_host::settings::SettingsSource;
use o365_host::tokens::TokenProvider;
use std::sync::Arc;
use std::time::Duration;

/// A compile cache shared by every test process, so each component is
/// compiled once per build rather than once per test. It sits beside the
/// built components (`<target>/<profile>/guest/`).
pub fn shared_cache() -> CompileCache {
    CompileCache::new(shared_cache_dir())
}

/// The directory of [`shared_cache`], for commands that take it as a setting.
pub fn shared_cache_dir() -> std::path::PathBuf {
    let guest_dir = std::path::Path::new(connector_artifacts::TESTBED_PATH)
        .ancestors()
        .nth(3)
        .expect("the testbed lies in <guest>/wasm32-wasip2/release/");
    guest_dir.join("component-cache")
}

/// A runtime with test-sized limits.
pub fn runtime(memory_mb: usize, deadline: Duration) -> Arc<Runtime> {
    Runtime::new(runtime_config(memory_mb, deadline)).expect("runtime")
}

/// The configuration of [`runtime`], for tests that change more of it.
pub fn runtime_config(memory_mb: usize, deadline: Duration) -> RuntimeConfig {
    RuntimeConfig {
        memory_limit: memory_mb * 1024 * 1024,
        call_deadline: deadline,
        max_instances: 16,
        cache: Some(shared_cache()),
        ..RuntimeConfig::default()
    }
}

/// Loads the testbed component.
pub async fn testbed(runtime: &Runtime) -> Arc<LoadedComponent> {
    Arc::new(
        runtime
            .load_file(std::path::Path::new(connector_artifacts::TESTBED_PATH))
            .await
            .expect("testbed loads"),
    )
}

/// A test work item whose key is `key-<payload>`.
pub fn item(payload: &str) -> WorkItem {
    WorkItem {
        kind: "test".into(),
        key: format!("key-{payload}"),
        payload: payload.into(),
        remember_for: None,
    }
}

/// Settings from `NAME=VALUE` pairs.
pub fn settings(pairs: &[(&str, &str)]) -> Vec<Setting> {
    pairs
        .iter()
        .map(|(n, v)| Setting {
            name: n.to_string(),
            value: v.to_string(),
        })
        .collect()
}

/// What a test operator grants: each authority (or URL's authority) with
/// its token audience, and no budget.
pub fn grant(source: &str, entries: &[(&str, Option<&str>)]) -> Grant {
    Grant::new(
        source,
        entries
            .iter()
            .map(|(at, audience)| GrantedEndpoint {
                api: Api::ManagementActivity,
                authority: at
                    .split_once("://")
                    .map_or(*at, |(_, rest)| rest)
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                audience: audience.map(str::to_string),
                budget: None,
            })
            .collect(),
    )
}

/// The grant the host makes to source `name` from the settings `pairs`,
/// as a deployment makes it.
pub fn grant_from_settings(name: &str, pairs: &[(&str, &str)]) -> Grant {
    o365_host::cli::grant_for(name, &SettingsSource::from_pairs(pairs))
        .expect("settings make a grant")
}

/// An instant given in ms since the epoch.
pub fn at(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).expect("a representable instant")
}

/// A call context for `tenant` with what `admission` admitted, sending
/// over the real network with `tokens`.
pub fn call_context(
    admission: &Admission,
    tenant: &str,
    settings: Vec<Setting>,
    network: NetworkConfig,
    tokens: Arc<dyn TokenProvider>,
) -> CallContext {
    let client = network.client().expect("client");
    let gate = Arc::new(Gate::new(
        Arc::new(NetworkTransport::new(client, network.max_response_bytes)),
        tokens,
    ));
    CallContext {
        tenant: tenant.to_string(),
        now_ms: chrono::Utc::now().timestamp_millis(),
        settings,
        gate,
        policy: Arc::new(GatePolicy::admitted(admission, tenant)),
    }
}

/// A source named `name` running the component at `path` with `pairs` as
/// its settings, as a deployment configures it: the grant comes from the
/// same settings, and the component must fall inside it.
pub async fn source(
    runtime: &Runtime,
    name: &str,
    path: &str,
    pairs: &[(&str, &str)],
) -> o365_host::pipeline::Source {
    let component = runtime
        .load_file(std::path::Path::new(path))
        .await
        .expect("component loads");
    let settings = settings(pairs);
    let info = runtime
        .describe(&component, &settings)
        .await
        .unwrap()
        .expect("settings accepted");
    let admission = grant_from_settings(name, pairs)
        .admit(&info)
        .expect("the grant admits the component");
    o365_host::pipeline::Source {
        name: name.into(),
        legacy_container: None,
        component: Arc::new(component),
        info,
        settings,
        admission,
    }
}

/// An audit source against `api` (a simulator), with `extra` settings.
pub async fn audit_source(
    runtime: &Runtime,
    api: &str,
    extra: &[(&str, &str)],
) -> o365_host::pipeline::Source {
    let mut pairs = vec![("O365_MANAGEMENT_API", api)];
    pairs.extend_from_slice(extra);
    source(runtime, "audit", connector_artifacts::AUDIT_PATH, &pairs).await
}

/// A gate towards a simulator, with client-credential tokens from it.
pub fn simulator_gate(api: &str, network: NetworkConfig) -> Arc<Gate> {
    let client = network.client().expect("client");
    let mut options = o365_host::tokens::ClientCredentialsOptions::with_secret(
        o365_simulator::DEFAULT_CLIENT_ID,
        o365_host::tokens::Secret::new(o365_simulator::DEFAULT_CLIENT_SECRET),
    );
    options.authority = api.to_string();
    Arc::new(Gate::new(
        Arc::new(NetworkTransport::new(
            client.clone(),
            network.max_response_bytes,
        )),
        Arc::new(o365_host::tokens::ClientCredentials::new(options, client)),
    ))
}

/// The ids in a JSON-lines event file, in file order.
pub fn published_ids(path: &std::path::Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
                v["id"].as_str().expect("an id").to_string()
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// One source running cycles against a simulator, with its checkpoints and
/// its event file in a temporary directory.
pub struct Pipeline {
    /// The simulator.
    pub sim: o365_simulator::Simulator,
    /// The runtime.
    pub rt: Arc<Runtime>,
    /// The source under test (its component can be swapped).
    pub source: Arc<o365_host::pipeline::LiveSource>,
    /// The gate towards the simulator.
    pub gate: Arc<Gate>,
    /// Checkpoints.
    pub store: o365_host::checkpoint::LocalStore,
    /// The JSON-lines event file.
    pub events: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Pipeline {
    /// A simulator with `tenant`, and the source `make_source` builds for its URL.
    pub async fn start<F, Fut>(
        tenant: o365_simulator::TenantSpec,
        network: NetworkConfig,
        make_source: F,
    ) -> Self
    where
        F: FnOnce(Arc<Runtime>, String) -> Fut,
        Fut: std::future::Future<Output = o365_host::pipeline::Source>,
    {
        let sim = o365_simulator::Simulator::start(o365_simulator::SimulatorConfig {
            tenants: vec![tenant],
            ..o365_simulator::SimulatorConfig::default()
        })
        .await
        .unwrap();
        let rt = runtime(256, Duration::from_secs(60));
        let source = make_source(rt.clone(), sim.url()).await;
        let gate = simulator_gate(&sim.url(), network);
        let dir = tempfile::tempdir().unwrap();
        Self {
            store: o365_host::checkpoint::LocalStore::new(dir.path().join("state")),
            events: dir.path().join("events.jsonl"),
            sim,
            rt,
            source: Arc::new(source.into()),
            gate,
            _dir: dir,
        }
    }

    /// Sets the checkpoint to resume at `ms`.
    pub fn resume_at(&self, ms: i64) {
        let mut checkpoint = o365_host::checkpoint::Checkpoint::starting_at(ms);
        if let Some(old) = self.checkpoint() {
            checkpoint.version = old.version;
        }
        self.store
            .save_blocking(
                self.source.name(),
                o365_simulator::DEFAULT_TENANT,
                &mut checkpoint,
            )
            .unwrap();
    }

    /// Runs one cycle at `now` (ms), with fast retries.
    pub async fn cycle(&self, now: i64) -> o365_host::pipeline::CycleReport {
        self.cycle_until(now, None).await
    }

    /// Runs one cycle at `now` (ms), with fast retries, stopping at `deadline`.
    pub async fn cycle_until(
        &self,
        now: i64,
        deadline: Option<o365_host::pipeline::Deadline>,
    ) -> o365_host::pipeline::CycleReport {
        use o365_host::pipeline::{CycleOptions, PipelineOptions, RetryPolicy};
        let options = CycleOptions {
            pipeline: PipelineOptions {
                concurrency: 16,
                retry: RetryPolicy {
                    max_attempts: 8,
                    base: Duration::from_millis(50),
                    max: Duration::from_secs(5),
                },
                deadline,
            },
            ..CycleOptions::default()
        };
        let mut sink = o365_host::sink::JsonLinesSink::append_to(&self.events)
            .await
            .unwrap();
        o365_host::pipeline::run_cycle(
            &self.rt,
            self.source.as_ref(),
            o365_simulator::DEFAULT_TENANT,
            self.gate.clone(),
            &self.store,
            &mut sink,
            &options,
            now,
        )
        .await
        .unwrap()
    }

    /// The stored checkpoint.
    pub fn checkpoint(&self) -> Option<o365_host::checkpoint::Checkpoint> {
        self.store
            .load_blocking(self.source.name(), o365_simulator::DEFAULT_TENANT)
            .unwrap()
    }

    /// The ids of the audit events in blobs created in `[from, to)` (ms)
    /// that must be published (records of ignored sources left out) and
    /// that `keep` keeps.
    pub fn audit_ids_where(
        &self,
        from: i64,
        to: i64,
        keep: impl Fn(&o365_simulator::AuditTruth) -> bool,
    ) -> std::collections::BTreeSet<String> {
        self.sim
            .audit_truth(o365_simulator::DEFAULT_TENANT, at(from)..at(to))
            .into_iter()
            .filter(|t| !t.ignored_source && keep(t))
            .map(|t| t.event_id)
            .collect()
    }

    /// The ids of the audit events in blobs created in `[from, to)` (ms)
    /// that must be published.
    pub fn audit_ids(&self, from: i64, to: i64) -> std::collections::BTreeSet<String> {
        self.audit_ids_where(from, to, |_| true)
    }

    /// The content id of a blob of `content_type` created in `[from, to)`.
    pub fn audit_blob(
        &self,
        content_type: o365_simulator::ContentType,
        from: i64,
        to: i64,
    ) -> String {
        self.sim
            .audit_truth(o365_simulator::DEFAULT_TENANT, at(from)..at(to))
            .into_iter()
            .find(|t| t.content_type == content_type)
            .expect("a blob in the window")
            .content_id
    }

    /// The published ids, asserting none was published twice.
    pub fn unique_ids(&self) -> std::collections::BTreeSet<String> {
        let ids = published_ids(&self.events);
        let unique: std::collections::BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(ids.len(), unique.len(), "an event was published twice");
        unique
    }
}
