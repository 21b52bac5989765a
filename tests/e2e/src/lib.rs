//! Helpers shared by the end-to-end tests in `tests/`: a runtime with a
//! shared compile cache, the test components, a gate towards a simulator.

use o365_host::gate::{AllowedEndpoint, Gate, GatePolicy, NetworkConfig, NetworkTransport};
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
        policy: Arc::new(GatePolicy {
            component: info.name.clone().into(),
            tenant: tenant.into(),
            endpoints: info
                .endpoints
                .iter()
                .map(|e| AllowedEndpoint {
                    authority: e.authority.clone(),
                    audience: e.audience.clone(),
                })
                .collect(),
        }),
    }
}
