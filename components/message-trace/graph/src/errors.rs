//! Microsoft Graph's error answers mapped onto the contract's
//! `fetch-error`, each with the fix an operator can apply.
//!
//! Graph writes `{"error":{"code":..,"message":..,"innerError":{..}}}`; the
//! message names the request, its URL, the status and what Graph said.

use connector_sdk::FetchError;
use connector_sdk::fetch_error::{by_status, throttled};
use connector_sdk::http::Response;
use message_trace_core::errors;

/// The Exchange message trace first-party application, whose service
/// principal must exist in the tenant.
pub const TRACE_APP_ID: &str = "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373";
/// The Microsoft Graph application permission the app needs.
pub const PERMISSION: &str = "ExchangeMessageTrace.Read.All";

/// The error for a non-2xx answer to a request for `url`.
pub fn from_response(response: &Response, url: &str) -> FetchError {
    let api = errors::api_error(response);
    let detail = errors::detail(response, &api, "reading message traces", url);
    match response.status {
        429 => throttled(
            response,
            format!(
                "{detail}; Microsoft Graph allows about 100 message trace requests per 5 minutes per tenant"
            ),
        ),
        401 => FetchError::Unauthorized(format!(
            "{detail}; Microsoft Graph refused the token. If the token is valid, the Exchange message \
             trace service principal ({TRACE_APP_ID}) may not be provisioned in this tenant: a tenant \
             administrator creates it once with `New-MgServicePrincipal -AppId {TRACE_APP_ID}` \
             (Microsoft Graph PowerShell) or `az ad sp create --id {TRACE_APP_ID}` (Azure CLI). The \
             app registration also needs the Microsoft Graph application permission {PERMISSION} \
             with admin consent"
        )),
        403 => FetchError::Forbidden(format!(
            "{detail}; the app registration lacks the Microsoft Graph application permission \
             {PERMISSION}, or it has no admin consent in this tenant: add it under API permissions \
             > Microsoft Graph > Application permissions and grant admin consent (new tokens \
             carry it; allow a few minutes)"
        )),
        404 => FetchError::NotFound(format!(
            "{detail}; messageTraces exists only in the global Microsoft Graph service (not in the \
             US Government or 21Vianet clouds): check MESSAGE_TRACES_GRAPH_API"
        )),
        _ => by_status(response, detail),
    }
}

#[cfg(test)]
mod tests {
    use connector_sdk::testkit::response;

    use super::*;

    const URL: &str =
        "https://graph.microsoft.com/v1.0/admin/exchange/tracing/messageTraces?$top=5000";

    fn graph_error(status: u16, headers: &[(&str, &str)], code: &str, message: &str) -> FetchError {
        let body = format!(
            r#"{{"error":{{"code":"{code}","message":"{message}","innerError":{{"date":"2026-11-25T10:25:01","request-id":"8e6f1902","client-request-id":"8e6f1902"}}}}}}"#
        );
        from_response(&response(status, headers, &body), URL)
    }

    #[test]
    fn unauthorized_explains_the_service_principal_and_consent() {
        let e = graph_error(
            401,
            &[],
            "Unauthorized",
            "The service principal of the Exchange message trace application (8bd644d1-64a1-4d4b-ae52-2e0cbf64e373) is not provisioned in tenant t.",
        );
        match e {
            FetchError::Unauthorized(m) => {
                assert!(m.starts_with(&format!("reading message traces ({URL}): HTTP 401 Unauthorized: The service principal")), "{m}");
                assert!(
                    m.contains(
                        "New-MgServicePrincipal -AppId 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373"
                    ),
                    "{m}"
                );
                assert!(
                    m.contains("az ad sp create --id 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373"),
                    "{m}"
                );
                assert!(
                    m.contains("ExchangeMessageTrace.Read.All with admin consent"),
                    "{m}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn forbidden_names_the_permission() {
        match graph_error(
            403,
            &[],
            "Forbidden",
            "Missing role permissions on the request.",
        ) {
            FetchError::Forbidden(m) => {
                assert!(
                    m.contains("HTTP 403 Forbidden: Missing role permissions"),
                    "{m}"
                );
                assert!(
                    m.contains("application permission ExchangeMessageTrace.Read.All"),
                    "{m}"
                );
                assert!(m.contains("admin consent"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn throttling_keeps_retry_after() {
        match graph_error(
            429,
            &[("Retry-After", "17")],
            "TooManyRequests",
            "Too many requests.",
        ) {
            FetchError::Throttled(t) => {
                assert_eq!(t.retry_after, Some(17_000));
                assert!(
                    t.message.contains("TooManyRequests: Too many requests."),
                    "{}",
                    t.message
                );
                assert!(
                    t.message
                        .ends_with("about 100 message trace requests per 5 minutes per tenant")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_requests_carry_graphs_code_and_message() {
        match graph_error(
            400,
            &[],
            "BadRequest",
            "The receivedDateTime range must not span more than 10 days.",
        ) {
            FetchError::BadRequest(m) => assert_eq!(
                m,
                format!(
                    "reading message traces ({URL}): HTTP 400 BadRequest: The receivedDateTime range must not span more than 10 days."
                )
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_failures_are_transient_and_missing_resources_explained() {
        for status in [408, 500, 502, 503, 504] {
            assert!(
                matches!(
                    graph_error(status, &[], "serviceNotAvailable", "retry"),
                    FetchError::Transient(_)
                ),
                "{status}"
            );
        }
        assert!(
            matches!(graph_error(404, &[], "NotFound", "x"), FetchError::NotFound(m) if m.contains("global Microsoft Graph service"))
        );
        let html = response(502, &[], "<html>Bad Gateway</html>");
        assert!(
            matches!(from_response(&html, URL), FetchError::Transient(m) if m.ends_with("HTTP 502 <html>Bad Gateway</html>"))
        );
    }
}
