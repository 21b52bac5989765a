//! The `content-blob` step: fetch one content blob (a JSON array of audit
//! records), normalize each record, and drop those from ignored sources.
//!
//! Checks come before the request: a `contentUri` off the API's origin is
//! never fetched (the host would attach the API's token to it), and a blob
//! past its `contentExpiration` is reported `expired` without asking.
//!
//! A body that is not a JSON array fails the item (nothing in it can be
//! trusted); one record in it that cannot be normalized does not: it is
//! published as it came, with `normalizationError`, and counted.

use connector_sdk::counters::Counters;
use connector_sdk::fetch_error::{malformed, network};
use connector_sdk::http::strip_bom;
use connector_sdk::{Context, Event, FetchError, StepOutput, time};
use serde_json::value::RawValue;

use crate::api::{Api, Level};
use crate::counters;
use crate::errors;
use crate::items::ContentBlob;
use crate::normalize::{self, BlobInfo, Record};
use crate::settings::Config;
use crate::urls;

/// Runs one `content-blob` item.
pub fn fetch(
    api: &mut impl Api,
    ctx: &Context,
    config: &Config,
    blob: &ContentBlob,
) -> Result<StepOutput, FetchError> {
    let what = format!("content {} ({})", blob.content_id, blob.content_type);
    config
        .origin
        .check(&blob.content_uri, urls::SHOWN)
        .map_err(|foreign| {
            FetchError::Fatal(format!(
                "contentUri of {what} points at {foreign}; refusing to fetch it"
            ))
        })?;
    if let Some(expiration) = blob.content_expiration.as_deref()
        && let Some(at) = time::parse_millis(expiration)
        && ctx.now >= at
    {
        return Err(FetchError::Expired(format!(
            "{what} expired at {expiration}; it can no longer be fetched"
        )));
    }
    let url = urls::with_publisher(&blob.content_uri, &ctx.tenant);
    let fetching = format!("fetching {what}");
    let response = api.get(&url).map_err(|e| network(e, &fetching))?;
    errors::check(&response, &fetching, &url)?;
    let body = strip_bom(&response.body);
    let info = BlobInfo {
        tenant: &ctx.tenant,
        content_id: &blob.content_id,
        content_type: blob.content_type,
        fallback_time: blob
            .content_created
            .as_deref()
            .and_then(time::parse_millis)
            .unwrap_or(ctx.now),
    };
    // Each record read once, straight from the body; any doubt (a body not
    // shaped like an array of records, a record that does not read) and the
    // whole body is read exactly instead, so bad input is judged as strictly
    // as ever (`split`).
    let quick = std::str::from_utf8(body)
        .ok()
        .and_then(crate::split::records);
    let (events, mut counters) = match quick {
        Some(records) => normalize_read(config, &info, &records),
        None => {
            let raw: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| {
                malformed(
                    &what,
                    &format!("the body is not a JSON array ({e})"),
                    &response,
                )
            })?;
            let records: Vec<&str> = raw.iter().map(|r| r.get()).collect();
            normalize_exactly(api, &what, config, &info, &records)
        }
    };
    counters.add(counters::BLOBS, 1);
    counters.add(counters::EVENTS, events.len() as u64);
    Ok(StepOutput {
        events,
        next: Vec::new(),
        counters: counters.into_vec(),
    })
}

/// The events of `records`, all read, and the counts.
fn normalize_read(config: &Config, info: &BlobInfo, records: &[Record]) -> (Vec<Event>, Counters) {
    let mut counters = Counters::default();
    let mut events = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        if let Some(event) = normalize_one(config, info, record, index, &mut counters) {
            events.push(event);
        }
    }
    (events, counters)
}

/// The events of `records` (each one's JSON text) and the counts; a record
/// that does not read is published as it came, with `normalizationError`.
fn normalize_exactly(
    api: &mut impl Api,
    what: &str,
    config: &Config,
    info: &BlobInfo,
    records: &[&str],
) -> (Vec<Event>, Counters) {
    let mut counters = Counters::default();
    let mut events = Vec::with_capacity(records.len());
    for (index, text) in records.iter().enumerate() {
        match Record::read(text) {
            Ok(record) => {
                if let Some(event) = normalize_one(config, info, &record, index, &mut counters) {
                    events.push(event);
                }
            }
            Err(problem) => {
                api.log(
                    Level::Warn,
                    &format!("{what}: record {index} {problem}; publishing it as it came, with normalizationError"),
                );
                counters.add(counters::MALFORMED_RECORDS, 1);
                events.push(normalize::malformed(text, index, info, &problem));
            }
        }
    }
    (events, counters)
}

/// The event of record number `index`, or none if its source is ignored.
fn normalize_one(
    config: &Config,
    info: &BlobInfo,
    record: &Record,
    index: usize,
    counters: &mut Counters,
) -> Option<Event> {
    if record
        .source()
        .is_some_and(|source| config.is_ignored_source(&source))
    {
        counters.add(counters::IGNORED_EVENTS, 1);
        return None;
    }
    let normalized = record.normalize(index, info);
    counters.add(counters::RECORDS_WITHOUT_ID, u64::from(!normalized.had_id));
    counters.add(counters::BAD_TIMES, u64::from(!normalized.had_time));
    Some(normalized.event)
}

#[cfg(test)]
mod tests {
    use connector_sdk::http::{HttpError, Response};

    use super::*;
    use crate::content_type::ContentType;
    use crate::testing::*;

    const URI: &str = "https://manage.office.com/api/v1.0/11111111-2222-3333-4444-555555555555/activity/feed/audit/20240501073500.1$a";

    fn blob(uri: &str, expiration: Option<&str>) -> ContentBlob {
        ContentBlob {
            content_uri: uri.into(),
            content_id: "20240501073500.1$a".into(),
            content_type: ContentType::SharePoint,
            content_created: Some("2024-05-01T07:35:00.000Z".into()),
            content_expiration: expiration.map(str::to_string),
        }
    }

    fn run_with(
        settings: &[(&str, &str)],
        blob: &ContentBlob,
        answers: Vec<Result<Response, HttpError>>,
    ) -> (ScriptedApi, Result<StepOutput, FetchError>) {
        let mut api = ScriptedApi::new(answers);
        let cx = ctx(NOW, settings);
        let c = Config::from_settings(&cx.settings).unwrap();
        let out = fetch(&mut api, &cx, &c, blob);
        (api, out)
    }

    fn run(body: Result<Response, HttpError>) -> Result<StepOutput, FetchError> {
        run_with(&[], &blob(URI, None), vec![body]).1
    }

    fn fatal(result: Result<StepOutput, FetchError>) -> String {
        match result {
            Err(FetchError::Fatal(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_content_uri_on_another_host_is_never_fetched() {
        let (api, out) = run_with(
            &[],
            &blob("https://blobs.evil.example/audit/x", None),
            vec![],
        );
        assert_eq!(
            fatal(out),
            "contentUri of content 20240501073500.1$a (Audit.SharePoint) points at blobs.evil.example, not manage.office.com; refusing to fetch it"
        );
        assert!(api.requests.is_empty());
    }

    #[test]
    fn expired_content_is_reported_without_asking() {
        for expiration in ["2024-05-01T08:00:00.000Z", "2024-04-30T08:00:00Z"] {
            let (api, out) = run_with(&[], &blob(URI, Some(expiration)), vec![]);
            match out {
                Err(FetchError::Expired(m)) => assert_eq!(
                    m,
                    format!(
                        "content 20240501073500.1$a (Audit.SharePoint) expired at {expiration}; it can no longer be fetched"
                    )
                ),
                other => panic!("{other:?}"),
            }
            assert!(api.requests.is_empty());
        }
        // A millisecond before expiry, or an unreadable expiry: fetched.
        for expiration in ["2024-05-01T08:00:00.001Z", "someday"] {
            let (api, out) = run_with(&[], &blob(URI, Some(expiration)), vec![ok("[]")]);
            assert!(out.is_ok(), "{expiration}");
            assert_eq!(api.requests.len(), 1);
        }
    }

    #[test]
    fn the_publisher_is_appended_to_the_content_uri() {
        let (api, _) = run_with(&[], &blob(URI, None), vec![ok("[]")]);
        assert_eq!(
            api.requests,
            [format!("GET {URI}?PublisherIdentifier={TENANT}")]
        );
        let with_query = format!("{URI}?sig=1");
        let (api, _) = run_with(&[], &blob(&with_query, None), vec![ok("[]")]);
        assert_eq!(
            api.requests,
            [format!("GET {with_query}&PublisherIdentifier={TENANT}")]
        );
    }

    #[test]
    fn api_answers_about_content_are_mapped() {
        let out = run(api_error(
            400,
            "AF20051",
            "Content requested with the key 20240501073500.1$a has already expired.",
        ));
        assert!(
            matches!(out, Err(FetchError::Expired(m)) if m.starts_with("fetching content 20240501073500.1$a (Audit.SharePoint) (") && m.contains("AF20051"))
        );
        let out = run(api_error(
            400,
            "AF20052",
            "Content ID 20240501073500.1$a in the URL is invalid.",
        ));
        assert!(matches!(out, Err(FetchError::NotFound(m)) if m.contains("AF20052")));
        let out = run(answer(429, &[("Retry-After", "1.5")], ""));
        assert!(matches!(out, Err(FetchError::Throttled(t)) if t.retry_after == Some(1_500)));
        let out = run(answer(503, &[], ""));
        assert!(matches!(out, Err(FetchError::Transient(_))));
        let out = run(Err(HttpError::Refused("authority not allowed".into())));
        assert!(
            matches!(out, Err(FetchError::Fatal(m)) if m.starts_with("fetching content 20240501073500.1$a"))
        );
    }

    #[test]
    fn bodies_that_are_not_arrays_of_objects_are_fatal_naming_the_content() {
        let m = fatal(run(ok(r#"{"Id":"e1"}"#)));
        assert!(
            m.starts_with(
                "content 20240501073500.1$a (Audit.SharePoint): the body is not a JSON array"
            ),
            "{m}"
        );
        assert!(m.ends_with("body starts `{\"Id\":\"e1\"}`"), "{m}");
        let m = fatal(run(ok("[{\"Id\":\"e1\"}")));
        assert!(m.contains("the body is not a JSON array"), "{m}");
        assert!(fatal(run(ok(""))).ends_with("(empty body)"));
        let m = fatal(run(answer(200, &[], "<html><body>Sign in</body></html>")));
        assert!(m.contains("body starts `<html><body>Sign in"), "{m}");
    }

    #[test]
    fn a_record_that_is_not_an_object_is_published_with_the_error_not_failing_the_blob() {
        let (api, out) = run_with(
            &[],
            &blob(URI, None),
            vec![ok(
                r#"[{"Id":"e1","CreationTime":"2024-05-01T07:30:00"},"oops",{"Id":"e2","Id":"e3"},{"Id":"e4","CreationTime":"2024-05-01T07:30:00"}]"#,
            )],
        );
        let out = out.unwrap();
        let ids: Vec<_> = out.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            ["e1", "20240501073500.1$a:1", "20240501073500.1$a:2", "e4"]
        );
        let error = |i: usize| {
            let body: serde_json::Value = serde_json::from_str(&out.events[i].body).unwrap();
            body["normalizationError"].as_str().map(str::to_string)
        };
        assert_eq!(error(0), None);
        assert_eq!(
            error(1).as_deref(),
            Some("record 1 of content 20240501073500.1$a is a string, not a JSON object")
        );
        assert!(
            error(2).is_some_and(|m| m.contains("cannot be read") && m.contains("duplicate field")),
            "{:?}",
            error(2)
        );
        assert_eq!(
            counts(&out.counters),
            [("blobs", 1), ("events", 4), ("malformed-records", 2)]
        );
        assert!(
            api.logs
                .iter()
                .any(|(_, m)| m.contains("record 1 is a string"))
        );
    }

    #[test]
    fn a_bom_and_an_empty_array_are_fine() {
        let out = run(ok("\u{feff}[]")).unwrap();
        assert!(out.events.is_empty() && out.next.is_empty());
        assert_eq!(counts(&out.counters), [("blobs", 1)]);
    }

    #[test]
    fn ignored_sources_are_dropped_and_counted() {
        let body = r#"[
            {"Id":"a","CreationTime":"2024-05-01T07:30:00","Source":"Cloud App Security"},
            {"Id":"b","CreationTime":"2024-05-01T07:30:00","Source":"Exchange"},
            {"Id":"c","CreationTime":"2024-05-01T07:30:00"}
        ]"#;
        let (_, out) = run_with(&[], &blob(URI, None), vec![ok(body)]);
        let out = out.unwrap();
        let ids: Vec<_> = out.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
        assert_eq!(
            counts(&out.counters),
            [("blobs", 1), ("events", 2), ("ignored-events", 1)]
        );

        let (_, out) = run_with(
            &[("O365_IGNORED_SOURCES", "exchange, Other")],
            &blob(URI, None),
            vec![ok(body)],
        );
        let ids: Vec<_> = out.unwrap().events.iter().map(|e| e.id.clone()).collect();
        assert_eq!(ids, ["a", "c"]);
    }

    #[test]
    fn made_up_ids_and_times_are_counted() {
        let body =
            r#"[{"CreationTime":"garbage"},{"Id":"x","CreationTime":"2024-05-01T07:30:00"}]"#;
        let out = run(ok(body)).unwrap();
        assert_eq!(out.events[0].id, "20240501073500.1$a:0");
        assert_eq!(out.events[0].time, NOW - 25 * 60_000, "contentCreated");
        assert_eq!(
            counts(&out.counters),
            [
                ("bad-times", 1),
                ("blobs", 1),
                ("events", 2),
                ("records-without-id", 1)
            ]
        );
    }
}
