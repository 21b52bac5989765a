//! Microsoft Graph `GET /v1.0/admin/exchange/tracing/messageTraces`:
//! `receivedDateTime` filter (at most 10 days, at most 90 days back), `$top`,
//! `@odata.nextLink` paging. The tenant comes from the token.

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::gate::admit;
use super::{Bounds, QueryParams, base_url, encode, filter_clauses, parse_skip_token, skip_token};
use crate::data::traces::Row;
use crate::errors::{Api, graph_error};
use crate::faults::{FaultKind, Target};
use crate::state::AppState;
use crate::timefmt::{iso_seconds, parse_time};

const PATH: &str = "/v1.0/admin/exchange/tracing/messageTraces";
const CONTEXT: &str =
    "https://graph.microsoft.com/v1.0/$metadata#admin/exchange/tracing/messageTraces";
/// The message-trace first-party app that must be provisioned in the tenant.
const TRACE_APP_ID: &str = "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new().route(PATH, get(message_traces))
}

fn bad_request(message: &str) -> Response {
    graph_error(400, "BadRequest", message)
}

/// The `receivedDateTime` bounds of a filter (inclusive), `None` if it is not one Graph accepts.
fn parse_filter(filter: &str) -> Option<Bounds> {
    let (mut start, mut end) = (None, None);
    for clause in filter_clauses(filter) {
        let [property, op, value] = clause.as_slice() else {
            return None;
        };
        if !property.eq_ignore_ascii_case("receivedDateTime") {
            return None;
        }
        let t = parse_time(value.trim_matches('\''))?;
        match op.to_ascii_lowercase().as_str() {
            "ge" => start = Some(t),
            "gt" => start = Some(t + Duration::seconds(1)),
            "le" => end = Some(t),
            "lt" => end = Some(t - Duration::seconds(1)),
            _ => return None,
        }
    }
    Some((start, end))
}

/// One row: the message's fields, shared `id`, this recipient and its
/// status at `now`.
fn record(row: &Row, now: DateTime<Utc>) -> Value {
    let trace = &row.trace;
    json!({
        "id": trace.id,
        "receivedDateTime": iso_seconds(trace.received),
        "senderAddress": trace.sender,
        "recipientAddress": row.recipient().address,
        "subject": trace.subject,
        "status": row.status_at(now).graph(),
        "size": trace.size,
        "messageId": trace.message_id,
        "fromIP": trace.from_ip,
        "toIP": trace.to_ip,
    })
}

async fn message_traces(
    State(state): State<Arc<AppState>>,
    parts: Parts,
    RawQuery(raw): RawQuery,
) -> Response {
    let admitted = match admit(
        &state,
        &parts.headers,
        Api::Graph,
        Target::Graph,
        None,
        None,
    )
    .await
    {
        Ok(a) => a,
        Err(response) => return response,
    };
    if !admitted.tenant.data.spec.graph_provisioned {
        return graph_error(
            401,
            "Unauthorized",
            &format!(
                "The service principal of the Exchange message trace application ({TRACE_APP_ID}) is not provisioned in tenant {}. An administrator must create it before message traces can be read.",
                admitted.tenant.id()
            ),
        );
    }
    let query = QueryParams::parse(raw.as_deref());
    let now = state.clock.now();
    let filter = query.get("$filter").unwrap_or("");
    let Some((start, end)) = parse_filter(filter) else {
        return bad_request(&format!(
            "Invalid filter clause: '{filter}'. Only receivedDateTime with ge, gt, le and lt is supported."
        ));
    };
    let end = end.unwrap_or(now);
    let start = start.unwrap_or(end - Duration::hours(48));
    if end < start {
        return bad_request("The start of the receivedDateTime range must not be after its end.");
    }
    if end - start > Duration::days(10) {
        return bad_request("The receivedDateTime range must not span more than 10 days.");
    }
    if start < now - Duration::days(90) {
        return bad_request("Message traces are only available for the last 90 days.");
    }
    let top = match query.get("$top").map(str::parse::<usize>) {
        None => 1000,
        Some(Ok(n)) if (1..=5000).contains(&n) => n,
        Some(_) => {
            return bad_request(
                "Invalid value for $top: it must be an integer between 1 and 5000.",
            );
        }
    };
    let after = match query.get("$skiptoken").map(parse_skip_token) {
        None => None,
        Some(Some(position)) => Some(position),
        Some(None) => return bad_request("Invalid $skiptoken."),
    };
    let mut rows: Vec<Row> = admitted
        .tenant
        .data
        .visible_rows(start, end, now, after)
        .take(top + 1)
        .collect();
    let more = rows.len() > top;
    rows.truncate(top);
    let value: Vec<Value> = rows.iter().map(|r| record(r, now)).collect();
    let mut body = json!({"@odata.context": CONTEXT, "value": value});
    let foreign = admitted.has(&FaultKind::ForeignNextPage);
    let continue_after = if more {
        rows.last().map(Row::position)
    } else {
        None
    };
    if let Some(position) = continue_after.or(foreign.then_some((i64::MIN + 1, 0))) {
        let host = if foreign {
            state.urls.foreign.clone()
        } else {
            base_url(&parts)
        };
        let filter = format!(
            "receivedDateTime ge {} and receivedDateTime le {}",
            iso_seconds(start),
            iso_seconds(end)
        );
        body["@odata.nextLink"] = format!(
            "{host}{PATH}?$filter={}&$top={top}&$skiptoken={}",
            encode(&filter),
            skip_token(position)
        )
        .into();
    }
    admitted.reply(&body)
}
