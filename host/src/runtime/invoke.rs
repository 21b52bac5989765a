//! Calling a loaded component: a fresh store per call (or a warm instance
//! of a reusable component, `super::reuse`), the deadline, and the
//! translation of every way a call can end into an [`InvokeError`] that names
//! the component, the function and the cause.

use super::bindings::types::{Context, Setting};
use super::component::LoadedComponent;
use super::limits::MemoryLimitExceeded;
use super::reuse::Instance;
use super::state::InvocationState;
use super::{
    ConfigError, FetchError, Info, PlanOutput, PlanRequest, Runtime, StepOutput, WorkItem,
};
use crate::gate::{Gate, GatePolicy, Incident};
use crate::tokens::NoTokens;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wasmtime::Store;

/// What a `plan` or `step` call needs besides its input.
#[derive(Clone)]
pub struct CallContext {
    /// The tenant the call works for.
    pub tenant: String,
    /// The host's "now", milliseconds since the epoch.
    pub now_ms: i64,
    /// The component's settings.
    pub settings: Vec<Setting>,
    /// The gate its requests go through.
    pub gate: Arc<Gate>,
    /// What it may reach.
    pub policy: Arc<GatePolicy>,
}

/// How a call to a component ended, when it did not return a result.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The guest trapped (a Rust panic, an `unreachable`, a bad memory access).
    #[error("component `{component}` trapped in {function}(): {message}")]
    Trap {
        /// The component.
        component: String,
        /// The function called.
        function: &'static str,
        /// The trap and what the guest printed before it.
        message: String,
    },
    /// The call ran past its deadline (an endless loop, a hung request).
    #[error(
        "component `{component}` ran past its deadline of {deadline:?} in {function}() and was stopped \
         (raise O365_COMPONENT_DEADLINE if the source is slow)"
    )]
    Deadline {
        /// The component.
        component: String,
        /// The function called.
        function: &'static str,
        /// The deadline.
        deadline: Duration,
    },
    /// The guest asked for more memory than allowed.
    #[error(
        "component `{component}` exceeded its memory limit of {limit} MiB in {function}() and was stopped \
         (raise O365_COMPONENT_MEMORY_MB if its data is that large)",
        limit = limit / (1024 * 1024)
    )]
    MemoryLimit {
        /// The component.
        component: String,
        /// The function called.
        function: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// The gate refused something the component did; the call is void even if
    /// the component carried on.
    #[error(
        "component `{component}` was stopped in {function}(): {}",
        join(incidents)
    )]
    Refused {
        /// The component.
        component: String,
        /// The function called.
        function: &'static str,
        /// What the gate refused.
        incidents: Vec<Incident>,
    },
    /// The component reported a failure of the source.
    #[error(
        "component `{component}` {function}() failed: {}",
        describe_fetch_error(error)
    )]
    Failed {
        /// The component.
        component: String,
        /// The function called.
        function: &'static str,
        /// The component's error.
        error: FetchError,
    },
    /// Every instance slot is busy.
    #[error("no free instance slot for component `{component}` ({function}): {message}")]
    Overloaded {
        /// The component.
        component: String,
        /// The function called.
        function: &'static str,
        /// wasmtime's message.
        message: String,
    },
}

impl InvokeError {
    /// Whether running the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            InvokeError::Failed { error, .. } => {
                matches!(error, FetchError::Throttled(_) | FetchError::Transient(_))
            }
            InvokeError::Deadline { .. } | InvokeError::Overloaded { .. } => true,
            _ => false,
        }
    }

    /// Whether the failure is about this host or its credentials rather than
    /// the work item (a refused token, no token to be had, no free instance):
    /// every item would fail alike, so setting this one aside would not help
    /// and would only empty the window into the set-aside list.
    pub fn is_systemic(&self) -> bool {
        match self {
            InvokeError::Failed { error, .. } => matches!(error, FetchError::Unauthorized(_)),
            InvokeError::Refused { incidents, .. } => incidents
                .iter()
                .any(|i| matches!(i, Incident::TokenUnavailable { .. })),
            InvokeError::Overloaded { .. } => true,
            _ => false,
        }
    }

    /// The delay the source asked for, if it throttled.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            InvokeError::Failed {
                error: FetchError::Throttled(t),
                ..
            } => t.retry_after.map(Duration::from_millis),
            _ => None,
        }
    }
}

fn join(incidents: &[Incident]) -> String {
    incidents
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// One line for a [`FetchError`], kind first.
pub fn describe_fetch_error(error: &FetchError) -> String {
    match error {
        FetchError::Throttled(t) => match t.retry_after {
            Some(ms) => format!("throttled (retry after {ms} ms): {}", t.message),
            None => format!("throttled: {}", t.message),
        },
        FetchError::Unauthorized(m) => format!("unauthorized: {m}"),
        FetchError::Forbidden(m) => format!("forbidden: {m}"),
        FetchError::NotFound(m) => format!("not found: {m}"),
        FetchError::Expired(m) => format!("expired: {m}"),
        FetchError::BadRequest(m) => format!("bad request: {m}"),
        FetchError::Transient(m) => format!("transient: {m}"),
        FetchError::Fatal(m) => format!("fatal: {m}"),
    }
}

enum Call {
    Describe(Vec<Setting>),
    Plan(Context, PlanRequest),
    Step(Context, WorkItem),
}

enum Answer {
    Describe(Result<Info, ConfigError>),
    Plan(Result<PlanOutput, FetchError>),
    Step(Result<StepOutput, FetchError>),
}

impl Call {
    fn name(&self) -> &'static str {
        match self {
            Call::Describe(_) => "describe",
            Call::Plan(..) => "plan",
            Call::Step(..) => "step",
        }
    }
}

/// A gate for `describe`: no transport, no tokens, no endpoints. `describe`
/// must not reach the network, and this makes sure it cannot.
fn offline_gate() -> Arc<Gate> {
    static GATE: OnceLock<Arc<Gate>> = OnceLock::new();
    GATE.get_or_init(|| Arc::new(Gate::new(Arc::new(NoNetwork), Arc::new(NoTokens))))
        .clone()
}

struct NoNetwork;

#[async_trait::async_trait]
impl crate::gate::Transport for NoNetwork {
    async fn send(
        &self,
        request: crate::gate::OutboundRequest,
    ) -> Result<crate::gate::InboundResponse, crate::gate::TransportError> {
        Err(crate::gate::TransportError::Other(format!(
            "describe() may not make requests ({})",
            request.url
        )))
    }
}

impl Runtime {
    /// Asks the component to describe itself with `settings`.
    pub async fn describe(
        &self,
        component: &LoadedComponent,
        settings: &[Setting],
    ) -> Result<Result<Info, ConfigError>, InvokeError> {
        let name = if component.name.is_empty() {
            "(loading)"
        } else {
            &component.name
        };
        let policy = Arc::new(GatePolicy::deny_all(name));
        match self
            .invoke(
                component,
                offline_gate(),
                policy,
                Call::Describe(settings.to_vec()),
            )
            .await?
        {
            Answer::Describe(r) => Ok(r),
            _ => unreachable!("describe answers describe"),
        }
    }

    /// Plans a window into work items.
    pub async fn plan(
        &self,
        component: &LoadedComponent,
        call: &CallContext,
        request: PlanRequest,
    ) -> Result<PlanOutput, InvokeError> {
        let ctx = context(call);
        match self
            .invoke(
                component,
                call.gate.clone(),
                call.policy.clone(),
                Call::Plan(ctx, request),
            )
            .await?
        {
            Answer::Plan(r) => r.map_err(|error| failed(component, "plan", error)),
            _ => unreachable!("plan answers plan"),
        }
    }

    /// Runs one work item.
    pub async fn step(
        &self,
        component: &LoadedComponent,
        call: &CallContext,
        item: WorkItem,
    ) -> Result<StepOutput, InvokeError> {
        let ctx = context(call);
        match self
            .invoke(
                component,
                call.gate.clone(),
                call.policy.clone(),
                Call::Step(ctx, item),
            )
            .await?
        {
            Answer::Step(r) => r.map_err(|error| failed(component, "step", error)),
            _ => unreachable!("step answers step"),
        }
    }

    /// Creates a store and instantiates the component without calling it:
    /// the fixed cost every call pays before the guest runs (benchmarks).
    pub async fn instantiate_only(&self, component: &LoadedComponent) -> Result<(), InvokeError> {
        let policy = Arc::new(GatePolicy::deny_all(&component.name));
        let _slot = self.instances.slot().await;
        let (mut store, _probe) = self.new_store(offline_gate(), policy);
        component
            .pre
            .instantiate_async(&mut store)
            .await
            .map(drop)
            .map_err(|e| InvokeError::Trap {
                component: component.name.clone(),
                function: "instantiate",
                message: format!("{e:#}"),
            })
    }

    /// A fresh store for one instance: the sandbox state, the limiter, and
    /// yielding at every epoch tick so that deadlines fire even while the
    /// guest spins.
    fn new_store(
        &self,
        gate: Arc<Gate>,
        policy: Arc<GatePolicy>,
    ) -> (Store<InvocationState>, super::state::InvocationProbe) {
        let (state, probe) = InvocationState::new(
            gate,
            policy,
            self.config.memory_limit,
            self.config.guest_log_limit,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_async_yield_and_update(1);
        (store, probe)
    }

    /// An instance for one call: a warm one of a reusable component made for
    /// the same gate and policy, or a new store in a free slot (waiting for
    /// one is not part of the call's deadline).
    async fn instance_for(
        &self,
        component: &LoadedComponent,
        gate: &Arc<Gate>,
        policy: &Arc<GatePolicy>,
        reuse: bool,
    ) -> Instance {
        if reuse && let Some(mut warm) = self.instances.take(component.id, gate, policy) {
            warm.store.data_mut().start_call();
            self.instances.count_call(true);
            return warm;
        }
        self.instances.count_call(false);
        let slot = self.instances.slot().await;
        let (store, probe) = self.new_store(gate.clone(), policy.clone());
        Instance::new(store, probe, slot)
    }

    async fn invoke(
        &self,
        component: &LoadedComponent,
        gate: Arc<Gate>,
        policy: Arc<GatePolicy>,
        call: Call,
    ) -> Result<Answer, InvokeError> {
        let function = call.name();
        let name = policy.component.to_string();
        // `describe` runs once per load and settings check, with a policy of
        // its own: nothing to share.
        let reuse = component.reusable && !matches!(call, Call::Describe(_));
        let mut instance = self.instance_for(component, &gate, &policy, reuse).await;
        instance.calls += 1;
        let run = async {
            if instance.source.is_none() {
                instance.source = Some(component.pre.instantiate_async(&mut instance.store).await?);
            }
            let Some(source) = instance.source.as_ref() else {
                unreachable!("instantiated above")
            };
            let guest = source.o365_connector_connector();
            let store = &mut instance.store;
            Ok::<_, wasmtime::Error>(match call {
                Call::Describe(settings) => {
                    Answer::Describe(guest.call_describe(store, &settings).await?)
                }
                Call::Plan(ctx, request) => {
                    Answer::Plan(guest.call_plan(store, &ctx, &request).await?)
                }
                Call::Step(ctx, item) => Answer::Step(guest.call_step(store, &ctx, &item).await?),
            })
        };
        let deadline = self.config.call_deadline;
        let outcome = tokio::time::timeout(deadline, run).await;
        let incidents = instance.probe.incidents.snapshot();
        let refused = |incidents: Vec<Incident>| InvokeError::Refused {
            component: name.clone(),
            function,
            incidents,
        };
        match outcome {
            Err(_elapsed) => Err(InvokeError::Deadline {
                component: name,
                function,
                deadline,
            }),
            Ok(Ok(answer)) if incidents.is_empty() => {
                // Only an instance that finished its call cleanly is kept:
                // after a trap, a deadline or a refusal it is dropped.
                if reuse {
                    self.instances
                        .give_back(component.id, gate, policy, instance);
                }
                Ok(answer)
            }
            Ok(Ok(_)) => Err(refused(incidents)),
            Ok(Err(e)) => {
                if let Some(limit) = e.downcast_ref::<MemoryLimitExceeded>() {
                    return Err(InvokeError::MemoryLimit {
                        component: name,
                        function,
                        limit: limit.limit,
                    });
                }
                if !incidents.is_empty() {
                    return Err(refused(incidents));
                }
                if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                    .is_some()
                {
                    return Err(InvokeError::Overloaded {
                        component: name,
                        function,
                        message: format!("{e:#}"),
                    });
                }
                let mut message = match e.downcast_ref::<wasmtime::Trap>() {
                    Some(trap) => trap.to_string(),
                    None => format!("{e:#}"),
                };
                if let Some(said) = instance.probe.stderr.summary() {
                    message.push_str(&format!(" (its stderr: {said})"));
                }
                Err(InvokeError::Trap {
                    component: name,
                    function,
                    message,
                })
            }
        }
    }
}

fn context(call: &CallContext) -> Context {
    Context {
        tenant: call.tenant.clone(),
        now: call.now_ms,
        settings: call.settings.clone(),
    }
}

fn failed(component: &LoadedComponent, function: &'static str, error: FetchError) -> InvokeError {
    InvokeError::Failed {
        component: component.name.clone(),
        function,
        error,
    }
}
