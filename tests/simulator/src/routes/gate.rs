//! The checks every API request passes before its handler does real work:
//! bearer token and audience, tenant, fault rules, quotas. Failures come
//! back already rendered in the API's own error format.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use crate::errors::{Api, json_response};
use crate::faults::{FaultKind, Probe, Target};
use crate::state::{AppState, Tenant};
use crate::tokens::Denied;

/// An admitted request: its tenant and the fault (if any) its handler must apply.
pub(crate) struct Admitted {
    pub(crate) tenant: Arc<Tenant>,
    pub(crate) fault: Option<FaultKind>,
}

impl Admitted {
    /// Whether the handler must apply this behavioural fault.
    pub(crate) fn has(&self, kind: &FaultKind) -> bool {
        self.fault.as_ref() == Some(kind)
    }

    /// A 200 JSON reply, truncated into invalid JSON under the `Malformed` fault.
    pub(crate) fn reply(&self, body: &serde_json::Value) -> Response {
        if self.has(&FaultKind::Malformed) {
            malformed(body)
        } else {
            json_response(200, body)
        }
    }
}

/// A 200 response whose body is the first half of `body`'s JSON: never valid.
pub(crate) fn malformed(body: &serde_json::Value) -> Response {
    let text = body.to_string();
    let mut cut = (text.len() / 2).max(1);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut response = json_response(200, &serde_json::Value::Null);
    *response.body_mut() = axum::body::Body::from(format!("{}{{\"", &text[..cut]));
    response
}

/// Runs the common checks for an API request. `url_tenant` is the tenant
/// named in the URL (Management API); Graph and the Reporting WS take the
/// tenant from the token.
pub(crate) async fn admit(
    state: &AppState,
    headers: &HeaderMap,
    api: Api,
    target: Target,
    url_tenant: Option<&str>,
    content_id: Option<&str>,
) -> Result<Admitted, Response> {
    let now = state.clock.now();
    let grant = state
        .tokens
        .check(headers, api, &state.own_resources(), now)
        .map_err(|denied| unauthorized(api, denied))?;
    if let Some(url_tenant) = url_tenant.filter(|t| !t.eq_ignore_ascii_case(&grant.tenant)) {
        let message = format!(
            "The tenant ID passed in the URL ({url_tenant}) does not match the tenant ID passed in the access token ({}).",
            grant.tenant
        );
        return Err(api.error(401, "AF20010", &message));
    }
    let tenant = state
        .tenant(&grant.tenant)
        .ok_or_else(|| unauthorized(api, Denied::Unknown))?;
    let probe = Probe {
        target,
        tenant: Some(tenant.id()),
        content_id,
    };
    let mut fault = state.faults.take(&probe);
    if let Some(FaultKind::Slow { millis }) = fault {
        tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
        fault = None;
    }
    if let Some(response) = fault
        .as_ref()
        .and_then(|kind| fault_response(api, kind, tenant.id()))
    {
        return Err(response);
    }
    if state.config.rate_limits
        && let Some(retry_after) = state.limiter.hit(api, tenant.id(), now)
    {
        let kind = match api {
            Api::Management => FaultKind::Af429 {
                retry_after_secs: None,
            },
            _ => FaultKind::TooManyRequests {
                retry_after_secs: Some(retry_after),
            },
        };
        return Err(fault_response(api, &kind, tenant.id())
            .unwrap_or_else(|| unauthorized(api, Denied::Unknown)));
    }
    Ok(Admitted { tenant, fault })
}

/// 401 in the API's format, saying why as the real service would.
pub(crate) fn unauthorized(api: Api, denied: Denied) -> Response {
    match api {
        Api::Graph => {
            let message = match denied {
                Denied::Missing => "Access token is empty.",
                Denied::Unknown => "IDX14100: JWT is not well formed, there are no dots (.).",
                Denied::Expired => "Lifetime validation failed, the token is expired.",
                Denied::WrongAudience => "Invalid audience.",
            };
            api.error(401, "InvalidAuthenticationToken", message)
        }
        Api::Management => {
            let message = match denied {
                Denied::WrongAudience => {
                    "The permission set () sent in the request did not include the expected permission ActivityFeed.Read."
                }
                _ => "Authorization has been denied for this request.",
            };
            api.error(401, "AF10001", message)
        }
        Api::Token => api.error(
            401,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        ),
        Api::Reporting => api.error(401, "", "The token is missing, invalid or expired."),
    }
}

/// The response for an error-type fault; `None` for behavioural ones the handler applies.
pub(crate) fn fault_response(api: Api, kind: &FaultKind, tenant: &str) -> Option<Response> {
    let (mut response, retry_after) = match kind {
        FaultKind::TooManyRequests { retry_after_secs } => {
            let response = match api {
                Api::Management => api.error(429, "AF429", &format!("Too many requests. Method=GET, PublisherId={tenant}")),
                Api::Graph => api.error(429, "TooManyRequests", "Too many requests."),
                Api::Reporting => api.error(429, "", "The server is busy. Please retry later."),
                Api::Token => api.error(
                    429,
                    "temporarily_unavailable",
                    "AADSTS90055: TenantThrottlingThreshold - The number of requests to the tenant has exceeded the throttling threshold.",
                ),
            };
            (response, *retry_after_secs)
        }
        FaultKind::Af429 { retry_after_secs } => {
            let message = format!("Too many requests. Method=GET, PublisherId={tenant}");
            (
                crate::errors::management_error(403, "AF429", &message),
                *retry_after_secs,
            )
        }
        FaultKind::ServerError { status } => (server_error(api, *status), None),
        FaultKind::Unauthorized => (unauthorized(api, Denied::Unknown), None),
        FaultKind::Forbidden { message } => {
            let code = match api {
                Api::Management => "AF10001",
                Api::Graph => "Forbidden",
                Api::Token => "unauthorized_client",
                Api::Reporting => "",
            };
            (api.error(403, code, message), None)
        }
        FaultKind::Expired if api != Api::Management => (
            api.error(400, "BadRequest", "The content has expired."),
            None,
        ),
        FaultKind::Retired => (retired(api), None),
        FaultKind::Slow { .. }
        | FaultKind::Malformed
        | FaultKind::Expired
        | FaultKind::DuplicateContentIds
        | FaultKind::ForeignNextPage
        | FaultKind::StaleSubscriptionList
        | FaultKind::SubscriptionMissing
        | FaultKind::SubscriptionDisabled
        | FaultKind::ListedLate { .. }
        | FaultKind::MalformedRecord => return None,
    };
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    Some(response)
}

fn server_error(api: Api, status: u16) -> Response {
    match api {
        Api::Management => api.error(
            status,
            "AF50000",
            "An internal error occurred. Retry the request.",
        ),
        Api::Graph => {
            let code = if status == 503 {
                "serviceNotAvailable"
            } else {
                "UnknownError"
            };
            api.error(
                status,
                code,
                "The service encountered an internal error. Please retry the request.",
            )
        }
        Api::Reporting => api.error(
            status,
            "",
            "An error occurred while processing this request.",
        ),
        Api::Token => api.error(
            status,
            "temporarily_unavailable",
            "AADSTS90033: A transient error has occurred. Please try again.",
        ),
    }
}

fn retired(api: Api) -> Response {
    let message = "The Reporting Web Service MessageTrace report has been retired. Use the Microsoft Graph \
                   messageTraces API (https://graph.microsoft.com/v1.0/admin/exchange/tracing/messageTraces) instead.";
    match api {
        Api::Reporting => api.error(410, "Gone", message),
        _ => api.error(410, "Gone", "This endpoint has been retired."),
    }
}
