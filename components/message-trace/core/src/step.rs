//! `step`: runs one `page` item. Fetch the first page of the window (or the
//! next-page link the previous page gave), normalize its records, keep those
//! received inside the window, and return the next page as a follow-up item.
//!
//! What differs between the APIs (the first URL, the page and record
//! formats, what an error answer means) comes from a [`Source`]; the rest,
//! including every rule about links and windows, is here once.
//!
//! Links: a next-page link in a response is followed only on the API's
//! origin; anywhere else is `fatal`, naming the host (the host would attach
//! the API's token to it). A stored link that no longer matches the current
//! API (the other version of this component swapped in with items
//! outstanding, or the API base changed) is not requested either: its
//! window is read again from the first page (`restarted-windows`), so a swap
//! never leaves a checkpoint stuck.
//!
//! Records: each becomes an event, is left to the window that holds it
//! (`out-of-window`), or, when it cannot be normalized (not a JSON object,
//! a missing or unreadable received time), is published as it came with
//! `normalizationError` (`malformed-records`, each logged): one bad record
//! never fails its page nor is lost ([`crate::records`]). A row without a
//! trace id gets a derived one (`records-without-id`).

use connector_sdk::counters::Counters;
use connector_sdk::fetch_error::{malformed, network};
use connector_sdk::http::{Response, strip_bom};
use connector_sdk::url::Origin;
use connector_sdk::{Context, FetchError, StepOutput, WorkItem};
use serde_json::value::RawValue;

use crate::api::{Api, Level};
use crate::counters;
use crate::items::{PAGE, PageItem};
use crate::normalize::Trace;
use crate::records::{self, Outcome};
use crate::urls;

/// One page as an API returned it.
#[derive(Debug)]
pub struct Page<'a> {
    /// The records, each as its original text.
    pub records: Vec<&'a RawValue>,
    /// The next-page link, if the page gave one (absolute or relative).
    pub next: Option<String>,
}

/// What one API version adds to the shared logic.
pub trait Source {
    /// The API's origin: requests and followed links may go nowhere else.
    fn origin(&self) -> &Origin;
    /// The name of the response field holding the next-page link, for
    /// messages (`@odata.nextLink`).
    fn next_link_field(&self) -> &'static str;
    /// The URL of the first page of `[start, end)`.
    fn first_page_url(&self, start: i64, end: i64) -> Result<String, FetchError>;
    /// Reads a page body (already without a byte order mark), or says what
    /// is wrong with it.
    fn parse_page<'a>(&self, body: &'a [u8]) -> Result<Page<'a>, String>;
    /// Reads one record, known to be a JSON object, or says what is wrong
    /// with it.
    fn read_record<'a>(&self, raw: &'a RawValue) -> Result<Trace<'a>, String>;
    /// The error for a non-2xx answer to a request for `url`.
    fn error(&self, response: &Response, url: &str) -> FetchError;
}

/// Runs `item`; anything but a `page` item is `fatal`.
pub fn step(
    api: &mut impl Api,
    ctx: &Context,
    source: &impl Source,
    item: &WorkItem,
) -> Result<StepOutput, FetchError> {
    if item.kind != PAGE {
        return Err(FetchError::Fatal(format!(
            "unknown work item kind `{}` (key `{}`); this component runs only `{PAGE}` items",
            item.kind, item.key
        )));
    }
    page(api, ctx, source, &PageItem::read(item)?)
}

/// Runs one `page` item.
pub fn page(
    api: &mut impl Api,
    ctx: &Context,
    source: &impl Source,
    item: &PageItem,
) -> Result<StepOutput, FetchError> {
    let mut counters = Counters::default();
    let url = match &item.page {
        // Checked again although it was checked when found: the API base
        // may have changed since (the other version of this component
        // swapped in with items outstanding, or a simulator for the real
        // API). Such a link is never requested; the window is read again
        // from the first page of the current API, and the host drops the
        // repeated events by id.
        Some(link) => match source.origin().check(link, urls::SHOWN) {
            Ok(()) => link.clone(),
            Err(foreign) => {
                api.log(
                    Level::Warn,
                    &format!(
                        "a stored next-page link points at {foreign}: the API changed since it was \
                         found (another component version or API base); reading the window \
                         [{}, {}) again from its first page",
                        crate::time::show(item.start),
                        crate::time::show(item.end)
                    ),
                );
                counters.add(counters::RESTARTED_WINDOWS, 1);
                source.first_page_url(item.start, item.end)?
            }
        },
        None => source.first_page_url(item.start, item.end)?,
    };
    let what = format!("message trace page {}", urls::short(&url));
    let response = api
        .get(&url)
        .map_err(|e| network(e, "reading message traces"))?;
    if !response.is_success() {
        return Err(source.error(&response, &url));
    }
    let page = source
        .parse_page(strip_bom(&response.body))
        .map_err(|problem| malformed(&what, &problem, &response))?;
    let mut events = Vec::with_capacity(page.records.len());
    let mut bad_records = Vec::new();
    for (index, raw) in page.records.iter().enumerate() {
        match records::read(source, item, &ctx.tenant, raw) {
            Outcome::Event { event, had_id } => {
                counters.add(counters::RECORDS_WITHOUT_ID, u64::from(!had_id));
                events.push(event);
            }
            Outcome::OutOfWindow => counters.add(counters::OUT_OF_WINDOW, 1),
            Outcome::Malformed { event, problem } => {
                counters.add(counters::MALFORMED_RECORDS, 1);
                bad_records.push(format!("record {index} (id {}): {problem}", event.id));
                events.push(event);
            }
        }
    }
    if !bad_records.is_empty() {
        api.log(
            Level::Warn,
            &format!(
                "{what}: published {} record(s) that could not be normalized as they came, with \
                 `normalizationError` (the API's format may have changed): {}",
                bad_records.len(),
                bad_records.join("; ")
            ),
        );
    }
    let mut next = Vec::new();
    if let Some(link) = next_link(source, &url, page.next.as_deref())? {
        next.push(
            PageItem {
                page: Some(link),
                ..item.clone()
            }
            .item(),
        );
    }
    counters.add(counters::PAGES, 1);
    counters.add(counters::EVENTS, events.len() as u64);
    Ok(StepOutput {
        events,
        next,
        counters: counters.into_vec(),
    })
}

/// Decides whether to follow a next-page link found on `url`: none when it
/// is absent or blank; the absolute link when it is on the API's origin;
/// `fatal`, naming the foreign host, when it points anywhere else (the host
/// would attach the API's token to it) or back at the page just read.
pub fn next_link(
    source: &impl Source,
    url: &str,
    link: Option<&str>,
) -> Result<Option<String>, FetchError> {
    let Some(link) = link.map(str::trim).filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let field = source.next_link_field();
    let absolute = urls::resolve(url, link).ok_or_else(|| {
        FetchError::Fatal(format!(
            "{field} `{}` on {} cannot be made into a URL; refusing to follow it",
            urls::short(link),
            urls::short(url)
        ))
    })?;
    refuse_foreign(source, &absolute)?;
    if absolute == url {
        return Err(FetchError::Fatal(format!(
            "{field} on {} names the page just read; refusing to loop",
            urls::short(url)
        )));
    }
    Ok(Some(absolute))
}

fn refuse_foreign(source: &impl Source, link: &str) -> Result<(), FetchError> {
    source.origin().check(link, urls::SHOWN).map_err(|foreign| {
        FetchError::Fatal(format!(
            "{} points at {foreign}; refusing to follow it (the host would send the API's token there)",
            source.next_link_field()
        ))
    })
}

#[cfg(test)]
mod tests {
    use connector_sdk::http::HttpError;
    use connector_sdk::loose::Loose;
    use serde::Deserialize;
    use serde_json::Value;

    use super::*;
    use crate::normalize::{self, Received};
    use crate::testkit::*;

    /// A made-up API: pages `{"value":[..],"next":".."}`, records
    /// `{"id":..,"t":"<ISO>","to":..}`.
    struct Fake(Origin);

    impl Fake {
        fn new() -> Fake {
            Fake(Origin::of_base("X", "https://api.example", None).unwrap())
        }
    }

    #[derive(Deserialize)]
    struct FakePage<'a> {
        #[serde(borrow)]
        value: Vec<&'a RawValue>,
        next: Option<String>,
    }

    #[derive(Deserialize)]
    struct FakeRecord<'a> {
        #[serde(borrow)]
        id: Option<Loose<'a>>,
        #[serde(borrow)]
        t: Option<Loose<'a>>,
        #[serde(borrow)]
        to: Option<Loose<'a>>,
    }

    impl Source for Fake {
        fn origin(&self) -> &Origin {
            &self.0
        }
        fn next_link_field(&self) -> &'static str {
            "next"
        }
        fn first_page_url(&self, start: i64, end: i64) -> Result<String, FetchError> {
            Ok(format!("https://api.example/traces?from={start}&to={end}"))
        }
        fn parse_page<'a>(&self, body: &'a [u8]) -> Result<Page<'a>, String> {
            let page: FakePage = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            Ok(Page {
                records: page.value,
                next: page.next,
            })
        }
        fn read_record<'a>(&self, raw: &'a RawValue) -> Result<Trace<'a>, String> {
            let r: FakeRecord = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
            let received = match &r.t {
                None | Some(Loose::Null) => Received::Missing,
                Some(Loose::Text(t)) => connector_sdk::time::parse_millis(t)
                    .map_or_else(|| Received::Unreadable(format!("t `{t}`")), Received::At),
                Some(other) => Received::Unreadable(format!("t {}", other.describe())),
            };
            Ok(Trace {
                id: normalize::text(r.id),
                received,
                sender: None,
                recipients: normalize::recipients(r.to),
                subject: None,
                status: None,
                size: None,
                message_id: None,
                from_ip: None,
                to_ip: None,
            })
        }
        fn error(&self, response: &Response, url: &str) -> FetchError {
            FetchError::BadRequest(format!("{url}: {}", response.status))
        }
    }

    const START: i64 = GOLDEN_START;
    const END: i64 = GOLDEN_END;
    const FIRST: &str = "https://api.example/traces?from=1795590000000&to=1795592700000";

    fn item(page: Option<&str>) -> WorkItem {
        PageItem {
            start: START,
            end: END,
            page: page.map(str::to_string),
        }
        .item()
    }

    fn run(
        answers: Vec<Result<Response, HttpError>>,
        page: Option<&str>,
    ) -> (ScriptedApi, Result<StepOutput, FetchError>) {
        let mut api = ScriptedApi::new(answers);
        let out = step(&mut api, &ctx(NOW, &[]), &Fake::new(), &item(page));
        (api, out)
    }

    fn fatal(result: Result<StepOutput, FetchError>) -> String {
        match result {
            Err(FetchError::Fatal(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_page_gives_its_events_in_the_window_and_the_next_page() {
        let body = r#"{"value":[
            {"id":"a","t":"2026-11-25T07:00:00Z","to":"x@c.com"},
            {"id":"b","t":"2026-11-25T06:59:59.999Z"},
            {"id":"c","t":"2026-11-25T07:44:59.999Z"},
            {"id":"d","t":"2026-11-25T07:45:00Z"},
            {"t":"2026-11-25T07:30:00Z","to":"y@c.com"}
        ],"next":"https://api.example/traces?page=2"}"#;
        let (api, out) = run(vec![ok(body)], None);
        let out = out.unwrap();
        assert_eq!(api.requests, [FIRST]);
        let ids: Vec<_> = out.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids[..2], ["a:x@c.com:", "c::"]);
        assert!(ids[2].starts_with("derived-1795591800000-"), "{}", ids[2]);
        assert!(ids[2].ends_with(":y@c.com:"), "{}", ids[2]);
        assert_eq!(
            counts(&out.counters),
            [
                ("events", 3),
                ("out-of-window", 2),
                ("pages", 1),
                ("records-without-id", 1)
            ]
        );
        assert_eq!(out.next.len(), 1);
        assert_eq!(
            out.next[0].key,
            format!("traces:{START}:{END}:https://api.example/traces?page=2")
        );
        let next = PageItem::read(&out.next[0]).unwrap();
        assert_eq!(
            next.page.as_deref(),
            Some("https://api.example/traces?page=2")
        );
        let (api, out) = run(vec![ok(r#"{"value":[]}"#)], next.page.as_deref());
        assert_eq!(api.requests, ["https://api.example/traces?page=2"]);
        let out = out.unwrap();
        assert!(out.events.is_empty() && out.next.is_empty());
        assert_eq!(counts(&out.counters), [("pages", 1)]);
    }

    fn bodies(out: &StepOutput) -> Vec<Value> {
        out.events
            .iter()
            .map(|e| serde_json::from_str(&e.body).unwrap())
            .collect()
    }

    #[test]
    fn records_that_cannot_be_normalized_are_published_and_the_page_goes_on() {
        let body = r#"{"value":[
            {"id":"a"},
            {"id":"b","t":"yesterday","to":"x@c.com"},
            7,
            {"id":"c","t":"2026-11-25T07:10:00Z"}
        ],"next":"https://api.example/traces?page=2"}"#;
        let (api, out) = run(vec![ok(body)], None);
        let out = out.unwrap();
        assert_eq!(out.next.len(), 1, "the next page is still read");
        assert_eq!(
            counts(&out.counters),
            [("events", 4), ("malformed-records", 3), ("pages", 1)]
        );
        let b = bodies(&out);
        assert_eq!(b[0]["id"], "a::");
        assert_eq!(
            b[0]["normalizationError"],
            "the record has no received time"
        );
        assert_eq!(b[1]["id"], "b:x@c.com:");
        assert_eq!(
            b[1]["normalizationError"],
            "the record has t `yesterday`, which is not a date this component reads"
        );
        assert_eq!(b[1]["recipients"][0], "x@c.com", "what was read is kept");
        assert!(b[2]["id"].as_str().unwrap().starts_with("malformed-"));
        assert_eq!(
            b[2]["normalizationError"],
            "the record is a number, not a JSON object"
        );
        assert_eq!(b[2]["record"], 7);
        for malformed in &b[..3] {
            assert_eq!(
                malformed["time"], "2026-11-25T07:00:00.000Z",
                "window start"
            );
        }
        assert_eq!(out.events[2].time, START);
        assert!(b[3].get("normalizationError").is_none());
        assert_eq!(api.logs.len(), 1);
        assert_eq!(api.logs[0].0, Level::Warn);
        assert!(
            api.logs[0]
                .1
                .contains("published 3 record(s) that could not be normalized")
                && api.logs[0].1.contains("record 2 (id malformed-"),
            "{}",
            api.logs[0].1
        );
        // Read again, the same records get the same ids.
        let (_, again) = run(vec![ok(body)], None);
        let ids = |o: &StepOutput| o.events.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&again.unwrap()), ids(&out));
    }

    #[test]
    fn pages_that_cannot_be_read_are_fatal_naming_the_page() {
        let m = fatal(run(vec![ok(r#"{"value":[{"id":"a","t":"2026"#)], None).1);
        assert!(
            m.starts_with(&format!("message trace page {FIRST}: EOF while parsing")),
            "{m}"
        );
        assert!(fatal(run(vec![ok("")], None).1).ends_with("(empty body)"));
    }

    #[test]
    fn a_bom_is_tolerated() {
        let (_, out) = run(vec![ok("\u{feff}{\"value\":[]}")], None);
        assert_eq!(counts(&out.unwrap().counters), [("pages", 1)]);
    }

    #[test]
    fn next_links_elsewhere_or_in_a_loop_are_fatal() {
        let m = fatal(
            run(
                vec![ok(r#"{"value":[],"next":"https://evil.example/x"}"#)],
                None,
            )
            .1,
        );
        assert_eq!(
            m,
            "next points at evil.example, not api.example; refusing to follow it (the host would send the API's token there)"
        );
        let m = fatal(
            run(
                vec![ok(r#"{"value":[],"next":"http://api.example/x"}"#)],
                None,
            )
            .1,
        );
        assert!(
            m.contains("http://api.example, not https://api.example"),
            "{m}"
        );
        let looping = format!(r#"{{"value":[],"next":"{FIRST}"}}"#);
        let m = fatal(run(vec![ok(&looping)], None).1);
        assert_eq!(
            m,
            format!("next on {FIRST} names the page just read; refusing to loop")
        );
        let m = fatal(run(vec![ok(r#"{"value":[],"next":"//evil.example/x"}"#)], None).1);
        assert!(
            m.starts_with("next `//evil.example/x` on https://api.example/traces"),
            "{m}"
        );
    }

    #[test]
    fn a_stored_link_off_the_current_api_restarts_the_window() {
        let (api, out) = run(
            vec![ok(r#"{"value":[{"id":"a","t":"2026-11-25T07:10:00Z"}]}"#)],
            Some("https://reports.office365.com/ecp/x?$skiptoken=3"),
        );
        assert_eq!(api.requests, [FIRST], "the foreign link is never requested");
        let out = out.unwrap();
        assert_eq!(out.events.len(), 1);
        assert_eq!(
            counts(&out.counters),
            [("events", 1), ("pages", 1), ("restarted-windows", 1)]
        );
        assert_eq!(api.logs.len(), 1);
        assert!(api.logs[0].1.starts_with("a stored next-page link points at reports.office365.com, not api.example: the API changed"), "{}", api.logs[0].1);
    }

    #[test]
    fn relative_links_are_made_absolute() {
        let (_, out) = run(vec![ok(r#"{"value":[],"next":"traces?page=2"}"#)], None);
        let next = PageItem::read(&out.unwrap().next[0]).unwrap();
        assert_eq!(
            next.page.as_deref(),
            Some("https://api.example/traces?page=2")
        );
        let (_, out) = run(vec![ok(r#"{"value":[],"next":"  "}"#)], None);
        assert!(out.unwrap().next.is_empty());
    }

    #[test]
    fn errors_come_from_the_source_and_the_network() {
        let (_, out) = run(vec![answer(418, &[], "")], None);
        assert!(matches!(out, Err(FetchError::BadRequest(m)) if m == format!("{FIRST}: 418")));
        let (_, out) = run(vec![Err(HttpError::Transport("reset".into()))], None);
        assert!(
            matches!(out, Err(FetchError::Transient(m)) if m == "reading message traces: network error: reset")
        );
    }

    #[test]
    fn unknown_kinds_and_payloads_are_fatal() {
        let mut api = ScriptedApi::default();
        let mut other = item(None);
        other.kind = "content-blob".into();
        let m = fatal(step(&mut api, &ctx(NOW, &[]), &Fake::new(), &other));
        assert_eq!(
            m,
            format!(
                "unknown work item kind `content-blob` (key `{}`); this component runs only `page` items",
                other.key
            )
        );
        let mut bad = item(None);
        bad.payload = "[]".into();
        assert!(
            fatal(step(&mut api, &ctx(NOW, &[]), &Fake::new(), &bad))
                .contains("unreadable payload")
        );
        assert!(api.requests.is_empty());
    }
}
