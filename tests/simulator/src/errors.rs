//! Error bodies in each API's own wire format, so clients are tested against
//! what the real services send: AADSTS errors from Entra ID,
//! `{"error":{"code":"AF…"}}` from the Management Activity API, OData errors
//! with `innerError` from Graph, and OData v2 errors from the Reporting WS.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;

use crate::rng::Rng;

/// Which Microsoft API a route belongs to; decides error formats and token audiences.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Api {
    /// Entra ID token endpoint.
    Token,
    /// Office 365 Management Activity API.
    Management,
    /// Microsoft Graph.
    Graph,
    /// Exchange Reporting Web Service.
    Reporting,
}

impl Api {
    /// The resource (token audience) the real API expects.
    pub(crate) fn resource(self) -> &'static str {
        match self {
            Api::Token => "",
            Api::Management => "https://manage.office.com",
            Api::Graph => "https://graph.microsoft.com",
            Api::Reporting => "https://outlook.office365.com",
        }
    }

    /// An error response in this API's format. For [`Api::Token`], `code` is
    /// the OAuth error and `message` should start with `AADSTSnnnn:`.
    pub(crate) fn error(self, status: u16, code: &str, message: &str) -> Response {
        match self {
            Api::Token => aad_error(status, code, message),
            Api::Management => management_error(status, code, message),
            Api::Graph => graph_error(status, code, message),
            Api::Reporting => reporting_error(status, code, message),
        }
    }
}

/// A random-looking GUID for request ids (not part of generated data).
pub(crate) fn request_id() -> String {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
    Rng::new(&[nanos, std::process::id().into()]).guid()
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A JSON response with the given status.
pub(crate) fn json_response(code: u16, body: &serde_json::Value) -> Response {
    let mut response = (status(code), body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// Entra ID: `{"error","error_description","error_codes","timestamp","trace_id","correlation_id","error_uri"}`.
pub(crate) fn aad_error(code: u16, error: &str, message: &str) -> Response {
    let number: u64 = message
        .strip_prefix("AADSTS")
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0);
    let (trace_id, correlation_id) = (request_id(), request_id());
    let timestamp = Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    let description = format!(
        "{message}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
    );
    json_response(
        code,
        &json!({
            "error": error,
            "error_description": description,
            "error_codes": [number],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={number}"),
        }),
    )
}

/// Management Activity API: `{"error":{"code":"AF…","message":"…"}}`.
pub(crate) fn management_error(code: u16, af: &str, message: &str) -> Response {
    json_response(code, &json!({"error": {"code": af, "message": message}}))
}

/// Graph: `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.
pub(crate) fn graph_error(code: u16, graph_code: &str, message: &str) -> Response {
    let id = request_id();
    let mut response = json_response(
        code,
        &json!({"error": {"code": graph_code, "message": message, "innerError": {
            "date": Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
            "request-id": id, "client-request-id": id,
        }}}),
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("request-id", value.clone());
        response.headers_mut().insert("client-request-id", value);
    }
    response
}

/// Reporting WS (OData v2 JSON): `{"error":{"code","message":{"lang","value"}}}`.
pub(crate) fn reporting_error(code: u16, odata_code: &str, message: &str) -> Response {
    let mut response = json_response(
        code,
        &json!({"error": {"code": odata_code, "message": {"lang": "en-US", "value": message}}}),
    );
    if code == 401 {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}
