//! The Management Activity API's answers mapped onto the contract's
//! `fetch-error`, in one place, so that every call (subscriptions, listings,
//! blobs) treats throttling, expiry and permissions the same way.
//!
//! The API reports some conditions by an error code in the JSON body rather
//! than by status: throttling also comes as `403` with `AF429`, expired
//! content as `400` with `AF20051`. Codes are therefore checked before
//! statuses. Error bodies are parsed tolerantly: an HTML error page from a
//! gateway still yields a message with its first bytes.

use connector_sdk::FetchError;
use connector_sdk::api_error::{ApiError, Shape};
use connector_sdk::fetch_error::{by_status, detail, throttled};
use connector_sdk::http::Response;

use crate::urls;

/// Throttled (also sent with HTTP 403).
pub const THROTTLED: &str = "AF429";
/// No subscription for the content type.
pub const NO_SUBSCRIPTION: &str = "AF20022";
/// The subscription for the content type is disabled.
pub const SUBSCRIPTION_DISABLED: &str = "AF20023";
/// The subscription is already enabled (an answer to `start`): the state
/// `start` asked for, not a failure.
pub const ALREADY_ENABLED: &str = "AF20024";
/// The content has expired.
pub const CONTENT_EXPIRED: &str = "AF20051";
/// The content id is not valid.
pub const CONTENT_ID_INVALID: &str = "AF20052";
/// The start time is more than 7 days ago, or the window is too wide.
pub const BAD_WINDOW: &str = "AF20055";

const PERMISSION_HINT: &str = "check that the app registration has the Office 365 Management APIs \
     application permission ActivityFeed.Read (and ActivityFeed.ReadDlp for DLP.All) with admin \
     consent in this tenant";

/// How the API writes its errors: `{"error":{"code":"AF20022","message":"No
/// subscription found ..."}}`, also `{"error":"text"}` or `{code,message}` at
/// the top level; an OData message object's `value` is taken as it stands.
pub const SHAPE: Shape = Shape {
    envelopes: &["error"],
    trim_object_values: false,
};

/// Ok for a 2xx answer; otherwise the matching error. `what` says what was
/// being done (`listing Audit.Exchange content`), `url` where.
pub fn check(response: &Response, what: &str, url: &str) -> Result<(), FetchError> {
    if response.is_success() {
        Ok(())
    } else {
        Err(from_response(
            response,
            &ApiError::parse(&response.body, &SHAPE),
            what,
            url,
        ))
    }
}

/// The error for a non-2xx answer whose body said `api`.
pub fn from_response(response: &Response, api: &ApiError, what: &str, url: &str) -> FetchError {
    let status = response.status;
    let detail = detail(response, api, what, &urls::short(url));
    if status == 429 || api.is(THROTTLED) {
        return throttled(response, detail);
    }
    if api.is(CONTENT_EXPIRED) {
        return FetchError::Expired(detail);
    }
    if api.is(CONTENT_ID_INVALID) {
        return FetchError::NotFound(detail);
    }
    if api.is(BAD_WINDOW) || api.is(NO_SUBSCRIPTION) || api.is(SUBSCRIPTION_DISABLED) {
        return FetchError::BadRequest(detail);
    }
    match status {
        401 => FetchError::Unauthorized(format!(
            "{detail}; the token was refused: {PERMISSION_HINT}"
        )),
        403 => FetchError::Forbidden(format!("{detail}; not permitted: {PERMISSION_HINT}")),
        _ => by_status(response, detail),
    }
}

#[cfg(test)]
mod tests {
    use connector_sdk::testkit::response as answer;

    use super::*;

    fn af(code: &str, message: &str) -> String {
        format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#)
    }

    fn map(response: &Response) -> FetchError {
        check(
            response,
            "listing Audit.Exchange content",
            "https://manage.office.com/api/x",
        )
        .unwrap_err()
    }

    #[test]
    fn success_is_ok() {
        assert!(check(&answer(200, &[], "[]"), "w", "u").is_ok());
        assert!(check(&answer(204, &[], ""), "w", "u").is_ok());
    }

    #[test]
    fn http_429_is_throttled_with_retry_after() {
        match map(&answer(429, &[("Retry-After", "30")], "")) {
            FetchError::Throttled(t) => {
                assert_eq!(t.retry_after, Some(30_000));
                assert!(t.message.contains("HTTP 429"), "{}", t.message);
            }
            other => panic!("{other:?}"),
        }
        match map(&answer(429, &[], "slow down")) {
            FetchError::Throttled(t) => assert_eq!(t.retry_after, None),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn http_403_with_af429_is_throttled_not_forbidden() {
        let r = answer(
            403,
            &[("Retry-After", "5")],
            &af("AF429", "Too many requests. Method=GetBlob"),
        );
        match map(&r) {
            FetchError::Throttled(t) => {
                assert_eq!(t.retry_after, Some(5_000));
                assert!(
                    t.message.contains("AF429: Too many requests"),
                    "{}",
                    t.message
                );
            }
            other => panic!("{other:?}"),
        }
        match map(&answer(403, &[], &af("AF429", "x"))) {
            FetchError::Throttled(t) => assert_eq!(t.retry_after, None),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn content_codes_map_to_expired_and_not_found() {
        let r = answer(
            400,
            &[],
            &af(
                "AF20051",
                "Content requested with the key 1 has already expired.",
            ),
        );
        match map(&r) {
            FetchError::Expired(m) => assert!(m.contains("AF20051: Content requested"), "{m}"),
            other => panic!("{other:?}"),
        }
        match map(&answer(
            400,
            &[],
            &af("AF20052", "Content ID 1 in the URL is invalid."),
        )) {
            FetchError::NotFound(m) => assert!(m.contains("AF20052"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn subscription_and_window_codes_are_bad_requests() {
        for code in ["AF20022", "AF20023", "AF20055"] {
            match map(&answer(400, &[], &af(code, "m"))) {
                FetchError::BadRequest(m) => assert!(m.contains(code), "{m}"),
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn permissions_come_with_the_fix() {
        match map(&answer(401, &[], "")) {
            FetchError::Unauthorized(m) => {
                assert!(
                    m.contains("ActivityFeed.Read") && m.contains("admin consent"),
                    "{m}"
                );
                assert!(m.contains("(empty body)"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        match map(&answer(
            403,
            &[],
            &af(
                "AF10001",
                "The permission set () sent in the request does not include the expected permission.",
            ),
        )) {
            FetchError::Forbidden(m) => {
                assert!(m.contains("ActivityFeed.ReadDlp"), "{m}");
                assert!(m.contains("AF10001"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_failures_are_transient() {
        for status in [408, 500, 502, 503, 504] {
            assert!(
                matches!(
                    map(&answer(status, &[], "<html>Service Unavailable</html>")),
                    FetchError::Transient(_)
                ),
                "{status}"
            );
        }
        assert!(matches!(
            map(&answer(404, &[], "")),
            FetchError::NotFound(_)
        ));
        assert!(matches!(
            map(&answer(400, &[], "nope")),
            FetchError::BadRequest(_)
        ));
    }

    #[test]
    fn messages_name_the_request_url_and_the_body() {
        let m = match map(&answer(503, &[], "<html>gateway down</html>")) {
            FetchError::Transient(m) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            m,
            "listing Audit.Exchange content (https://manage.office.com/api/x): HTTP 503 <html>gateway down</html>"
        );
    }

    #[test]
    fn error_bodies_are_parsed_tolerantly() {
        let p = |s: &str| ApiError::parse(s.as_bytes(), &SHAPE);
        assert_eq!(
            p(&af("AF20022", "No subscription")).code.as_deref(),
            Some("AF20022")
        );
        assert_eq!(
            p("\u{feff}{\"error\":{\"code\":\"AF429\"}}")
                .code
                .as_deref(),
            Some("AF429")
        );
        assert_eq!(
            p(r#"{"code":"AF20051","message":"gone"}"#)
                .message
                .as_deref(),
            Some("gone")
        );
        assert_eq!(
            p(r#"{"error":"plain text"}"#).message.as_deref(),
            Some("plain text")
        );
        let odata = p(r#"{"error":{"code":"X1","message":{"lang":"en","value":"odata text"}}}"#);
        assert_eq!(odata.message.as_deref(), Some("odata text"));
        for junk in [
            "",
            "<html>",
            "[1,2]",
            "null",
            r#"{"error":{"code":42}}"#,
            "{\"error\":",
        ] {
            assert_eq!(p(junk), ApiError::default(), "{junk}");
        }
        assert!(p(&af("af20022", "x")).is(NO_SUBSCRIPTION));
    }
}
