//! A simulator of the Microsoft endpoints the connectors call: Entra ID v2
//! tokens, the Office 365 Management Activity API, Graph message traces and
//! the Exchange Reporting Web Service.
//!
//! It speaks their documented wire formats, errors included, so connectors
//! and the host can be tested end to end without a tenant: data is generated
//! lazily and deterministically from a seed, keeps arriving as wall-clock
//! time passes, and can be compared with the ground truth
//! ([`Simulator::audit_truth`], [`Simulator::trace_truth`]). Failures are
//! injected on demand ([`Faults`]), and every request is logged
//! ([`Simulator::requests`]). Use it in-process from Rust tests, from another
//! process through the `/_sim/` admin routes, or from the command line
//! ([`run_cli`]).

// Handlers answer failures with ready-made responses in each API's own error
// format; they are built once per failed request, so their size is no cost.
#![allow(clippy::result_large_err)]

mod admin;
mod assertion;
mod cli;
mod clock;
mod config;
mod credentials;
mod data;
mod errors;
mod faults;
mod log;
mod ratelimit;
mod rng;
mod routes;
mod server;
mod state;
mod timefmt;
mod tls;
mod tokens;

pub use cli::{SimulateArgs, run_cli};
pub use config::{
    ClientSpec, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_IDENTITY_HEADER, DEFAULT_TENANT,
    MANAGED_IDENTITY_CLIENT_ID, SimulatorConfig, TenantSpec, numbered_tenant,
};
pub use credentials::{TestCertificate, TestKey};
pub use data::{AuditTruth, ContentType, TraceTruth};
pub use faults::{FaultKind, FaultRule, Faults, Target};
pub use log::{Listener, RequestRecord};
pub use server::Simulator;
