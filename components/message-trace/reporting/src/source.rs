//! The Reporting Web Service's wire format for message traces: the first
//! page's URL, a page and a record (`TenantReporting.MessageTrace`,
//! PascalCase, times as `/Date(ms)/`).
//!
//! The service is an OData v2 endpoint. With `$format=Json` it answers in
//! verbose JSON, `{"d":{"results":[..],"__next":".."}}` (what the seed read
//! and the simulator sends), but OData clients have also seen `{"d":[..]}`
//! and the lighter `{"value":[..],"odata.nextLink":"../../..."}` with a
//! relative link; all three are read, and a relative link is resolved
//! against the page before the origin check.

use connector_sdk::FetchError;
use connector_sdk::http::{self, Response};
use connector_sdk::loose::Loose;
use connector_sdk::time::{from_millis, parse_millis};
use connector_sdk::url::Origin;
use message_trace_core::normalize::{self, Received, Trace};
use message_trace_core::step::{Page, Source};
use message_trace_core::time;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Where and how to ask the Reporting Web Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reporting {
    service: String,
    origin: Origin,
    scope: String,
}

impl Reporting {
    /// The service at `service` (`https://reports.office365.com/ecp/
    /// reportingwebservice/reporting.svc`) on `origin`, whose tokens are for
    /// `scope`.
    pub fn new(service: String, origin: Origin, scope: String) -> Reporting {
        Reporting {
            service,
            origin,
            scope,
        }
    }

    /// The token scope, as configured.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The service URL the report hangs off.
    #[cfg(test)]
    pub fn service(&self) -> &str {
        &self.service
    }
}

/// Any of the page shapes; see the module docs.
#[derive(Deserialize)]
struct AnyPage<'a> {
    #[serde(borrow, default)]
    d: Option<&'a RawValue>,
    #[serde(borrow, default)]
    value: Option<Vec<&'a RawValue>>,
    #[serde(rename = "odata.nextLink", default)]
    light_next: Option<String>,
    #[serde(rename = "@odata.nextLink", default)]
    next: Option<String>,
}

/// `d` of a verbose page.
#[derive(Deserialize)]
struct Verbose<'a> {
    #[serde(borrow, default)]
    results: Option<Vec<&'a RawValue>>,
    #[serde(rename = "__next", default)]
    next: Option<String>,
}

/// The fields of a `MessageTrace` record the envelope uses, each read as
/// any JSON value so that an unexpected type drops the field instead of
/// failing the record.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Fields<'a> {
    #[serde(default, borrow)]
    message_trace_id: Option<Loose<'a>>,
    #[serde(default, borrow)]
    received: Option<Loose<'a>>,
    #[serde(default, borrow)]
    sender_address: Option<Loose<'a>>,
    #[serde(default, borrow)]
    recipient_address: Option<Loose<'a>>,
    #[serde(default, borrow)]
    subject: Option<Loose<'a>>,
    #[serde(default, borrow)]
    status: Option<Loose<'a>>,
    #[serde(default, borrow)]
    size: Option<Loose<'a>>,
    #[serde(default, borrow)]
    message_id: Option<Loose<'a>>,
    #[serde(default, borrow, rename = "FromIP")]
    from_ip: Option<Loose<'a>>,
    #[serde(default, borrow, rename = "ToIP")]
    to_ip: Option<Loose<'a>>,
}

impl Source for Reporting {
    fn origin(&self) -> &Origin {
        &self.origin
    }

    fn next_link_field(&self) -> &'static str {
        "__next"
    }

    /// `$format=Json&$filter=StartDate eq datetime'<start>' and EndDate eq
    /// datetime'<end>'`: whole seconds with `Z`, the end rounded up and at
    /// least a second after the start ([`time::filter_window`]; the step
    /// drops what lies at or after the exact end).
    fn first_page_url(&self, start: i64, end: i64) -> Result<String, FetchError> {
        let (from, to) = time::filter_window(start, end)?;
        let filter = format!("StartDate eq datetime'{from}' and EndDate eq datetime'{to}'");
        Ok(format!(
            "{}/MessageTrace?$format=Json&$filter={}",
            self.service,
            http::encode(&filter)
        ))
    }

    fn parse_page<'a>(&self, body: &'a [u8]) -> Result<Page<'a>, String> {
        let not_a_page = |e: serde_json::Error| {
            format!("the answer is not a page of the MessageTrace report ({e})")
        };
        let page: AnyPage = serde_json::from_slice(body).map_err(not_a_page)?;
        let light_next = page.light_next.or(page.next);
        match (page.d, page.value) {
            (Some(d), _) if d.get().starts_with('[') => Ok(Page {
                records: serde_json::from_str(d.get()).map_err(not_a_page)?,
                next: light_next,
            }),
            (Some(d), _) => {
                let verbose: Verbose = serde_json::from_str(d.get()).map_err(not_a_page)?;
                let records = verbose
                    .results
                    .ok_or("the answer has no `d.results` array of message traces")?;
                Ok(Page {
                    records,
                    next: verbose.next.or(light_next),
                })
            }
            (None, Some(records)) => Ok(Page {
                records,
                next: light_next,
            }),
            (None, None) => Err("the answer has no `d.results` array of message traces".into()),
        }
    }

    fn read_record<'a>(&self, raw: &'a RawValue) -> Result<Trace<'a>, String> {
        let f: Fields =
            serde_json::from_str(raw.get()).map_err(|e| format!("cannot be read ({e})"))?;
        let received = match &f.received {
            None | Some(Loose::Null) => Received::Missing,
            Some(Loose::Text(text)) => odata_date(text).or_else(|| parse_millis(text)).map_or_else(
                || Received::Unreadable(format!("Received `{text}`")),
                Received::At,
            ),
            Some(other) => Received::Unreadable(format!("Received {}", other.describe())),
        };
        Ok(Trace {
            id: normalize::text(f.message_trace_id),
            received,
            sender: normalize::text(f.sender_address),
            recipients: normalize::recipients(f.recipient_address),
            subject: normalize::text(f.subject),
            status: normalize::text(f.status),
            size: normalize::size(&f.size),
            message_id: normalize::text(f.message_id),
            from_ip: normalize::text(f.from_ip),
            to_ip: normalize::text(f.to_ip),
        })
    }

    fn error(&self, response: &Response, url: &str) -> FetchError {
        crate::errors::from_response(response, url, &self.scope)
    }
}

/// An OData v2 JSON date, `/Date(1700000000000)/`, optionally with an
/// offset suffix (`/Date(1700000000000+0060)/`, a `DateTimeOffset`): the
/// number is milliseconds since the epoch in UTC either way. None for
/// anything else, or outside years 1–9999.
pub fn odata_date(text: &str) -> Option<i64> {
    let inner = text.trim().strip_prefix("/Date(")?.strip_suffix(")/")?;
    let digits_end = inner
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(inner.len(), |(i, _)| i);
    let (number, offset) = inner.split_at(digits_end);
    let offset_ok = offset.is_empty()
        || (offset.len() == 5
            && offset.starts_with(['+', '-'])
            && offset[1..].bytes().all(|b| b.is_ascii_digit()));
    let ms: i64 = number.parse().ok()?;
    (offset_ok && from_millis(ms).is_some()).then_some(ms)
}

#[cfg(test)]
mod tests {
    use connector_sdk::http::HttpError;
    use connector_sdk::{StepOutput, WorkItem};
    use message_trace_core::items::PageItem;
    use message_trace_core::step;
    use message_trace_core::testkit::*;

    use super::*;
    use crate::settings::Config;

    const FIRST: &str = "https://reports.office365.com/ecp/reportingwebservice/reporting.svc/MessageTrace?$format=Json&$filter=StartDate%20eq%20datetime%272026-11-25T07%3A00%3A00Z%27%20and%20EndDate%20eq%20datetime%272026-11-25T07%3A45%3A00Z%27";

    fn reporting(settings: &[(&str, &str)]) -> Reporting {
        Config::from_settings(&ctx(NOW, settings).settings)
            .unwrap()
            .reporting
    }

    fn item(page: Option<&str>) -> WorkItem {
        PageItem {
            start: GOLDEN_START,
            end: GOLDEN_END,
            page: page.map(str::to_string),
        }
        .item()
    }

    fn run(
        answers: Vec<Result<Response, HttpError>>,
        page: Option<&str>,
    ) -> (ScriptedApi, Result<StepOutput, FetchError>) {
        let mut api = ScriptedApi::new(answers);
        let out = step::step(&mut api, &ctx(NOW, &[]), &reporting(&[]), &item(page));
        (api, out)
    }

    #[test]
    fn the_first_page_is_the_seeds_query() {
        assert_eq!(
            reporting(&[])
                .first_page_url(GOLDEN_START, GOLDEN_END)
                .unwrap(),
            FIRST
        );
        let seed = reporting(&[(
            "EXCHANGE_REPORTING_API",
            "https://reports.office365.com/ecp/reportingwebservice/reporting.svc",
        )]);
        assert_eq!(
            seed.first_page_url(GOLDEN_START, GOLDEN_END).unwrap(),
            FIRST
        );
        let url = reporting(&[])
            .first_page_url(GOLDEN_START + 1, GOLDEN_END + 1)
            .unwrap();
        assert!(url.contains("datetime%272026-11-25T07%3A00%3A00Z%27%20and%20EndDate%20eq%20datetime%272026-11-25T07%3A45%3A01Z%27"), "{url}");
    }

    #[test]
    fn verbose_pages_follow_next() {
        let next = "https://reports.office365.com/ecp/reportingwebservice/reporting.svc/MessageTrace?$format=Json&$filter=x&$skiptoken=3:59853053";
        let body = format!(
            r#"{{"d":{{"__next":"{next}","results":[{{"MessageTraceId":"a","Received":"/Date(1795591679000)/","Status":"Delivered"}}]}}}}"#
        );
        let (api, out) = run(vec![ok(&body)], None);
        assert_eq!(api.requests, [FIRST]);
        let out = out.unwrap();
        assert_eq!(out.events[0].id, "a::delivered");
        assert_eq!(out.events[0].time, 1_795_591_679_000);
        assert_eq!(
            PageItem::read(&out.next[0]).unwrap().page.as_deref(),
            Some(next)
        );
    }

    #[test]
    fn light_and_bare_pages_are_read_too_with_relative_links() {
        let body = r#"{"odata.metadata":"https://reports.office365.com/ecp/ReportingWebService/Reporting.svc/$metadata#MessageTrace","value":[{"MessageTraceId":"a","Received":"2026-11-25T07:27:59.164Z"}],"odata.nextLink":"../../reportingwebservice/reporting.svc/MessageTrace?$filter=x&$skiptoken=2000"}"#;
        let (_, out) = run(vec![ok(body)], None);
        let out = out.unwrap();
        assert_eq!(out.events[0].time, 1_795_591_679_164);
        assert_eq!(
            PageItem::read(&out.next[0]).unwrap().page.as_deref(),
            Some(
                "https://reports.office365.com/ecp/reportingwebservice/reporting.svc/MessageTrace?$filter=x&$skiptoken=2000"
            )
        );
        let (_, out) = run(
            vec![ok(
                r#"{"d":[{"MessageTraceId":"b","Received":"/Date(1795591679000)/"}]}"#,
            )],
            None,
        );
        let out = out.unwrap();
        assert_eq!(out.events[0].id, "b::");
        assert!(out.next.is_empty());
    }

    #[test]
    fn a_next_link_to_another_host_is_fatal_naming_it() {
        let body = r#"{"d":{"__next":"http://127.0.0.1:35269/ecp/reportingwebservice/reporting.svc/MessageTrace?$skiptoken=3:1","results":[]}}"#;
        match run(vec![ok(body)], None).1 {
            Err(FetchError::Fatal(m)) => assert_eq!(
                m,
                "__next points at 127.0.0.1:35269, not reports.office365.com; refusing to follow it (the host would send the API's token there)"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pages_that_are_not_pages_are_fatal_naming_the_url() {
        for (body, problem) in [
            (
                r#"{"d":{"results":[{"MessageTraceId":"a"#,
                "the answer is not a page of the MessageTrace report (EOF",
            ),
            (
                r#"{"d":{"__count":"0"}}"#,
                "the answer has no `d.results` array of message traces",
            ),
            (
                r#"{"odata.metadata":"x"}"#,
                "the answer has no `d.results` array of message traces",
            ),
            (
                r#"{"d":{"results":{"a":1}}}"#,
                "the answer is not a page of the MessageTrace report (invalid type",
            ),
            (
                "<html><body>Sign in</body></html>",
                "the answer is not a page of the MessageTrace report (expected value",
            ),
        ] {
            match run(vec![ok(body)], None).1 {
                Err(FetchError::Fatal(m)) => {
                    assert!(
                        m.starts_with(&format!("message trace page {FIRST}: {problem}")),
                        "{m}"
                    );
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn odata_dates_are_read() {
        assert_eq!(odata_date("/Date(1795591679000)/"), Some(1_795_591_679_000));
        assert_eq!(
            odata_date(" /Date(1795591679000+0000)/ "),
            Some(1_795_591_679_000)
        );
        assert_eq!(
            odata_date("/Date(1795591679000-0300)/"),
            Some(1_795_591_679_000)
        );
        assert_eq!(
            odata_date("/Date(-62135596800000)/"),
            Some(-62_135_596_800_000)
        );
        for bad in [
            "/Date()/",
            "/Date(abc)/",
            "Date(1)",
            "/Date(1+00)/",
            "/Date(1--0000)/",
            "/Date(99999999999999999)/",
            "1795591679000",
        ] {
            assert_eq!(odata_date(bad), None, "{bad}");
        }
        let r = reporting(&[]);
        let read = |s: &str| {
            r.read_record(&RawValue::from_string(s.into()).unwrap())
                .unwrap()
                .received
        };
        assert_eq!(
            read(r#"{"Received":"/Date(1795591679000)/"}"#),
            Received::At(1_795_591_679_000)
        );
        assert_eq!(
            read(r#"{"Received":"2026-11-25T07:27:59"}"#),
            Received::At(1_795_591_679_000)
        );
        assert_eq!(read(r#"{"Received":null}"#), Received::Missing);
        assert_eq!(
            read(r#"{"Received":"/Date(x)/"}"#),
            Received::Unreadable("Received `/Date(x)/`".into())
        );
        assert_eq!(
            read(r#"{"Received":17}"#),
            Received::Unreadable("Received 17".into())
        );
    }

    #[test]
    fn an_unreadable_received_time_is_published_as_malformed() {
        let body = r#"{"d":{"results":[{"MessageTraceId":"a","Received":"25.11.2026 07:27"}]}}"#;
        let out = run(vec![ok(body)], None).1.unwrap();
        assert_eq!(counts(&out.counters)[1], ("malformed-records", 1));
        let event: serde_json::Value = serde_json::from_str(&out.events[0].body).unwrap();
        assert_eq!(
            event["normalizationError"],
            "the record has Received `25.11.2026 07:27`, which is not a date this component reads"
        );
        assert_eq!(out.events[0].time, GOLDEN_START);
    }
}
