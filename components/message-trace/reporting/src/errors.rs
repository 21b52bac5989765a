//! The Reporting Web Service's error answers mapped onto the contract's
//! `fetch-error`, each with the fix an operator can apply.
//!
//! The service writes OData errors,
//! `{"error":{"code":"..","message":{"lang":"en-US","value":".."}}}`
//! (`odata.error` in the lighter format), or an IIS page. Retirement comes
//! first: a retired service answers 410 Gone (the simulator's `Retired`
//! fault sends 410 with "has been retired. Use the Microsoft Graph
//! messageTraces API ... instead."), or 404 once the endpoint is gone, or an
//! error saying it is retired or deprecated. No retry can help then: the
//! step fails `fatal`, telling the operator to swap to the Graph version.

use connector_sdk::FetchError;
use connector_sdk::api_error::ApiError;
use connector_sdk::fetch_error::by_status;
use connector_sdk::http::Response;
use message_trace_core::errors;

/// The Office 365 Exchange Online application permission the app needs.
pub const PERMISSION: &str = "ReportingWebService.Read.All";

/// What to do when the service is gone.
pub const SWAP_ADVICE: &str = "the Reporting Web Service is retired for this tenant (Microsoft began \
     retiring it on 2026-04-06; tenants created since never had it). Swap this component for the \
     Graph version of the `message-trace` component (0.2.x): it reads Microsoft Graph \
     messageTraces and writes the same events under the same component name, so the checkpoint \
     carries over, and its own settings (MESSAGE_TRACES_GRAPH_API, MESSAGE_TRACES_PAGE_SIZE) have \
     working defaults. It needs the Microsoft Graph application permission \
     ExchangeMessageTrace.Read.All with admin consent, and the Exchange message trace service \
     principal (8bd644d1-64a1-4d4b-ae52-2e0cbf64e373) provisioned in the tenant";

/// The error for a non-2xx answer to a request for `url`, whose token was
/// for `scope`.
pub fn from_response(response: &Response, url: &str, scope: &str) -> FetchError {
    let api = errors::api_error(response);
    let detail = errors::detail(
        response,
        &api,
        "reading message traces from the Reporting Web Service",
        url,
    );
    if is_retirement(response, &api) {
        let wrong_path = if response.status == 404 {
            " (a 404 can also mean that EXCHANGE_REPORTING_API names a wrong path: it should be \
             https://reports.office365.com or its /ecp/reportingwebservice/reporting.svc URL)"
        } else {
            ""
        };
        return FetchError::Fatal(format!("{detail}; {SWAP_ADVICE}{wrong_path}"));
    }
    match response.status {
        401 => FetchError::Unauthorized(format!(
            "{detail}; the service refused the token for {scope}: the app registration needs the \
             Office 365 Exchange Online application permission {PERMISSION} with admin consent, \
             and EXCHANGE_REPORTING_SCOPE must be the Exchange Online resource \
             (https://outlook.office365.com/.default)"
        )),
        403 => FetchError::Forbidden(format!(
            "{detail}; the app needs the Office 365 Exchange Online application permission \
             {PERMISSION} with admin consent, and its service principal needs a Microsoft Entra \
             role that may read reports, such as Global Reader or Security Reader (Entra admin \
             center > Roles and administrators)"
        )),
        // 429 (with its Retry-After), 408 and 5xx, other refusals.
        _ => by_status(response, detail),
    }
}

/// Whether the answer says the service is gone: 410, 404, or an error
/// whose text speaks of retirement or deprecation.
fn is_retirement(response: &Response, api: &ApiError) -> bool {
    if matches!(response.status, 404 | 410) {
        return true;
    }
    let text = api
        .message
        .clone()
        .unwrap_or_else(|| response.body_snippet(2000))
        .to_ascii_lowercase();
    [
        "retire",
        "deprecat",
        "no longer available",
        "no longer supported",
    ]
    .iter()
    .any(|word| text.contains(word))
}

#[cfg(test)]
mod tests {
    use connector_sdk::testkit::response;

    use super::*;

    const URL: &str = "https://reports.office365.com/ecp/reportingwebservice/reporting.svc/MessageTrace?$format=Json";
    const SCOPE: &str = "https://outlook.office365.com/.default";

    fn odata(status: u16, headers: &[(&str, &str)], code: &str, message: &str) -> FetchError {
        let body = format!(
            r#"{{"error":{{"code":"{code}","message":{{"lang":"en-US","value":"{message}"}}}}}}"#
        );
        raw(status, headers, &body)
    }

    fn raw(status: u16, headers: &[(&str, &str)], body: &str) -> FetchError {
        from_response(&response(status, headers, body), URL, SCOPE)
    }

    fn fatal(e: FetchError) -> String {
        match e {
            FetchError::Fatal(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_simulators_retired_answer_says_to_swap_to_graph() {
        let m = fatal(odata(
            410,
            &[],
            "Gone",
            "The Reporting Web Service MessageTrace report has been retired. Use the Microsoft Graph messageTraces API (https://graph.microsoft.com/v1.0/admin/exchange/tracing/messageTraces) instead.",
        ));
        assert!(m.starts_with(&format!("reading message traces from the Reporting Web Service ({URL}): HTTP 410 Gone: The Reporting Web Service MessageTrace report has been retired.")), "{m}");
        assert!(
            m.contains("the Reporting Web Service is retired for this tenant"),
            "{m}"
        );
        assert!(
            m.contains("Graph version of the `message-trace` component"),
            "{m}"
        );
        assert!(
            m.contains("ExchangeMessageTrace.Read.All with admin consent"),
            "{m}"
        );
        assert!(!m.contains("wrong path"), "{m}");
    }

    #[test]
    fn other_retirement_answers_are_recognized() {
        let m = fatal(raw(
            404,
            &[],
            r#"{"error":{"code":"NotFound","message":"The requested resource does not exist."}}"#,
        ));
        assert!(m.contains("retired for this tenant"), "{m}");
        assert!(
            m.contains("EXCHANGE_REPORTING_API names a wrong path"),
            "{m}"
        );
        let m = fatal(odata(
            400,
            &[],
            "",
            "The MessageTrace report is deprecated.",
        ));
        assert!(
            m.contains("Swap this component for the Graph version"),
            "{m}"
        );
        let m = fatal(raw(503, &[], "<html>This service has been retired</html>"));
        assert!(m.contains("retired for this tenant"), "{m}");
    }

    #[test]
    fn permissions_come_with_the_fix() {
        match odata(401, &[], "", "The token is missing, invalid or expired.") {
            FetchError::Unauthorized(m) => {
                assert!(
                    m.contains("HTTP 401 The token is missing, invalid or expired."),
                    "{m}"
                );
                assert!(
                    m.contains("refused the token for https://outlook.office365.com/.default"),
                    "{m}"
                );
                assert!(
                    m.contains("ReportingWebService.Read.All with admin consent"),
                    "{m}"
                );
            }
            other => panic!("{other:?}"),
        }
        match odata(
            403,
            &[],
            "",
            "No permission to access the report for the organization contoso.onmicrosoft.com.",
        ) {
            FetchError::Forbidden(m) => {
                assert!(m.contains("No permission to access the report"), "{m}");
                assert!(m.contains("Global Reader or Security Reader"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn throttling_server_errors_and_bad_requests() {
        match odata(
            429,
            &[("Retry-After", "17")],
            "",
            "The server is busy. Please retry later.",
        ) {
            FetchError::Throttled(t) => {
                assert_eq!(t.retry_after, Some(17_000));
                assert!(
                    t.message
                        .ends_with("HTTP 429 The server is busy. Please retry later."),
                    "{}",
                    t.message
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            odata(
                500,
                &[],
                "",
                "An error occurred while processing this request."
            ),
            FetchError::Transient(_)
        ));
        assert!(matches!(
            raw(500, &[], r#"{"odata.error":{"code":"UnknownError","message":{"lang":"","value":"An error has occurred on the server."}}}"#),
            FetchError::Transient(m) if m.ends_with("HTTP 500 UnknownError: An error has occurred on the server.")
        ));
        assert!(matches!(
            odata(400, &[], "", "StartDate can't be more than 30 days in the past."),
            FetchError::BadRequest(m) if m.ends_with("HTTP 400 StartDate can't be more than 30 days in the past.")
        ));
    }
}
