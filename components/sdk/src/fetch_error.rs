//! The contract's `fetch-error` for an answer that went wrong: a failed
//! status, no answer at all, or a body that is not what the API documents.
//!
//! Every message names what was being done, where, and what the API said,
//! so that an operator can act on it without a trace. Which status means
//! what for a given API, and which fix to suggest, stays with each
//! component: it checks its API's own codes and adds its hints first, and
//! leaves the rest to [`by_status`].

use crate::api_error::ApiError;
use crate::http::{HttpError, Response};
use crate::{FetchError, Throttle};

/// `what (url): HTTP status said`: the start of every message about a
/// failed answer. `url` is given as it should appear (components cut long
/// URLs with [`crate::url::short`]).
pub fn detail(response: &Response, api: &ApiError, what: &str, url: &str) -> String {
    format!(
        "{what} ({url}): HTTP {} {}",
        response.status,
        api.said(response)
    )
}

/// A throttling answer with its `Retry-After`.
pub fn throttled(response: &Response, message: String) -> FetchError {
    FetchError::Throttled(Throttle {
        retry_after: response.retry_after_ms(),
        message,
    })
}

/// The error a non-2xx status means when neither the body nor the API's
/// own rules say more: `429` throttled, `401` unauthorized, `403`
/// forbidden, `404` not found, `408` and `5xx` transient, anything else a
/// bad request. `message` is the whole message, usually [`detail`].
pub fn by_status(response: &Response, message: String) -> FetchError {
    match response.status {
        429 => throttled(response, message),
        401 => FetchError::Unauthorized(message),
        403 => FetchError::Forbidden(message),
        404 => FetchError::NotFound(message),
        408 | 500..=599 => FetchError::Transient(message),
        _ => FetchError::BadRequest(message),
    }
}

/// A request that produced no answer, with what was being done.
pub fn network(error: HttpError, what: &str) -> FetchError {
    match FetchError::from(error) {
        FetchError::Transient(m) => FetchError::Transient(format!("{what}: {m}")),
        FetchError::Fatal(m) => FetchError::Fatal(format!("{what}: {m}")),
        other => other,
    }
}

/// A 2xx answer whose body is not what the API documents: `fatal`, since
/// asking again gets the same body. Names what was fetched, what was wrong,
/// and the body's first bytes.
pub fn malformed(what: &str, problem: &str, response: &Response) -> FetchError {
    let start = if response.body.is_empty() {
        "(empty body)".to_string()
    } else {
        format!("body starts `{}`", response.body_snippet(120))
    };
    FetchError::Fatal(format!("{what}: {problem}; {start}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::response;

    #[test]
    fn details_name_the_request_the_url_and_what_was_said() {
        let r = response(503, &[], "<html>down</html>");
        assert_eq!(
            detail(
                &r,
                &ApiError::default(),
                "reading message traces",
                "https://h/x"
            ),
            "reading message traces (https://h/x): HTTP 503 <html>down</html>"
        );
        let api = ApiError {
            code: Some("AF20022".into()),
            message: Some("No subscription".into()),
        };
        assert_eq!(
            detail(&response(400, &[], "{}"), &api, "listing", "u"),
            "listing (u): HTTP 400 AF20022: No subscription"
        );
        let r = response(401, &[], "");
        assert!(detail(&r, &ApiError::default(), "w", "u").ends_with("HTTP 401 (empty body)"));
    }

    #[test]
    fn throttling_keeps_retry_after() {
        let r = response(429, &[("Retry-After", "7")], "");
        match throttled(&r, "slow".into()) {
            FetchError::Throttled(t) => {
                assert_eq!((t.retry_after, t.message.as_str()), (Some(7_000), "slow"))
            }
            other => panic!("{other:?}"),
        }
        match throttled(&response(429, &[], ""), "slow".into()) {
            FetchError::Throttled(t) => assert_eq!(t.retry_after, None),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statuses_map_onto_the_contract() {
        let kind =
            |status| match by_status(&response(status, &[("Retry-After", "3")], ""), "m".into()) {
                FetchError::Throttled(t) => {
                    assert_eq!((t.retry_after, t.message.as_str()), (Some(3_000), "m"));
                    "throttled"
                }
                FetchError::Unauthorized(m) if m == "m" => "unauthorized",
                FetchError::Forbidden(m) if m == "m" => "forbidden",
                FetchError::NotFound(m) if m == "m" => "not-found",
                FetchError::Transient(m) if m == "m" => "transient",
                FetchError::BadRequest(m) if m == "m" => "bad-request",
                other => panic!("{status}: {other:?}"),
            };
        assert_eq!(kind(429), "throttled");
        assert_eq!(kind(401), "unauthorized");
        assert_eq!(kind(403), "forbidden");
        assert_eq!(kind(404), "not-found");
        for status in [408, 500, 502, 503, 504, 599] {
            assert_eq!(kind(status), "transient", "{status}");
        }
        for status in [300, 400, 405, 409, 410, 413] {
            assert_eq!(kind(status), "bad-request", "{status}");
        }
    }

    #[test]
    fn network_errors_keep_their_kind_and_gain_context() {
        match network(HttpError::Transport("reset".into()), "fetching content c1") {
            FetchError::Transient(m) => assert_eq!(m, "fetching content c1: network error: reset"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            network(HttpError::Refused("no".into()), "x"),
            FetchError::Fatal(m) if m.starts_with("x: refused by the host")
        ));
        assert!(matches!(
            network(HttpError::TooLarge("big".into()), "x"),
            FetchError::Fatal(m) if m == "x: response too large: big"
        ));
    }

    #[test]
    fn malformed_bodies_show_their_first_bytes() {
        match malformed(
            "content c1 (Audit.Exchange)",
            "not a JSON array",
            &response(200, &[], "{\"oops\":1}"),
        ) {
            FetchError::Fatal(m) => assert_eq!(
                m,
                "content c1 (Audit.Exchange): not a JSON array; body starts `{\"oops\":1}`"
            ),
            other => panic!("{other:?}"),
        }
        match malformed("p", "empty", &response(200, &[], "")) {
            FetchError::Fatal(m) => assert!(m.ends_with("(empty body)"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
