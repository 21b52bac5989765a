//! The foreign listener: a host no connector may call. It answers everything
//! with an empty but valid-looking page, so a client that follows a link
//! there does not fail loudly; tests find the visit (and any leaked
//! `Authorization` header) in the request log.

use axum::Router;
use axum::http::Uri;
use axum::response::Response;
use serde_json::json;

use crate::errors::json_response;

/// The foreign listener's router (wrap it with the request log).
pub(crate) fn router() -> Router {
    Router::new().fallback(answer)
}

async fn answer(uri: Uri) -> Response {
    let path = uri.path().to_ascii_lowercase();
    let body = if path.contains("/subscriptions/content") || path.contains("/activity/feed/audit/")
    {
        json!([])
    } else if path.contains("/messagetraces") {
        json!({"value": []})
    } else if path.contains("/messagetrace") {
        json!({"d": {"results": []}})
    } else {
        json!({})
    };
    json_response(200, &body)
}
