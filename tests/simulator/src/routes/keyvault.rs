//! Key Vault secrets (`GET /secrets/{name}[/{version}]?api-version=7.x` or a dated
//! version such as `2025-07-01`, what `azure_security_keyvault_secrets` 1.0 sends),
//! as the app's certificate PEM is read: bearer tokens for
//! `https://vault.azure.net` from the managed-identity endpoint only, the
//! unauthenticated first request answered with Key Vault's challenge
//! (`WWW-Authenticate: Bearer authorization=..., resource=...`, which the
//! Azure SDK's client waits for before it asks for a token), and Key
//! Vault's error bodies.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use super::{QueryParams, base_url};
use crate::errors::json_response;
use crate::state::AppState;

/// The resource (token audience) of Key Vault in the public cloud.
pub(crate) const RESOURCE: &str = "https://vault.azure.net";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/secrets/{name}", get(latest))
        .route("/secrets/{name}/", get(latest))
        .route("/secrets/{name}/{version}", get(version))
}

fn vault_error(status: u16, code: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn unauthorized(state: &AppState, message: &str) -> Response {
    let mut response = vault_error(401, "Unauthorized", message);
    let tenant = state
        .tenants
        .first()
        .map(|t| t.id().to_string())
        .unwrap_or_default();
    let challenge = format!(
        "Bearer authorization=\"https://login.microsoftonline.com/{tenant}\", resource=\"{RESOURCE}\""
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

async fn latest(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    parts: Parts,
) -> Response {
    answer(&state, &name, None, &parts)
}

async fn version(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
    parts: Parts,
) -> Response {
    let version = Some(version).filter(|v| !v.is_empty());
    answer(&state, &name, version.as_deref(), &parts)
}

fn answer(state: &AppState, name: &str, version: Option<&str>, parts: &Parts) -> Response {
    let query = QueryParams::parse(parts.uri.query());
    // 7.x, or the dated versions newer SDKs send (`2025-07-01`).
    let known = |v: &str| v.starts_with('7') || v.starts_with("20");
    if !query.get("api-version").is_some_and(known) {
        return vault_error(
            400,
            "BadParameter",
            "The 'api-version' query parameter is missing or not a version Key Vault knows.",
        );
    }
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string());
    let Some(token) = bearer else {
        return unauthorized(state, "AKV10000: Request is missing a Bearer or PoP token.");
    };
    let Some(grant) = state.tokens.grant(&token) else {
        return unauthorized(
            state,
            "AKV10032: Invalid issuer. The token was not issued by a trusted issuer.",
        );
    };
    if grant.expires <= state.clock.now() {
        return unauthorized(state, "AKV10022: Token has expired.");
    }
    if !grant.resource.starts_with("https://vault.") {
        return unauthorized(
            state,
            &format!(
                "AKV10022: Invalid audience. Expected {RESOURCE}, found: {}.",
                grant.resource
            ),
        );
    }
    let vault = state.vault.lock().unwrap_or_else(|p| p.into_inner());
    let found = vault.get(name).and_then(|versions| match version {
        None => versions.last(),
        Some(v) => versions.iter().find(|s| s.version == v),
    });
    let Some(secret) = found else {
        let what = match version {
            None => name.to_string(),
            Some(v) => format!("{name}/{v}"),
        };
        return vault_error(
            404,
            "SecretNotFound",
            &format!(
                "A secret with (name/id) {what} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
            ),
        );
    };
    let created = secret.created.timestamp();
    let mut body = json!({
        "value": secret.value,
        "id": format!("{}/secrets/{name}/{}", base_url(parts), secret.version),
        "attributes": {
            "enabled": true,
            "created": created,
            "updated": created,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90,
        },
        "tags": {},
    });
    if let Some(content_type) = &secret.content_type {
        body["contentType"] = json!(content_type);
    }
    json_response(200, &body)
}
