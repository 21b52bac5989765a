//! How both versions read an error answer: where their APIs put the error
//! in the body, and the start of every message about a failed answer. Which
//! status means what (and which fix to suggest) is each version's own
//! business; the generic mapping is the SDK's
//! [`by_status`](connector_sdk::fetch_error::by_status).
//!
//! Graph writes `{"error":{"code":"..","message":".."}}`, the Reporting Web
//! Service an OData error whose message is an object (`{"lang":..,"value":..}`),
//! under `error` or `odata.error`; a gateway may send HTML. Anything
//! unexpected yields an empty [`ApiError`], and the message shows the body's
//! first bytes instead.

use connector_sdk::api_error::{ApiError, Shape};
use connector_sdk::fetch_error;
use connector_sdk::http::Response;

use crate::urls;

/// Where both APIs put their errors: under `error` or `odata.error`; an
/// OData message object's `value` is trimmed and dropped when blank, as a
/// string message is.
pub const SHAPE: Shape = Shape {
    envelopes: &["error", "odata.error"],
    trim_object_values: true,
};

/// The API's own error in `response`, as far as the body says.
pub fn api_error(response: &Response) -> ApiError {
    ApiError::parse(&response.body, &SHAPE)
}

/// `what (url): HTTP status said`, with the URL cut to [`urls::SHOWN`]: the
/// start of every message about a failed answer.
pub fn detail(response: &Response, api: &ApiError, what: &str, url: &str) -> String {
    fetch_error::detail(response, api, what, &urls::short(url))
}

#[cfg(test)]
mod tests {
    use connector_sdk::testkit::response;

    use super::*;

    fn parse(body: &str) -> ApiError {
        api_error(&response(400, &[], body))
    }

    #[test]
    fn graph_and_odata_errors_are_read() {
        let graph = parse(
            r#"{"error":{"code":"Forbidden","message":"Missing role permissions.","innerError":{"request-id":"x"}}}"#,
        );
        assert_eq!(graph.code.as_deref(), Some("Forbidden"));
        assert_eq!(graph.message.as_deref(), Some("Missing role permissions."));
        let odata =
            parse(r#"{"error":{"code":"","message":{"lang":"en-US","value":"Access denied."}}}"#);
        assert_eq!(
            odata,
            ApiError {
                code: None,
                message: Some("Access denied.".into())
            }
        );
        let light = parse(
            "\u{feff}{\"odata.error\":{\"code\":\"UnknownError\",\"message\":{\"lang\":\"\",\"value\":\"An error has occurred on the server.\"}}}",
        );
        assert!(light.is("unknownerror"));
        assert_eq!(
            light.message.as_deref(),
            Some("An error has occurred on the server.")
        );
        for junk in ["", "<html>", "[1]", "null", r#"{"error":{"code":42}}"#] {
            assert_eq!(parse(junk), ApiError::default(), "{junk}");
        }
    }

    #[test]
    fn details_name_the_request_and_what_was_said() {
        let r = response(503, &[], "<html>down</html>");
        assert_eq!(
            detail(&r, &api_error(&r), "reading message traces", "https://h/x"),
            "reading message traces (https://h/x): HTTP 503 <html>down</html>"
        );
        let r = response(401, &[], "");
        assert!(detail(&r, &ApiError::default(), "w", "u").ends_with("HTTP 401 (empty body)"));
        let long = format!("https://h/{}", "x".repeat(600));
        assert!(
            detail(&r, &ApiError::default(), "w", &long).contains(&format!("{}…)", &long[..500]))
        );
    }
}
