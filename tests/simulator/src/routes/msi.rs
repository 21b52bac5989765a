//! A managed-identity endpoint in the App Service style (what Functions
//! offers): `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=...`
//! with the `X-IDENTITY-HEADER` secret from `IDENTITY_HEADER`, answering
//! `{access_token, expires_on, resource, token_type, client_id}` with
//! `expires_on` as a string of Unix seconds, as `azure_identity` reads it.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use super::QueryParams;
use crate::config::MANAGED_IDENTITY_CLIENT_ID;
use crate::errors::json_response;
use crate::state::AppState;
use crate::tokens::Grant;

/// The path `IDENTITY_ENDPOINT` points at.
pub(crate) const PATH: &str = "/msi/token";

/// The tenant recorded for managed-identity tokens.
pub(crate) const TENANT: &str = "managed-identity";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new().route(PATH, get(token))
}

async fn token(State(state): State<Arc<AppState>>, headers: HeaderMap, parts: Parts) -> Response {
    let presented = headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok());
    if presented != Some(state.config.identity_header.as_str()) {
        return json_response(
            401,
            &json!({"statusCode": 401, "message": "Unauthorized: the X-IDENTITY-HEADER header is missing or wrong."}),
        );
    }
    let query = QueryParams::parse(parts.uri.query());
    if query.get("api-version") != Some("2019-08-01") {
        return json_response(
            400,
            &json!({"statusCode": 400, "message": "api-version 2019-08-01 is required."}),
        );
    }
    let Some(resource) = query.get("resource").filter(|r| !r.is_empty()) else {
        return json_response(
            400,
            &json!({"statusCode": 400, "message": "The resource parameter is required."}),
        );
    };
    if let Some(id) = query.get("client_id")
        && !id.eq_ignore_ascii_case(MANAGED_IDENTITY_CLIENT_ID)
    {
        // The real endpoint: 400 when that identity is not assigned.
        return json_response(
            400,
            &json!({"statusCode": 400, "message": format!("No managed identity with client id {id} is assigned to this resource.")}),
        );
    }
    let lifetime = state.config.token_lifetime.as_secs() as i64;
    let expires = state.clock.now() + chrono::Duration::seconds(lifetime);
    let access_token = state.tokens.issue(Grant {
        tenant: TENANT.to_string(),
        resource: resource.trim_end_matches('/').to_string(),
        expires,
    });
    json_response(
        200,
        &json!({
            "access_token": access_token,
            "expires_on": expires.timestamp().to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": MANAGED_IDENTITY_CLIENT_ID,
        }),
    )
}
