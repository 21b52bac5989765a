//! The o365-activity-to-eventhubs host: a small serverless runtime for
//! Microsoft 365 source connectors compiled to WASI 0.2 components.
//!
//! The host owns everything privileged; components only fetch and normalize.
//! One folder per concern:
//! - [`runtime`]: wasmtime engine, sandbox, limits, calls into components;
//! - [`grants`]: what the operator lets each source reach, checked at load;
//! - [`gate`]: the outbound HTTP gate every guest request passes;
//! - [`tokens`]: access tokens per tenant and audience;
//! - [`secrets`]: where the app's certificate PEM is read (Key Vault, a file);
//! - [`settings`]: operator settings, and the ones handed to components;
//! - [`pipeline`]: running a window of work items with bounded concurrency;
//! - [`checkpoint`]: what is fully published, per tenant and source;
//! - [`sink`]: where events go;
//! - [`telemetry`]: typed events that log and count together;
//! - [`schedule`]: NCRONTAB schedules;
//! - [`functions`]: the Azure Functions custom handler;
//! - [`cli`]: the `o365-host` command line.

pub mod azure;
pub mod checkpoint;
pub mod cli;
pub mod fmt;
pub mod functions;
pub mod gate;
pub mod grants;
pub mod pipeline;
pub mod registry;
pub mod runtime;
pub mod scale;
pub mod schedule;
pub mod secrets;
pub mod settings;
pub mod sink;
pub mod telemetry;
pub mod tokens;
