//! The outbound HTTP gate: the one place where a component's `wasi:http`
//! requests leave the sandbox.
//!
//! wasmtime-wasi-http implements `wasi:http` and hands every outgoing request
//! to a hooks object; [`GateHooks`] is ours. It runs three steps, each
//! testable without a guest:
//! 1. [`check`]: the authority must be one the operator's grant admitted for
//!    this component ([`GatePolicy`], built from a
//!    [`crate::grants::Admission`]), and plain `http` may only go to this
//!    machine;
//! 2. [`authorize`]: guest credentials are stripped, and the bearer token is
//!    attached only when the authority was admitted with a granted audience;
//! 3. send: the request is paced through the tenant's budget for the API and
//!    sent through one pooled client with the operator's proxy and timeouts
//!    (or a recorder/replayer); a `401` drops the cached token.
//!
//! Guest-set `Authorization` headers are refused (and recorded) before a
//! request is even built. Nothing else in the host touches a guest's request.

mod authorize;
mod budget;
mod check;
mod hooks;
mod network;
mod policy;
mod recording;
mod transport;

pub use authorize::{authorize, strip_credentials};
pub use budget::{Budgets, Rate};
pub use check::{Checked, check};
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
