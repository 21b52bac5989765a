//! The component's two ways out: HTTP requests and log lines.
//!
//! Behind a trait so that planning and every step run natively in unit
//! tests against scripted answers; [`Wasi`] implements it over the SDK's
//! `wasi:http` client and the host's log. Requests go out exactly as asked:
//! the host adds the bearer token and enforces the allow-list.

use connector_sdk::http::{self, HttpError, Response};
use connector_sdk::log;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Routine progress worth seeing in production.
    Info,
    /// Something an operator may need to act on.
    Warn,
}

/// HTTP and logging, as the component's logic sees them.
pub trait Api {
    /// Sends a GET to `url` and returns the whole answer.
    fn get(&mut self, url: &str) -> Result<Response, HttpError>;
    /// Writes a log line through the host.
    fn log(&mut self, level: Level, message: &str);
}

/// The [`Api`] of a running component: the SDK's `wasi:http` client and
/// the host's log.
pub struct Wasi;

impl Api for Wasi {
    fn get(&mut self, url: &str) -> Result<Response, HttpError> {
        http::get(url, &[("Accept", "application/json")])
    }

    fn log(&mut self, level: Level, message: &str) {
        match level {
            Level::Info => log::info(message),
            Level::Warn => log::warn(message),
        }
    }
}

/// An [`Api`] that answers every request with the same body: the step code
/// run natively over a page already in memory (the normalization benchmark).
pub struct Canned<'a>(pub &'a [u8]);

impl Api for Canned<'_> {
    fn get(&mut self, _url: &str) -> Result<Response, HttpError> {
        Ok(Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: self.0.to_vec(),
        })
    }

    fn log(&mut self, _level: Level, _message: &str) {}
}
