//! Test doubles: the SDK's scripted API as this connector's [`Api`], and
//! the fixed tenant, time and feed every test works with. The builders for
//! answers and contexts are the SDK's test kit.

use connector_sdk::http::{HttpError, Response};
use connector_sdk::testkit::Script;
pub use connector_sdk::testkit::{TENANT, answer, counts, ctx, ok};

use crate::api::{Api, Level};

/// 2024-05-01T08:00:00Z.
pub const NOW: i64 = 1_714_550_400_000;
/// The feed root for [`TENANT`] on the default API base.
pub const FEED: &str =
    "https://manage.office.com/api/v1.0/11111111-2222-3333-4444-555555555555/activity/feed";

/// Answers requests in order from a script, recording each as
/// `GET <url>` or `POST <url>`; a request beyond the script fails the test.
pub type ScriptedApi = Script<Level>;

impl Api for ScriptedApi {
    fn get(&mut self, url: &str) -> Result<Response, HttpError> {
        self.respond(format!("GET {url}"))
    }

    fn post(&mut self, url: &str) -> Result<Response, HttpError> {
        self.respond(format!("POST {url}"))
    }

    fn log(&mut self, level: Level, message: &str) {
        self.push_log(level, message);
    }
}

/// An API error answer `{"error":{"code":..,"message":..}}`.
pub fn api_error(status: u16, code: &str, message: &str) -> Result<Response, HttpError> {
    answer(
        status,
        &[],
        &format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#),
    )
}
