//! Office 365 Management Activity API: subscriptions, content listings with
//! `NextPageUri` paging, and content blobs, with the service's validations
//! and AF error codes.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::gate::{admit, malformed};
use super::{QueryParams, base_url, encode};
use crate::data::ContentType;
use crate::data::audit::{Blob, RETENTION_DAYS};
use crate::errors::{Api, json_response, management_error};
use crate::faults::{FaultKind, Target};
use crate::state::{AppState, Subscription};
use crate::timefmt::{iso_millis, parse_time};

const FEED: &str = "/api/v1.0/{tenant}/activity/feed";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(&format!("{FEED}/subscriptions/list"), get(list))
        .route(&format!("{FEED}/subscriptions/start"), post(start))
        .route(&format!("{FEED}/subscriptions/stop"), post(stop))
        .route(&format!("{FEED}/subscriptions/content"), get(content))
        .route(&format!("{FEED}/audit/{{content_id}}"), get(blob))
}

fn bad_request(code: &str, message: &str) -> Response {
    management_error(400, code, message)
}

fn subscription_json(content_type: ContentType, enabled: bool) -> Value {
    json!({"contentType": content_type.as_str(), "status": if enabled { "enabled" } else { "disabled" }, "webhook": null})
}

/// The `contentType` parameter, or the AF error for it.
fn content_type(query: &QueryParams) -> Result<ContentType, Response> {
    let raw = query
        .get("contentType")
        .ok_or_else(|| bad_request("AF20001", "Missing parameter: contentType."))?;
    ContentType::parse(raw)
        .ok_or_else(|| bad_request("AF20020", "The specified content type is not valid."))
}

async fn list(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let admitted = match admit(
        &state,
        &headers,
        Api::Management,
        Target::SubscriptionsList,
        Some(&tenant),
        None,
    )
    .await
    {
        Ok(a) => a,
        Err(response) => return response,
    };
    let subs = admitted.tenant.subscriptions();
    let stale = admitted.has(&FaultKind::StaleSubscriptionList);
    let body: Vec<Value> = subs
        .iter()
        .filter(|_| !stale)
        .map(|(ct, s)| subscription_json(*ct, s.enabled))
        .collect();
    admitted.reply(&Value::Array(body))
}

async fn start(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let admitted = match admit(
        &state,
        &headers,
        Api::Management,
        Target::SubscriptionsStart,
        Some(&tenant),
        None,
    )
    .await
    {
        Ok(a) => a,
        Err(response) => return response,
    };
    let content_type = match content_type(&QueryParams::parse(raw.as_deref())) {
        Ok(ct) => ct,
        Err(response) => return response,
    };
    let mut was_enabled = false;
    let now = state.clock.now();
    admitted.tenant.update(content_type, |sub| {
        was_enabled = sub.enabled;
        if !sub.enabled {
            sub.enabled_at = Some(now);
        }
        sub.enabled = true;
        sub.starts += 1;
    });
    if was_enabled {
        return bad_request(
            "AF20024",
            "The subscription is already enabled. No property change.",
        );
    }
    admitted.reply(&subscription_json(content_type, true))
}

async fn stop(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let admitted = match admit(
        &state,
        &headers,
        Api::Management,
        Target::SubscriptionsStart,
        Some(&tenant),
        None,
    )
    .await
    {
        Ok(a) => a,
        Err(response) => return response,
    };
    let content_type = match content_type(&QueryParams::parse(raw.as_deref())) {
        Ok(ct) => ct,
        Err(response) => return response,
    };
    if !admitted.tenant.subscriptions().contains_key(&content_type) {
        return bad_request(
            "AF20022",
            "No subscription found for the specified content type.",
        );
    }
    admitted
        .tenant
        .update(content_type, |sub| sub.enabled = false);
    StatusCode::OK.into_response()
}

/// The listing window `[start, end)`, validated like the service does.
fn window(
    query: &QueryParams,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), Response> {
    let both = "Start time and end time must both be specified (or both omitted) and must be less than or equal to 24 hours apart.";
    let parse = |name: &str, value: &str| {
        parse_time(value).ok_or_else(|| {
            bad_request(
                "AF20002",
                &format!("Invalid parameter type: {name}. Expected type: datetime"),
            )
        })
    };
    let (start, end) = match (query.get("startTime"), query.get("endTime")) {
        (None, None) => return Ok((now - Duration::hours(24), now)),
        (Some(s), Some(e)) => (parse("startTime", s)?, parse("endTime", e)?),
        _ => return Err(bad_request("AF20055", both)),
    };
    // An empty window (the same second twice) is refused too.
    if end <= start || end - start > Duration::hours(24) {
        return Err(bad_request("AF20055", both));
    }
    if start < now - Duration::days(RETENTION_DAYS) {
        return Err(bad_request(
            "AF20055",
            "Start time cannot be more than 7 days in the past.",
        ));
    }
    Ok((start, end))
}

async fn content(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    parts: Parts,
    RawQuery(raw): RawQuery,
) -> Response {
    let admitted = match admit(
        &state,
        &parts.headers,
        Api::Management,
        Target::ContentList,
        Some(&tenant),
        None,
    )
    .await
    {
        Ok(a) => a,
        Err(response) => return response,
    };
    let query = QueryParams::parse(raw.as_deref());
    let content_type = match content_type(&query) {
        Ok(ct) => ct,
        Err(response) => return response,
    };
    let subscription = admitted.tenant.subscriptions().get(&content_type).copied();
    let subscription = if admitted.has(&FaultKind::SubscriptionMissing) {
        None
    } else if admitted.has(&FaultKind::SubscriptionDisabled) {
        subscription.map(|sub| Subscription {
            enabled: false,
            ..sub
        })
    } else {
        subscription
    };
    let producing = match subscription {
        None => {
            return bad_request(
                "AF20022",
                "No subscription found for the specified content type.",
            );
        }
        Some(sub) if !sub.enabled => {
            return bad_request(
                "AF20023",
                "The subscription was disabled by a tenant admin.",
            );
        }
        Some(sub) => {
            let delay = Duration::from_std(admitted.tenant.data.spec.subscription_delay)
                .unwrap_or(Duration::MAX);
            sub.produces_content(state.clock.now(), delay)
        }
    };
    let now = state.clock.now();
    let (start, end) = match window(&query, now) {
        Ok(w) => w,
        Err(response) => return response,
    };
    if !producing {
        // A new subscription: accepted, but nothing to list yet.
        return json_response(200, &Value::Array(Vec::new()));
    }
    let data = &admitted.tenant.data;
    let first = data.first_blob_index_from(start);
    let cursor = match query.get("nextPage") {
        None => first,
        Some(token) => match parse_next_page(token)
            .filter(|t| *t >= start)
            .map(|t| data.first_blob_index_from(t))
        {
            Some(index) => index,
            None => return bad_request("AF20031", &format!("Invalid nextPage Input: {token}.")),
        },
    };
    let page_size = state.config.page_size.max(1);
    let listable_by = match admitted.fault {
        Some(FaultKind::ListedLate { delay_secs }) => {
            now - Duration::seconds(i64::try_from(delay_secs).unwrap_or(i64::MAX / 1000))
        }
        _ => now,
    };
    let created_by_now = end.min(listable_by + Duration::milliseconds(1));
    let mut blobs: Vec<Blob> = data
        .blobs(content_type, start, created_by_now)
        .skip_while(|b| b.index < cursor)
        .take(page_size + 1)
        .collect();
    let next = (blobs.len() > page_size).then(|| blobs.pop()).flatten();
    if admitted.has(&FaultKind::DuplicateContentIds) {
        if let Some(previous) = data
            .blob(content_type, cursor - 1)
            .filter(|_| cursor > first)
        {
            blobs.insert(0, previous);
        }
        if let Some(own) = blobs.last().copied() {
            blobs.push(own);
        }
    }
    let base = base_url(&parts);
    let items: Vec<Value> = blobs
        .iter()
        .map(|b| {
            let id = data.content_id(b);
            json!({
                "contentType": content_type.as_str(),
                "contentId": id,
                "contentUri": format!("{base}/api/v1.0/{tenant}/activity/feed/audit/{id}"),
                "contentCreated": iso_millis(b.created),
                "contentExpiration": iso_millis(b.expiration()),
            })
        })
        .collect();
    let body = Value::Array(items);
    let mut response = if admitted.has(&FaultKind::Malformed) {
        malformed(&body)
    } else {
        json_response(200, &body)
    };
    let foreign = admitted.has(&FaultKind::ForeignNextPage);
    let next_token = next.map(|b| b.created).or(foreign.then_some(now));
    if let Some(next_created) = next_token {
        let host = if foreign {
            state.urls.foreign.clone()
        } else {
            base
        };
        let publisher = query
            .get("PublisherIdentifier")
            .map(|p| format!("&PublisherIdentifier={}", encode(p)))
            .unwrap_or_default();
        let uri = format!(
            "{host}/api/v1.0/{tenant}/activity/feed/subscriptions/content?contentType={}&startTime={}&endTime={}{publisher}&nextPage={}",
            content_type.as_str(),
            encode(&iso_millis(start)),
            encode(&iso_millis(end)),
            next_created.format("%Y%m%d%H%M%S%3f"),
        );
        if let Ok(value) = HeaderValue::from_str(&uri) {
            response.headers_mut().insert("NextPageUri", value);
        }
    }
    response
}

async fn blob(
    State(state): State<Arc<AppState>>,
    Path((tenant, content_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let admitted = match admit(
        &state,
        &headers,
        Api::Management,
        Target::ContentBlob,
        Some(&tenant),
        Some(&content_id),
    )
    .await
    {
        Ok(a) => a,
        Err(response) => return response,
    };
    let now = state.clock.now();
    let Some(blob) = admitted
        .tenant
        .data
        .parse_content_id(&content_id)
        .filter(|b| b.created <= now)
    else {
        return bad_request(
            "AF20052",
            &format!("Content ID {content_id} in the URL is invalid."),
        );
    };
    if admitted.has(&FaultKind::Expired) || blob.expiration() <= now {
        return bad_request(
            "AF20051",
            &format!(
                "Content requested with the key {content_id} has already expired. Content older than 7 days cannot be retrieved."
            ),
        );
    }
    let mut events = admitted.tenant.data.blob_events(&blob);
    if admitted.has(&FaultKind::MalformedRecord)
        && let Some(first) = events.first_mut()
    {
        *first = Value::String(format!("not a record: {first}"));
    }
    admitted.reply(&Value::Array(events))
}

/// The `nextPage` token: the `contentCreated` of the page's first blob, as `yyyyMMddHHmmssfff`.
fn parse_next_page(token: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(token, "%Y%m%d%H%M%S%3f")
        .ok()
        .map(|t| t.and_utc())
}
