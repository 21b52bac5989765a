//! The HTTP surface: one module per Microsoft API, a shared gate, and the
//! router each listener serves.

mod foreign;
mod gate;
mod graph;
mod keyvault;
mod management;
pub(crate) mod msi;
mod reporting;
mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::Response;

use crate::log::{self, Listener};
use crate::state::AppState;

pub(crate) use foreign::router as foreign_router;

/// The Microsoft API routes (token, Management, Graph, Reporting WS, Key
/// Vault secrets, the managed-identity endpoint), with the configured latency.
pub(crate) fn api_router(state: Arc<AppState>) -> Router {
    let latency = state.config.latency;
    Router::new()
        .merge(token::routes())
        .merge(management::routes())
        .merge(graph::routes())
        .merge(reporting::routes())
        .merge(keyvault::routes())
        .merge(msi::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(latency, add_latency))
        .with_state(state)
}

/// Wraps a listener's router with the request log.
pub(crate) fn recorded(router: Router, state: &AppState, listener: Listener) -> Router {
    router.layer(middleware::from_fn_with_state(
        (state.log.clone(), state.clock.clone(), listener),
        log::record,
    ))
}

async fn add_latency(State(latency): State<Duration>, request: Request, next: Next) -> Response {
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    next.run(request).await
}

async fn not_found() -> Response {
    crate::errors::json_response(
        404,
        &serde_json::json!({"error": {"code": "NotFound", "message": "The requested resource does not exist."}}),
    )
}

/// Query parameters, decoded, in order.
pub(crate) struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// Parses a raw query string (absent: empty).
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        QueryParams(
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `key` (case-insensitive).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// `scheme://authority` of the listener and `Host` the request came on.
pub(crate) fn base_url(parts: &Parts) -> String {
    let listener = parts
        .extensions
        .get::<Listener>()
        .copied()
        .unwrap_or(Listener::Main);
    format!("{}://{}", listener.scheme(), log::authority(parts))
}

/// Percent-encodes a query value (spaces as `%20`).
pub(crate) fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Optional lower and upper bounds of a date filter.
pub(crate) type Bounds = (
    Option<chrono::DateTime<chrono::Utc>>,
    Option<chrono::DateTime<chrono::Utc>>,
);

/// An OData `$filter` split into its `and`-joined clauses, each a list of words.
pub(crate) fn filter_clauses(filter: &str) -> Vec<Vec<&str>> {
    let mut clauses = vec![Vec::new()];
    for word in filter.split_whitespace() {
        if word.eq_ignore_ascii_case("and") {
            clauses.push(Vec::new());
        } else if let Some(last) = clauses.last_mut() {
            last.push(word);
        }
    }
    clauses.retain(|c| !c.is_empty());
    clauses
}

/// Opaque `$skiptoken` for "continue after the row at `position`" (a
/// message index and its recipient row, as [`crate::data::traces::Row`]).
pub(crate) fn skip_token((index, row): (i64, usize)) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("mt1:{index}:{row}"))
}

/// Reads a [`skip_token`].
pub(crate) fn parse_skip_token(token: &str) -> Option<(i64, usize)> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (index, row) = text.strip_prefix("mt1:")?.split_once(':')?;
    Some((index.parse().ok()?, row.parse().ok()?))
}
