//! The outbound HTTP gate: the one place where a component's `wasi:http`
//! requests leave the sandbox.
//!
//! wasmtime-wasi-http implements `wasi:http` and hands every outgoing request
//! to a hooks object; [`GateHooks`] is ours. It refuses authorities the
//! component did not declare and plain `http` off this machine, forbids
//! guest-set credentials, paces requests through the tenant's budget for the
//! API, attaches the bearer token for the endpoint's audience, and sends through one pooled client with the operator's proxy
//! and timeouts (or a recorder/replayer). Nothing else in the host touches a
//! guest's request.

mod budget;
mod hooks;
mod network;
mod policy;
mod recording;
mod transport;

pub use budget::{Budgets, Rate};
pub use hooks::GateHooks;
pub use network::{NetworkConfig, NetworkConfigError, NetworkTransport, ProxyConfig};
pub use policy::{
    AllowedEndpoint, GatePolicy, Incident, IncidentLog, is_loopback, normalize_authority,
};
pub use recording::{Exchange, Recorder, Replayer};
pub use transport::{InboundResponse, OutboundRequest, Transport, TransportError};

use crate::tokens::TokenProvider;
use std::sync::Arc;

/// State shared by every invocation: how requests are sent and where tokens
/// come from.
pub struct Gate {
    /// Sends the requests that pass the checks.
    pub transport: Arc<dyn Transport>,
    /// Tokens for allowed endpoints with an audience.
    pub tokens: Arc<dyn TokenProvider>,
    /// Largest request body a component may send.
    pub max_request_bytes: usize,
    /// The request budgets of every tenant and API.
    pub budgets: Budgets,
}

impl Gate {
    /// A gate over `transport` with tokens from `tokens`.
    pub fn new(transport: Arc<dyn Transport>, tokens: Arc<dyn TokenProvider>) -> Self {
        Self {
            transport,
            tokens,
            max_request_bytes: 1024 * 1024,
            budgets: Budgets::default(),
        }
    }
}
