//! Test support for components' native unit tests (feature `testkit`,
//! enabled through their dev-dependencies only, so never in a component).
//!
//! Each component runs its planning and steps natively against a scripted
//! API ([`Script`]) and compares what its steps publish with golden files
//! ([`Golden`]), checked against the envelope schema in `docs/`
//! ([`conforms`]). Keeping these here means every component's tests check
//! the envelope by the same rules; what differs (the component's own `Api`
//! trait, its golden directory and fixed times) stays with the component.

mod golden;
mod schema;
mod script;

pub use golden::Golden;
pub use schema::{conforms, schema};
pub use script::Script;

use crate::http::{HttpError, Response};
use crate::{Context, Counter, Setting};

/// The tenant every test works for.
pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";

/// A response with `status`, `headers` (names are lower-cased, as the HTTP
/// client delivers them) and `body`.
pub fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
    Response {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

/// [`response`] as a scripted answer.
pub fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Result<Response, HttpError> {
    Ok(response(status, headers, body))
}

/// A 200 answer with `body`.
pub fn ok(body: &str) -> Result<Response, HttpError> {
    answer(200, &[], body)
}

/// Settings from `(name, value)` pairs.
pub fn settings(pairs: &[(&str, &str)]) -> Vec<Setting> {
    pairs
        .iter()
        .map(|(n, v)| Setting {
            name: n.to_string(),
            value: v.to_string(),
        })
        .collect()
}

/// A context for [`TENANT`] at `now` with `settings`.
pub fn ctx(now: i64, settings: &[(&str, &str)]) -> Context {
    Context {
        tenant: TENANT.into(),
        now,
        settings: self::settings(settings),
    }
}

/// The counters of a call as `(name, value)` pairs.
pub fn counts(counters: &[Counter]) -> Vec<(&str, u64)> {
    counters
        .iter()
        .map(|c| (c.name.as_str(), c.value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counter;

    #[test]
    fn builders_build_what_they_say() {
        let r = ok("[]").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, b"[]".as_slice()));
        let r = response(429, &[("Retry-After", "5")], "");
        assert_eq!(r.header("retry-after"), Some("5"));
        assert_eq!(r.headers, [("retry-after".to_string(), "5".to_string())]);
        let cx = ctx(42, &[("A", "1"), ("B", "")]);
        assert_eq!((cx.tenant.as_str(), cx.now), (TENANT, 42));
        assert_eq!(cx.settings.len(), 2);
        assert_eq!(
            (cx.settings[1].name.as_str(), cx.settings[1].value.as_str()),
            ("B", "")
        );
        assert_eq!(
            counts(&[counter("pages", 1), counter("events", 3)]),
            [("pages", 1), ("events", 3)]
        );
    }
}
