//! The request log: every request any listener received, in arrival order,
//! with the Authorization header it carried, so tests can assert what a
//! client sent where (retries, pagination, tokens leaking to foreign hosts).

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;

/// Which listener received a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Listener {
    /// The plain-HTTP API listener ([`crate::Simulator::url`]).
    Main,
    /// The HTTPS API listener ([`crate::Simulator::https_url`]).
    Tls,
    /// The listener no connector may call ([`crate::Simulator::foreign_url`]).
    Foreign,
}

impl Listener {
    /// The URL scheme this listener speaks.
    pub(crate) fn scheme(self) -> &'static str {
        if self == Listener::Tls {
            "https"
        } else {
            "http"
        }
    }
}

/// One received request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// The listener that received it.
    pub listener: Listener,
    /// HTTP method.
    pub method: String,
    /// `Host` header (or URI authority).
    pub authority: String,
    /// Path and query as sent.
    pub path_and_query: String,
    /// The `Authorization` header, verbatim.
    pub authorization: Option<String>,
    /// Response status (0 while the response is still being produced).
    pub status: u16,
    /// Arrival time (simulated clock).
    pub at: DateTime<Utc>,
}

/// Shared request log.
#[derive(Clone, Default)]
pub(crate) struct RequestLog {
    records: Arc<Mutex<Vec<RequestRecord>>>,
}

impl RequestLog {
    /// All records so far.
    pub(crate) fn snapshot(&self) -> Vec<RequestRecord> {
        self.lock().clone()
    }

    fn push(&self, record: RequestRecord) -> usize {
        let mut records = self.lock();
        records.push(record);
        records.len() - 1
    }

    fn set_status(&self, index: usize, status: u16) {
        if let Some(record) = self.lock().get_mut(index) {
            record.status = status;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RequestRecord>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The request's authority: `Host` header, else the URI's authority.
pub(crate) fn authority(request_parts: &axum::http::request::Parts) -> String {
    request_parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| request_parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default()
}

/// Middleware recording each request (except the `/_sim/` admin surface) and
/// telling handlers which listener received it (a request extension).
pub(crate) async fn record(
    State((log, clock, listener)): State<(RequestLog, Clock, Listener)>,
    mut request: Request,
    next: Next,
) -> Response {
    request.extensions_mut().insert(listener);
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    if path_and_query.starts_with("/_sim/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let index = log.push(RequestRecord {
        listener,
        method: parts.method.to_string(),
        authority: authority(&parts),
        path_and_query,
        authorization: parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        status: 0,
        at: clock.now(),
    });
    let response = next.run(Request::from_parts(parts, body)).await;
    log.set_status(index, response.status().as_u16());
    response
}
