//! Test doubles: an [`Api`] that answers from a script and records what it
//! was asked, and small builders for answers and contexts.

use std::collections::VecDeque;

use connector_sdk::http::{HttpError, Response};
use connector_sdk::{Context, Setting};

use crate::api::{Api, Level};

/// The tenant every test works for.
pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";
/// 2024-05-01T08:00:00Z.
pub const NOW: i64 = 1_714_550_400_000;
/// The feed root for [`TENANT`] on the default API base.
pub const FEED: &str =
    "https://manage.office.com/api/v1.0/11111111-2222-3333-4444-555555555555/activity/feed";

/// Answers requests in order from a script; a request beyond the script
/// fails the test.
#[derive(Default)]
pub struct ScriptedApi {
    answers: VecDeque<Result<Response, HttpError>>,
    /// Every request, as `GET <url>` or `POST <url>`.
    pub requests: Vec<String>,
    /// Every log line.
    pub logs: Vec<(Level, String)>,
}

impl ScriptedApi {
    /// An API that answers with `answers`, in order.
    pub fn new(answers: impl IntoIterator<Item = Result<Response, HttpError>>) -> Self {
        ScriptedApi {
            answers: answers.into_iter().collect(),
            ..Default::default()
        }
    }

    fn next(&mut self, request: String) -> Result<Response, HttpError> {
        let answer = self
            .answers
            .pop_front()
            .unwrap_or_else(|| panic!("unexpected request {request}"));
        self.requests.push(request);
        answer
    }
}

impl Api for ScriptedApi {
    fn get(&mut self, url: &str) -> Result<Response, HttpError> {
        self.next(format!("GET {url}"))
    }

    fn post(&mut self, url: &str) -> Result<Response, HttpError> {
        self.next(format!("POST {url}"))
    }

    fn log(&mut self, level: Level, message: &str) {
        self.logs.push((level, message.to_string()));
    }
}

/// An answer with `status`, `headers` and `body`.
pub fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Result<Response, HttpError> {
    Ok(Response {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    })
}

/// A 200 answer with a JSON body.
pub fn ok(body: &str) -> Result<Response, HttpError> {
    answer(200, &[], body)
}

/// An API error answer `{"error":{"code":..,"message":..}}`.
pub fn api_error(status: u16, code: &str, message: &str) -> Result<Response, HttpError> {
    answer(
        status,
        &[],
        &format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#),
    )
}

/// A context at `now` with `settings`.
pub fn ctx(now: i64, settings: &[(&str, &str)]) -> Context {
    Context {
        tenant: TENANT.into(),
        now,
        settings: settings
            .iter()
            .map(|(n, v)| Setting {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
    }
}

/// The counters of a call as `(name, value)` pairs.
pub fn counts(counters: &[connector_sdk::Counter]) -> Vec<(&str, u64)> {
    counters
        .iter()
        .map(|c| (c.name.as_str(), c.value))
        .collect()
}
