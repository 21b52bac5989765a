//! Entra ID v2 token endpoint, client-credentials grant: client secret or
//! certificate assertion, `scope` = `{resource}/.default`. Answers with the
//! real success shape or AADSTS errors; issued tokens are opaque strings the
//! other APIs check.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::post;
use serde_json::json;

use super::gate::{Admitted, fault_response};
use super::{QueryParams, base_url};
use crate::assertion;
use crate::errors::{Api, aad_error};
use crate::faults::{FaultKind, Probe, Target};
use crate::state::AppState;
use crate::tokens::Grant;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/{tenant}/oauth2/v2.0/token", post(token))
}

fn missing(parameter: &str) -> Response {
    aad_error(
        400,
        "invalid_request",
        &format!(
            "AADSTS900144: The request body must contain the following parameter: '{parameter}'."
        ),
    )
}

async fn token(
    State(state): State<Arc<AppState>>,
    Path(tenant_ref): Path<String>,
    parts: Parts,
    body: Bytes,
) -> Response {
    let Some(tenant) = state.tenant(&tenant_ref) else {
        return aad_error(
            400,
            "invalid_request",
            &format!(
                "AADSTS90002: Tenant '{tenant_ref}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    };
    let mut fault = state.faults.take(&Probe {
        target: Target::Token,
        tenant: Some(tenant.id()),
        content_id: None,
    });
    if let Some(FaultKind::Slow { millis }) = fault {
        tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
        fault = None;
    }
    if let Some(response) = fault
        .as_ref()
        .and_then(|kind| fault_response(Api::Token, kind, tenant.id()))
    {
        return response;
    }
    let form = QueryParams::parse(std::str::from_utf8(&body).ok());
    match form.get("grant_type") {
        None => return missing("grant_type"),
        Some("client_credentials") => {}
        Some(other) => {
            return aad_error(
                400,
                "unsupported_grant_type",
                &format!("AADSTS70003: The app requested an unsupported grant type '{other}'."),
            );
        }
    }
    let Some(client_id) = form.get("client_id") else {
        return missing("client_id");
    };
    let Some(client) = state.client(client_id) else {
        return aad_error(
            400,
            "unauthorized_client",
            &format!(
                "AADSTS700016: Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                tenant.id()
            ),
        );
    };
    let Some(scope) = form.get("scope") else {
        return missing("scope");
    };
    let Some(resource) = scope.trim().strip_suffix("/.default") else {
        return aad_error(
            400,
            "invalid_scope",
            &format!(
                "AADSTS1002012: The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        );
    };
    let known = [Api::Management, Api::Graph, Api::Reporting]
        .iter()
        .any(|api| api.resource() == resource)
        || state
            .own_resources()
            .iter()
            .any(|own| own.trim_end_matches('/') == resource.trim_end_matches('/'));
    if !known {
        return aad_error(
            400,
            "invalid_resource",
            &format!(
                "AADSTS500011: The resource principal named {resource} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.",
                tenant.id()
            ),
        );
    }
    for field in ["client_secret", "client_assertion"] {
        if let Some(value) = form.get(field) {
            state
                .presented
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(value.to_string());
        }
    }
    if let Some(secret) = form.get("client_secret") {
        if client.secret.as_deref() != Some(secret) {
            return aad_error(
                401,
                "invalid_client",
                &format!(
                    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                    client.client_id
                ),
            );
        }
    } else if let Some(jwt) = form.get("client_assertion") {
        if form.get("client_assertion_type") != Some(JWT_BEARER) {
            return aad_error(
                400,
                "invalid_request",
                &format!(
                    "AADSTS50027: JWT token is invalid or malformed. client_assertion_type must be '{JWT_BEARER}'."
                ),
            );
        }
        let path = format!("{tenant_ref}/oauth2/v2.0/token");
        let mut bases = vec![
            base_url(&parts),
            "https://login.microsoftonline.com".to_string(),
        ];
        bases.extend(state.own_resources());
        let audiences: Vec<String> = bases.iter().map(|b| format!("{b}/{path}")).collect();
        if let Err(refused) = assertion::verify(
            jwt,
            &client.client_id,
            client.certificate_pem.as_deref(),
            &audiences,
        ) {
            return aad_error(401, "invalid_client", &refused.0);
        }
    } else {
        return aad_error(
            401,
            "invalid_client",
            "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
    }
    let lifetime = state.config.token_lifetime.as_secs();
    let expires = state.clock.now() + chrono::Duration::seconds(lifetime as i64);
    let access_token = state.tokens.issue(Grant {
        tenant: tenant.id().to_string(),
        resource: resource.to_string(),
        expires,
    });
    let body = json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": access_token});
    Admitted { tenant, fault }.reply(&body)
}
