//! The per-instance store data: a fresh, empty WASI context, the gate's
//! view for this instance's gate policy (one tenant), and the limits. Built
//! for every instance and dropped with it, so no state leaks from one
//! instance (or tenant) to the next; a reusable component's instance serves
//! several calls of one cycle, each started with [`InvocationState::start_call`].

use super::bindings::{log, types};
use super::guest_log::{GuestOutput, GuestStream, RecentLines};
use super::limits::InvocationLimits;
use crate::gate::{Gate, GateHooks, GatePolicy, IncidentLog};
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Most log lines (`log.emit`) one invocation may write.
const MAX_LOG_LINES: u32 = 1000;

/// Store data of one invocation.
pub struct InvocationState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: GateHooks,
    pub(super) limits: InvocationLimits,
    component: Arc<str>,
    tenant: Arc<str>,
    log_lines: u32,
    log_limit: usize,
    outputs: [GuestOutput; 2],
}

/// What the runtime reads back after a call.
pub struct InvocationProbe {
    /// Everything the gate refused during the call.
    pub incidents: IncidentLog,
    /// The last lines the guest wrote to stderr (a panic message, for traps).
    pub stderr: RecentLines,
}

impl InvocationState {
    /// A sandbox with no files, no environment, no sockets and stdio going
    /// to the log.
    pub fn new(
        gate: Arc<Gate>,
        policy: Arc<GatePolicy>,
        memory_limit: usize,
        log_limit: usize,
    ) -> (Self, InvocationProbe) {
        let incidents = IncidentLog::default();
        let stderr = RecentLines::default();
        let component = policy.component.clone();
        let tenant = policy.tenant.clone();
        let output = |stream, recent: RecentLines| {
            GuestOutput::new(component.clone(), tenant.clone(), stream, log_limit, recent)
        };
        let outputs = [
            output(GuestStream::Stdout, RecentLines::default()),
            output(GuestStream::Stderr, stderr.clone()),
        ];
        let wasi = WasiCtxBuilder::new()
            .stdout(outputs[0].clone())
            .stderr(outputs[1].clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: GateHooks::new(gate, policy, incidents.clone()),
            limits: InvocationLimits::new(memory_limit),
            component,
            tenant,
            log_lines: 0,
            log_limit,
            outputs,
        };
        (state, InvocationProbe { incidents, stderr })
    }

    /// Starts another call on this instance: the log limits apply afresh
    /// and the stderr lines kept to explain a trap are the new call's own.
    /// (Incidents need no reset: an instance that had one is not reused.)
    pub fn start_call(&mut self) {
        self.log_lines = 0;
        for output in &self.outputs {
            output.start_call(self.log_limit);
        }
    }
}

impl WasiView for InvocationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InvocationState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl types::Host for InvocationState {}

impl log::Host for InvocationState {
    fn emit(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            if self.log_lines == MAX_LOG_LINES + 1 {
                tracing::warn!(target: "component", component = %self.component, tenant = %self.tenant,
                    "component logged more than {MAX_LOG_LINES} lines; the rest of this invocation's lines are dropped");
            }
            return Ok(());
        }
        let (c, t) = (&self.component, &self.tenant);
        match level {
            log::Level::Trace => {
                tracing::trace!(target: "component", component = %c, tenant = %t, "{message}")
            }
            log::Level::Debug => {
                tracing::debug!(target: "component", component = %c, tenant = %t, "{message}")
            }
            log::Level::Info => {
                tracing::info!(target: "component", component = %c, tenant = %t, "{message}")
            }
            log::Level::Warn => {
                tracing::warn!(target: "component", component = %c, tenant = %t, "{message}")
            }
            log::Level::Error => {
                tracing::error!(target: "component", component = %c, tenant = %t, "{message}")
            }
        }
        Ok(())
    }
}
