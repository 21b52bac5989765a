//! Runs source connectors (WASI 0.2 components) in a sandbox.
//!
//! One [`Runtime`] per process holds the wasmtime `Engine` (pooling
//! allocator, copy-on-write memory images, epoch interruption) and the
//! `Linker` with WASI, `wasi:http` (through the gate) and the host's `log`
//! import. Each component is compiled once (or read from the compile cache)
//! and pre-instantiated; every call then gets a fresh `Store` with a memory
//! limit and a deadline, so a trap, an endless loop or a memory bomb ends
//! that call with a typed error and nothing else. A component that declares
//! itself reusable runs the calls of one cycle on a few warm instances
//! instead ([`reuse`]'s rules).

mod bindings;
mod cache;
mod component;
mod guest_log;
mod invoke;
mod limits;
mod reuse;
mod state;

pub use bindings::types::{
    ConfigError, Counter, Endpoint, Event, FetchError, Info, PlanOutput, PlanRequest,
    RequestBudget, Setting, SettingDoc, SettingKind, StepOutput, Throttle, TimeWindow, WorkItem,
};
pub use bindings::{CONNECTOR_EXPORT, CONTRACT_VERSION};
pub use cache::{CodeSource, CompileCache};
pub use component::{LoadError, LoadedComponent};
pub use invoke::{CallContext, InvokeError};
pub use limits::MemoryLimitExceeded;
pub use reuse::{InstanceCounts, REUSABLE_SECTION, declares_reusable};

use state::InvocationState;
use std::sync::{Arc, Weak};
use std::time::Duration;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How the runtime sandboxes components.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Linear memory one invocation may use.
    pub memory_limit: usize,
    /// Wall-clock time one call (`describe`, `plan`, `step`) may take,
    /// waiting on the network included.
    pub call_deadline: Duration,
    /// Invocations that may run at once (the size of the instance pool).
    pub max_instances: u32,
    /// Bytes of guest stdout/stderr logged per invocation.
    pub guest_log_limit: usize,
    /// Instances of reusable components kept warm between the calls of a
    /// cycle (they count against `max_instances`); 0 gives every call a
    /// fresh instance.
    pub idle_instances: u32,
    /// How long an idle instance is kept for the next call.
    pub idle_ttl: Duration,
    /// Where compiled components are cached; none compiles every time.
    pub cache: Option<CompileCache>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            memory_limit: 512 * 1024 * 1024,
            call_deadline: Duration::from_secs(300),
            max_instances: 64,
            guest_log_limit: 64 * 1024,
            idle_instances: 32,
            idle_ttl: Duration::from_secs(10),
            cache: None,
        }
    }
}

/// How often the epoch advances: the granularity at which a running guest
/// yields to the executor, so that deadlines fire even in a tight loop.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The component runtime. Cheap to share behind an `Arc`.
pub struct Runtime {
    engine: Engine,
    linker: Linker<InvocationState>,
    config: RuntimeConfig,
    /// One permit per instance slot (a call waits for a slot instead of
    /// failing when the pool is full), and the idle instances.
    instances: reuse::InstancePool,
}

/// Errors creating the runtime.
#[derive(Debug, thiserror::Error)]
#[error("could not start the component runtime: {0:#}")]
pub struct RuntimeError(wasmtime::Error);

impl Runtime {
    /// Creates the engine and linker, and starts the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Arc<Self>, RuntimeError> {
        let engine = match Engine::new(&engine_config(&config, true)) {
            Ok(engine) => engine,
            Err(e) => {
                // The pooling allocator reserves address space up front; in a
                // sandbox that limits it, run with on-demand allocation.
                tracing::warn!(
                    "pooling allocator unavailable ({e:#}); using on-demand instance allocation"
                );
                Engine::new(&engine_config(&config, false)).map_err(RuntimeError)?
            }
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(RuntimeError)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(RuntimeError)?;
        bindings::log::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).map_err(RuntimeError)?;
        bindings::types::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(RuntimeError)?;
        let instances = reuse::InstancePool::new(
            config.max_instances.max(1) as usize,
            config.idle_instances as usize,
            config.idle_ttl,
        );
        let runtime = Arc::new(Self {
            engine,
            linker,
            config,
            instances,
        });
        start_epoch_ticker(Arc::downgrade(&runtime))
            .map_err(|e| RuntimeError(wasmtime::Error::msg(format!("epoch thread: {e}"))))?;
        Ok(runtime)
    }

    /// The runtime's configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Instances of reusable components idle right now.
    pub fn idle_instances(&self) -> usize {
        self.instances.idle_count()
    }

    /// Calls so far (`describe` included), by whether they ran on a fresh
    /// instance or a warm one.
    pub fn instance_counts(&self) -> InstanceCounts {
        self.instances.counts()
    }
}

fn engine_config(config: &RuntimeConfig, pooling: bool) -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true)
        .epoch_interruption(true)
        .memory_init_cow(true)
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    // `perf record` sees guest functions by name with a perf map
    // (`O365_WASM_PROFILER=perfmap`, a profiling aid, off by default).
    if std::env::var("O365_WASM_PROFILER").is_ok_and(|v| v == "perfmap") {
        c.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if pooling {
        let n = config.max_instances.max(1);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .total_core_instances(n * 16)
            .total_memories(n * 4)
            .total_tables(n * 8)
            .total_stacks(n)
            .max_memory_size(config.memory_limit)
            .max_core_instances_per_component(16)
            .max_memories_per_component(4)
            .max_tables_per_component(8);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    c
}

/// Ticks between two sweeps of expired idle instances (one second).
const SWEEP_EVERY: u32 = 100;

/// Advances the engine's epoch every [`EPOCH_TICK`] for as long as the
/// runtime lives, and drops expired idle instances once a second.
fn start_epoch_ticker(runtime: Weak<Runtime>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            let mut ticks = 0u32;
            while let Some(rt) = runtime.upgrade() {
                rt.engine.increment_epoch();
                ticks = (ticks + 1) % SWEEP_EVERY;
                if ticks == 0 {
                    rt.instances.expire();
                }
                drop(rt);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
}
