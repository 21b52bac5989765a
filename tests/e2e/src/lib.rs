//! Helpers shared by the end-to-end tests in `tests/`: a runtime with a
//! shared compile cache, the test components, a gate towards a simulator.

use o365_host::gate::{Gate, GatePolicy, NetworkConfig, NetworkTransport};
use o365_host::runtime::{
    CallContext, CompileCache, Info, LoadedComponent, Runtime, RuntimeConfig, Setting,
};
use o365_host::tokens::TokenProvider;
use std::sync::Arc;
use std::time::Duration;

/// A compile cache shared by every test process, so each component is
/// compiled once per build rather than once per test. It sits beside the
/// built components (`<target>/<profile>/guest/`).
pub fn shared_cache() -> CompileCache {
    let guest_dir = std::path::Path::new(connector_artifacts::TESTBED_PATH)
        .ancestors()
        .nth(3)
        .expect("the testbed lies in <guest>/wasm32-wasip2/release/");
    CompileCache::new(guest_dir.join("component-cache"))
}

/// A runtime with test-sized limits.
pub fn runtime(memory_mb: usize, deadline: Duration) -> Arc<Runtime> {
    Runtime::new(RuntimeConfig {
        memory_limit: memory_mb * 1024 * 1024,
        call_deadline: deadline,
        max_instances: 16,
        cache: Some(shared_cache()),
        ..RuntimeConfig::default()
    })
    .expect("runtime")
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

/// A call context for `tenant` with the endpoints `info` declares, sending
/// over the real network with `tokens`.
pub fn call_context(
    info: &Info,
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
        policy: Arc::new(GatePolicy::from_endpoints(
            &info.name,
            tenant,
            &info.endpoints,
        )),
    }
}

/// An audit source against `api` (a simulator), as a deployment configures it.
pub async fn audit_source(runtime: &Runtime, api: &str) -> o365_host::pipeline::Source {
    let component = runtime
        .load_file(std::path::Path::new(connector_artifacts::AUDIT_PATH))
        .await
        .expect("audit loads");
    let settings = settings(&[("O365_MANAGEMENT_API", api)]);
    let info = runtime
        .describe(&component, &settings)
        .await
        .unwrap()
        .expect("settings accepted");
    o365_host::pipeline::Source {
        name: "audit".into(),
        legacy_container: Some("auditlogstate".into()),
        component: Arc::new(component),
        info,
        settings,
    }
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
