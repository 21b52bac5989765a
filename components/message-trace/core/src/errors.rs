//! Pieces both versions use to turn an answer into a `fetch-error` whose
//! message names what failed, where, and what the API said. Which status
//! means what (and which fix to suggest) is each version's own business.
//!
//! Error bodies are read tolerantly: Graph writes
//! `{"error":{"code":"..","message":".."}}`, the Reporting Web Service an
//! OData error whose message is an object (`{"lang":..,"value":..}`), under
//! `error` or `odata.error`; a gateway may send HTML. Anything unexpected
//! yields an empty [`ApiError`], and the message shows the body's first
//! bytes instead.

use connector_sdk::FetchError;
use connector_sdk::Throttle;
use connector_sdk::http::{HttpError, Response};
use serde_json::Value;

use crate::urls;

/// The API's own error, as far as the body says.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The error code (`Forbidden`, `BadRequest`, ...), if the body had one.
    pub code: Option<String>,
    /// The API's message, if the body had one.
    pub message: Option<String>,
}

impl ApiError {
    /// Reads the error out of a body; anything unexpected yields an empty
    /// error rather than a failure.
    pub fn parse(body: &[u8]) -> ApiError {
        let Ok(value) = serde_json::from_slice::<Value>(strip_bom(body)) else {
            return ApiError::default();
        };
        let inner = match value.get("error").or_else(|| value.get("odata.error")) {
            Some(Value::String(text)) => {
                return ApiError {
                    code: None,
                    message: Some(text.clone()),
                };
            }
            Some(error @ Value::Object(_)) => error,
            _ => &value,
        };
        let text = |v: Option<&Value>| match v {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(Value::Object(m)) => m
                .get("value")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            _ => None,
        };
        ApiError {
            code: text(inner.get("code")),
            message: text(inner.get("message")),
        }
    }

    /// Whether the code is `code`, ignoring case.
    pub fn is(&self, code: &str) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(code))
    }

    /// What the API said, for a message: `code: message`, one of them, or
    /// the body's first bytes.
    pub fn said(&self, response: &Response) -> String {
        match (&self.code, &self.message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.clone(),
            (None, Some(message)) => message.clone(),
            (None, None) if response.body.is_empty() => "(empty body)".to_string(),
            (None, None) => response.body_snippet(200),
        }
    }
}

/// `what (url): HTTP status said`: the start of every message about a
/// failed answer.
pub fn detail(response: &Response, api: &ApiError, what: &str, url: &str) -> String {
    format!(
        "{what} ({}): HTTP {} {}",
        urls::short(url),
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

/// The body without a UTF-8 byte order mark, which some Microsoft
/// endpoints put in front of JSON and which JSON parsers refuse.
pub fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("retry-after".into(), "7".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn graph_and_odata_errors_are_read() {
        let graph = ApiError::parse(
            br#"{"error":{"code":"Forbidden","message":"Missing role permissions.","innerError":{"request-id":"x"}}}"#,
        );
        assert_eq!(graph.code.as_deref(), Some("Forbidden"));
        assert_eq!(graph.message.as_deref(), Some("Missing role permissions."));
        let odata = ApiError::parse(
            br#"{"error":{"code":"","message":{"lang":"en-US","value":"Access denied."}}}"#,
        );
        assert_eq!(
            odata,
            ApiError {
                code: None,
                message: Some("Access denied.".into())
            }
        );
        let light = ApiError::parse(
            "\u{feff}{\"odata.error\":{\"code\":\"UnknownError\",\"message\":{\"lang\":\"\",\"value\":\"An error has occurred on the server.\"}}}".as_bytes(),
        );
        assert!(light.is("unknownerror"));
        assert_eq!(
            light.message.as_deref(),
            Some("An error has occurred on the server.")
        );
        for junk in ["", "<html>", "[1]", "null", r#"{"error":{"code":42}}"#] {
            assert_eq!(
                ApiError::parse(junk.as_bytes()),
                ApiError::default(),
                "{junk}"
            );
        }
    }

    #[test]
    fn details_name_the_request_and_what_was_said() {
        let r = answer(503, "<html>down</html>");
        assert_eq!(
            detail(
                &r,
                &ApiError::parse(&r.body),
                "reading message traces",
                "https://h/x"
            ),
            "reading message traces (https://h/x): HTTP 503 <html>down</html>"
        );
        let r = answer(401, "");
        assert!(detail(&r, &ApiError::default(), "w", "u").ends_with("HTTP 401 (empty body)"));
        match throttled(&r, "slow".into()) {
            FetchError::Throttled(t) => {
                assert_eq!((t.retry_after, t.message.as_str()), (Some(7_000), "slow"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn network_errors_keep_their_kind_and_gain_context() {
        match network(HttpError::Transport("reset".into()), "reading page") {
            FetchError::Transient(m) => assert_eq!(m, "reading page: network error: reset"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            network(HttpError::Refused("no".into()), "x"),
            FetchError::Fatal(m) if m.starts_with("x: refused by the host")
        ));
    }

    #[test]
    fn malformed_bodies_show_their_first_bytes() {
        match malformed("page p", "not JSON", &answer(200, "{\"value\":[")) {
            FetchError::Fatal(m) => assert_eq!(m, "page p: not JSON; body starts `{\"value\":[`"),
            other => panic!("{other:?}"),
        }
        match malformed("p", "empty", &answer(200, "")) {
            FetchError::Fatal(m) => assert!(m.ends_with("(empty body)"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
