//! The connector's two ways out: HTTP requests and log lines.
//!
//! Behind a trait so that planning and every step run natively in unit
//! tests against scripted answers; `lib.rs` implements it over the SDK's
//! `wasi:http` client and the host's log. Requests go out exactly as asked:
//! the host adds the bearer token and enforces the allow-list.

use connector_sdk::http::{HttpError, Response};

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Routine progress worth seeing in production.
    Info,
    /// Something an operator may need to act on.
    Warn,
}

/// HTTP and logging, as the connector's logic sees them.
pub trait Api {
    /// Sends a GET to `url` and returns the whole answer.
    fn get(&mut self, url: &str) -> Result<Response, HttpError>;
    /// Sends a POST with an empty body to `url`.
    fn post(&mut self, url: &str) -> Result<Response, HttpError>;
    /// Writes a log line through the host.
    fn log(&mut self, level: Level, message: &str);
}
