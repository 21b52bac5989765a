//! Running under Azure Functions as a custom handler.
//!
//! A custom handler is a web server the Functions host starts with the
//! command in `host.json` (`customHandler.description`), on the port it
//! passes in `FUNCTIONS_CUSTOMHANDLER_PORT`. Each trigger (here, a timer per
//! source, declared in `functions/<name>/function.json` with the schedule
//! setting as `%NAME%`) becomes a `POST /<name>` with a JSON payload, and the
//! answer's status and JSON decide whether the invocation succeeded
//! ([`protocol`]). Non-HTTP triggers need the extension bundle in
//! `host.json`. So the Functions host does the scheduling, scale-out and
//! invocation bookkeeping, and this host stays the same program as `once`.
//!
//! - [`protocol`]: the request and response payloads;
//! - [`server`]: the routes, one handler per function name ([`Invoke`]);
//! - [`routes`]: the functions this app declares;
//! - [`timeout`]: the `functionTimeout` the run must finish within;
//! - [`logs`]: what an invocation reports in its `Logs`.
//!
//! Microsoft's documentation:
//! <https://learn.microsoft.com/azure/azure-functions/functions-custom-handlers>,
//! <https://learn.microsoft.com/azure/azure-functions/functions-bindings-timer>,
//! <https://learn.microsoft.com/azure/azure-functions/functions-host-json>,
//! <https://learn.microsoft.com/azure/azure-functions/functions-scale#timeout>.

pub mod logs;
pub mod protocol;
pub mod routes;
pub mod server;
pub mod timeout;

pub use protocol::{InvocationRequest, InvocationResponse, TimerInfo};
pub use routes::{TIMER_FUNCTIONS, TimerFunction};
pub use server::{Functions, Invocation, InvocationContext, Invoke, PORT_SETTING, listen_port};
pub use timeout::{FunctionTimeout, resolve as resolve_timeout};
