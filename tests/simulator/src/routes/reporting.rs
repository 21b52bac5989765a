//! Exchange Reporting Web Service (legacy, being retired):
//! `GET /ecp/reportingwebservice/reporting.svc/MessageTrace?$format=Json&$filter=StartDate eq datetime'…' and EndDate eq datetime'…'`.
//! OData v2 JSON (`d.results`, `/Date(ms)/`, `__next`); the same messages as Graph.

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::gate::admit;
use super::{Bounds, QueryParams, base_url, encode, filter_clauses};
use crate::data::traces::Row;
use crate::errors::{Api, reporting_error};
use crate::faults::{FaultKind, Target};
use crate::state::AppState;
use crate::timefmt::{iso_seconds, odata_date, parse_time};

const PATH: &str = "/ecp/reportingwebservice/reporting.svc/MessageTrace";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    // The service treats the path case-insensitively; clients use both spellings.
    Router::new().route(PATH, get(message_trace)).route(
        "/ecp/ReportingWebService/Reporting.svc/MessageTrace",
        get(message_trace),
    )
}

fn bad_request(message: &str) -> Response {
    reporting_error(400, "", message)
}

/// `StartDate` / `EndDate` of the filter, `None` if it is not one this report accepts.
fn parse_filter(filter: &str) -> Option<Bounds> {
    let (mut start, mut end) = (None, None);
    for clause in filter_clauses(filter) {
        let [property, op, value] = clause.as_slice() else {
            return None;
        };
        let literal = value
            .strip_prefix("datetime'")
            .or_else(|| value.strip_prefix("DateTime'"))?
            .strip_suffix('\'')?;
        let t = parse_time(literal)?;
        if !op.eq_ignore_ascii_case("eq") {
            return None;
        }
        match property.to_ascii_lowercase().as_str() {
            "startdate" => start = Some(t),
            "enddate" => end = Some(t),
            _ => return None,
        }
    }
    Some((start, end))
}

/// One row: the message's fields, shared `MessageTraceId`, this recipient
/// and its status at `now`.
fn record(
    row: &Row,
    now: DateTime<Utc>,
    index: usize,
    organization: &str,
    base: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Value {
    let uri = format!("{base}/ecp/ReportingWebService/Reporting.svc/MessageTrace({index})");
    let trace = &row.trace;
    json!({
        "__metadata": {"id": uri, "uri": uri, "type": "TenantReporting.MessageTrace"},
        "Organization": organization,
        "MessageId": trace.message_id,
        "Received": odata_date(trace.received),
        "SenderAddress": trace.sender,
        "RecipientAddress": row.recipient().address,
        "Subject": trace.subject,
        "Status": row.status_at(now).reporting(),
        "ToIP": trace.to_ip,
        "FromIP": trace.from_ip,
        "Size": trace.size,
        "MessageTraceId": trace.id,
        "StartDate": odata_date(start),
        "EndDate": odata_date(end),
        "Index": index,
    })
}

async fn message_trace(
    State(state): State<Arc<AppState>>,
    parts: Parts,
    RawQuery(raw): RawQuery,
) -> Response {
    let admitted = match admit(
        &state,
        &parts.headers,
        Api::Reporting,
        Target::Reporting,
        None,
        None,
    )
    .await
    {
        Ok(a) => a,
        Err(response) => return response,
    };
    let query = QueryParams::parse(raw.as_deref());
    let now = state.clock.now();
    let filter = query.get("$filter").unwrap_or("");
    let Some((start, end)) = parse_filter(filter) else {
        return bad_request(&format!(
            "The query parameter '$filter' is not valid: '{filter}'."
        ));
    };
    let end = end.unwrap_or(now);
    let start = start.unwrap_or(end - Duration::hours(48));
    if end < start {
        return bad_request("StartDate must be earlier than EndDate.");
    }
    if start < now - Duration::days(30) {
        return bad_request("StartDate can't be more than 30 days in the past.");
    }
    // `<offset>:<message index>:<row>`: the rows served so far, and the
    // last of them.
    let (offset, after) = match query.get("$skiptoken").map(|t| {
        let mut parts = t.splitn(3, ':').map(str::parse::<i64>);
        (parts.next(), parts.next(), parts.next())
    }) {
        None => (0usize, None),
        Some((Some(Ok(offset)), Some(Ok(index)), Some(Ok(row)))) if offset >= 0 && row >= 0 => {
            (offset as usize, Some((index, row as usize)))
        }
        Some(_) => return bad_request("The skip token is not valid."),
    };
    let page = state.config.page_size.max(1);
    let mut rows: Vec<Row> = admitted
        .tenant
        .data
        .visible_rows(start, end, now, after)
        .take(page + 1)
        .collect();
    let more = rows.len() > page;
    rows.truncate(page);
    let base = base_url(&parts);
    let domain = &admitted.tenant.data.spec.domain;
    let results: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| record(r, now, offset + i, domain, &base, start, end))
        .collect();
    let mut body = json!({"d": {"results": results}});
    let foreign = admitted.has(&FaultKind::ForeignNextPage);
    let continue_after = if more {
        rows.last().map(Row::position)
    } else {
        None
    };
    if let Some((index, row)) = continue_after.or(foreign.then_some((i64::MIN + 1, 0))) {
        let host = if foreign {
            state.urls.foreign.clone()
        } else {
            base
        };
        let filter = format!(
            "StartDate eq datetime'{}' and EndDate eq datetime'{}'",
            iso_seconds(start),
            iso_seconds(end)
        );
        body["d"]["__next"] = format!(
            "{host}{PATH}?$format=Json&$filter={}&$skiptoken={}:{index}:{row}",
            encode(&filter),
            offset + rows.len()
        )
        .into();
    }
    admitted.reply(&body)
}
