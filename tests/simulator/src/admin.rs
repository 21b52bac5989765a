//! The admin surface under `/_sim/` (JSON), so a test in another process can
//! drive a running simulator: fault rules, the request log, ground truth,
//! the CA certificate, the clock, Key Vault secrets, app certificates and
//! issued tokens. It is not recorded in the request log.

use std::ops::Range;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::errors::json_response;
use crate::faults::FaultRule;
use crate::state::{AppState, Tenant};
use crate::timefmt::parse_time;

/// The `/_sim/` routes.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/_sim/faults",
            post(add_fault).delete(clear_faults).get(list_faults),
        )
        .route("/_sim/requests", get(requests))
        .route("/_sim/truth/audit", get(audit_truth))
        .route("/_sim/truth/traces", get(trace_truth))
        .route("/_sim/ca.pem", get(ca_pem))
        .route("/_sim/clock", post(set_clock))
        .route("/_sim/secrets/{name}", put(set_secret))
        .route(
            "/_sim/clients/{client_id}/certificate",
            put(set_certificate),
        )
        .route("/_sim/tokens", get(issued_tokens))
        .route("/_sim/tokens/revoke", post(revoke_tokens))
        .with_state(state)
}

fn bad_request(message: impl std::fmt::Display) -> Response {
    json_response(400, &json!({"error": message.to_string()}))
}

async fn add_fault(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    match serde_json::from_slice::<FaultRule>(&body) {
        Ok(rule) => {
            state.faults.add(rule);
            json_response(201, &json!({"rules": state.faults.rules().len()}))
        }
        Err(e) => bad_request(format!("not a fault rule: {e}")),
    }
}

async fn clear_faults(State(state): State<Arc<AppState>>) -> Response {
    state.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn list_faults(State(state): State<Arc<AppState>>) -> Response {
    json_response(200, &json!(state.faults.rules()))
}

async fn requests(State(state): State<Arc<AppState>>) -> Response {
    json_response(200, &json!(state.log.snapshot()))
}

/// `?tenant=&start=&end=` (tenant defaults to the first one, start to the data start, end to now).
#[derive(Deserialize)]
struct TruthQuery {
    tenant: Option<String>,
    start: Option<String>,
    end: Option<String>,
}

fn truth_window(
    state: &AppState,
    q: &TruthQuery,
) -> Result<(Arc<Tenant>, Range<DateTime<Utc>>), Response> {
    let tenant = match &q.tenant {
        Some(id) => state.tenant(id),
        None => state.tenants.first().cloned(),
    }
    .ok_or_else(|| bad_request("unknown tenant"))?;
    let time = |value: &Option<String>, default: DateTime<Utc>| match value {
        None => Ok(default),
        Some(s) => parse_time(s).ok_or_else(|| bad_request(format!("not a date-time: {s}"))),
    };
    let start = time(&q.start, tenant.data.data_start)?;
    let end = time(&q.end, state.clock.now())?;
    Ok((tenant, start..end))
}

async fn audit_truth(State(state): State<Arc<AppState>>, Query(q): Query<TruthQuery>) -> Response {
    match truth_window(&state, &q) {
        Ok((tenant, window)) => json_response(200, &json!(state.audit_truth(&tenant, window))),
        Err(response) => response,
    }
}

async fn trace_truth(State(state): State<Arc<AppState>>, Query(q): Query<TruthQuery>) -> Response {
    match truth_window(&state, &q) {
        Ok((tenant, window)) => json_response(200, &json!(state.trace_truth(&tenant, window))),
        Err(response) => response,
    }
}

async fn ca_pem(State(state): State<Arc<AppState>>) -> Response {
    match &state.ca_pem {
        Some(pem) => ([("content-type", "application/x-pem-file")], pem.clone()).into_response(),
        None => json_response(404, &json!({"error": "TLS is not enabled"})),
    }
}

/// `{"offset_secs": n}`: run the simulated clock `n` seconds ahead of real time.
#[derive(Deserialize)]
struct ClockBody {
    offset_secs: i64,
}

async fn set_clock(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    match serde_json::from_slice::<ClockBody>(&body) {
        Ok(b) => {
            state
                .clock
                .set_offset(chrono::Duration::seconds(b.offset_secs));
            json_response(200, &json!({"now": state.clock.now()}))
        }
        Err(e) => bad_request(format!("expected {{\"offset_secs\": n}}: {e}")),
    }
}

/// `PUT /_sim/secrets/{name}[?contentType=...]` with the value as the body:
/// a new version of a Key Vault secret.
async fn set_secret(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<SecretQuery>,
    body: Bytes,
) -> Response {
    let Ok(value) = std::str::from_utf8(&body) else {
        return bad_request("the secret value must be UTF-8 text");
    };
    let version = state.set_secret(&name, value, q.content_type.as_deref());
    json_response(200, &json!({"name": name, "version": version}))
}

#[derive(Deserialize)]
struct SecretQuery {
    #[serde(rename = "contentType")]
    content_type: Option<String>,
}

/// `PUT /_sim/clients/{client_id}/certificate` with a certificate PEM (empty:
/// remove it): the app registration's certificate, for rotation.
async fn set_certificate(
    State(state): State<Arc<AppState>>,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(pem) = std::str::from_utf8(&body) else {
        return bad_request("the certificate must be PEM text");
    };
    let pem = Some(pem).filter(|p| !p.trim().is_empty());
    if state.set_client_certificate(&client_id, pem) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        json_response(404, &json!({"error": format!("no app {client_id}")}))
    }
}

/// `GET /_sim/tokens`: every token issued, revoked ones included.
async fn issued_tokens(State(state): State<Arc<AppState>>) -> Response {
    json_response(200, &json!(state.tokens.ever_issued()))
}

/// `POST /_sim/tokens/revoke`: revokes every app token.
async fn revoke_tokens(State(state): State<Arc<AppState>>) -> Response {
    state.tokens.revoke_app_tokens();
    StatusCode::NO_CONTENT.into_response()
}
