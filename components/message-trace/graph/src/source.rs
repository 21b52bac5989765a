//! Microsoft Graph's wire format for message traces: the first page's URL,
//! a page (`value`, `@odata.nextLink`) and a record
//! (`exchangeMessageTrace`, camelCase).

use connector_sdk::FetchError;
use connector_sdk::http::{self, Response};
use connector_sdk::loose::Loose;
use connector_sdk::time::parse_millis;
use connector_sdk::url::Origin;
use message_trace_core::normalize::{self, Received, Trace};
use message_trace_core::step::{Page, Source};
use message_trace_core::time;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The path of the collection below the version root.
pub const PATH: &str = "/admin/exchange/tracing/messageTraces";

/// Where and how to ask Microsoft Graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    root: String,
    origin: Origin,
    page_size: u32,
}

impl Graph {
    /// Graph below `root` (`https://graph.microsoft.com/v1.0`), on
    /// `origin`, asking for `page_size` records per page.
    pub fn new(root: String, origin: Origin, page_size: u32) -> Graph {
        Graph {
            root,
            origin,
            page_size,
        }
    }

    /// The version root requests hang off.
    #[cfg(test)]
    pub fn root(&self) -> &str {
        &self.root
    }
}

/// A page: `{"@odata.context":..,"value":[..],"@odata.nextLink":".."}`.
#[derive(Deserialize)]
struct GraphPage<'a> {
    #[serde(borrow, default)]
    value: Option<Vec<&'a RawValue>>,
    #[serde(rename = "@odata.nextLink", default)]
    next: Option<String>,
}

/// The fields of an `exchangeMessageTrace` the envelope uses, each read as
/// any JSON value so that an unexpected type drops the field instead of
/// failing the record.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Fields<'a> {
    #[serde(default, borrow)]
    id: Option<Loose<'a>>,
    #[serde(default, borrow)]
    received_date_time: Option<Loose<'a>>,
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
    #[serde(default, borrow, rename = "fromIP")]
    from_ip: Option<Loose<'a>>,
    #[serde(default, borrow, rename = "toIP")]
    to_ip: Option<Loose<'a>>,
}

impl Source for Graph {
    fn origin(&self) -> &Origin {
        &self.origin
    }

    fn next_link_field(&self) -> &'static str {
        "@odata.nextLink"
    }

    /// `$filter=receivedDateTime ge <start> and receivedDateTime le <end>`:
    /// whole seconds, the end rounded up and at least a second after the
    /// start ([`time::filter_window`]; the step drops what lies at or after
    /// the exact end), then `$top`.
    fn first_page_url(&self, start: i64, end: i64) -> Result<String, FetchError> {
        let (from, to) = time::filter_window(start, end)?;
        let filter = format!("receivedDateTime ge {from} and receivedDateTime le {to}");
        Ok(format!(
            "{}{PATH}?$filter={}&$top={}",
            self.root,
            http::encode(&filter),
            self.page_size
        ))
    }

    fn parse_page<'a>(&self, body: &'a [u8]) -> Result<Page<'a>, String> {
        let page: GraphPage = serde_json::from_slice(body)
            .map_err(|e| format!("the answer is not a page of message traces ({e})"))?;
        let records = page
            .value
            .ok_or("the answer has no `value` array of message traces")?;
        Ok(Page {
            records,
            next: page.next,
        })
    }

    fn read_record<'a>(&self, raw: &'a RawValue) -> Result<Trace<'a>, String> {
        let f: Fields =
            serde_json::from_str(raw.get()).map_err(|e| format!("cannot be read ({e})"))?;
        let received = match &f.received_date_time {
            None | Some(Loose::Null) => Received::Missing,
            Some(Loose::Text(text)) => parse_millis(text).map_or_else(
                || Received::Unreadable(format!("receivedDateTime `{text}`")),
                Received::At,
            ),
            Some(other) => Received::Unreadable(format!("receivedDateTime {}", other.describe())),
        };
        Ok(Trace {
            id: normalize::text(f.id),
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
        crate::errors::from_response(response, url)
    }
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

    const FIRST: &str = "https://graph.microsoft.com/v1.0/admin/exchange/tracing/messageTraces?$filter=receivedDateTime%20ge%202026-11-25T07%3A00%3A00Z%20and%20receivedDateTime%20le%202026-11-25T07%3A45%3A00Z&$top=5000";

    fn graph(settings: &[(&str, &str)]) -> Graph {
        Config::from_settings(&ctx(NOW, settings).settings)
            .unwrap()
            .graph
    }

    fn item(start: i64, end: i64, page: Option<&str>) -> WorkItem {
        PageItem {
            start,
            end,
            page: page.map(str::to_string),
        }
        .item()
    }

    fn run(
        answers: Vec<Result<Response, HttpError>>,
        item: &WorkItem,
    ) -> (ScriptedApi, Result<StepOutput, FetchError>) {
        let mut api = ScriptedApi::new(answers);
        let out = step::step(&mut api, &ctx(NOW, &[]), &graph(&[]), item);
        (api, out)
    }

    #[test]
    fn the_first_page_filters_on_received_time_in_whole_seconds() {
        let g = graph(&[]);
        assert_eq!(g.first_page_url(GOLDEN_START, GOLDEN_END).unwrap(), FIRST);
        let url = g.first_page_url(GOLDEN_START, GOLDEN_END + 1).unwrap();
        assert!(url.contains("le%202026-11-25T07%3A45%3A01Z&"), "{url}");
        let g = graph(&[
            ("MESSAGE_TRACES_GRAPH_API", "http://127.0.0.1:9/"),
            ("MESSAGE_TRACES_PAGE_SIZE", "25"),
        ]);
        let url = g.first_page_url(GOLDEN_START, GOLDEN_END).unwrap();
        assert!(url.starts_with("http://127.0.0.1:9/v1.0/admin/exchange/tracing/messageTraces?$filter=receivedDateTime%20ge%20"), "{url}");
        assert!(url.ends_with("&$top=25"), "{url}");
        assert!(
            matches!(g.first_page_url(i64::MIN, 0), Err(FetchError::Fatal(m)) if m.contains("outside the years"))
        );
    }

    #[test]
    fn a_page_of_records_and_its_next_link() {
        let next = "https://graph.microsoft.com/v1.0/admin/exchange/tracing/messageTraces?$filter=x&$top=5000&$skiptoken=bXQxOjU5";
        let body = format!(
            r#"{{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#admin/exchange/tracing/messageTraces","@odata.nextLink":"{next}","value":[{{"id":"a","receivedDateTime":"2026-11-25T07:27:59Z","status":"delivered"}}]}}"#
        );
        let (api, out) = run(vec![ok(&body)], &item(GOLDEN_START, GOLDEN_END, None));
        assert_eq!(api.requests, [FIRST]);
        let out = out.unwrap();
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.events[0].time, NOW - 1_921_000);
        assert_eq!(
            out.next[0].key,
            format!("traces:{GOLDEN_START}:{GOLDEN_END}:{next}")
        );
        let (api, out) = run(
            vec![ok(r#"{"value":[],"@odata.nextLink":null}"#)],
            &item(GOLDEN_START, GOLDEN_END, Some(next)),
        );
        assert_eq!(api.requests, [next]);
        assert!(out.unwrap().next.is_empty());
    }

    #[test]
    fn a_next_link_to_another_host_is_fatal_naming_it() {
        let body = r#"{"value":[],"@odata.nextLink":"http://127.0.0.1:35269/v1.0/admin/exchange/tracing/messageTraces?$skiptoken=x"}"#;
        let (_, out) = run(vec![ok(body)], &item(GOLDEN_START, GOLDEN_END, None));
        match out {
            Err(FetchError::Fatal(m)) => assert_eq!(
                m,
                "@odata.nextLink points at 127.0.0.1:35269, not graph.microsoft.com; refusing to follow it (the host would send the API's token there)"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pages_that_are_not_pages_are_fatal_naming_the_url() {
        for (body, problem) in [
            (
                r#"{"@odata.context":"x","value":[{"id":"a","receivedDateTime":"2026-11-"#,
                "the answer is not a page of message traces (EOF",
            ),
            (
                r#"{"@odata.context":"x"}"#,
                "the answer has no `value` array of message traces",
            ),
            (
                r#"[{"id":"a"}]"#,
                "the answer is not a page of message traces (invalid type",
            ),
            (
                r#"{"value":{"id":"a"}}"#,
                "the answer is not a page of message traces (invalid type",
            ),
        ] {
            let (_, out) = run(vec![ok(body)], &item(GOLDEN_START, GOLDEN_END, None));
            match out {
                Err(FetchError::Fatal(m)) => {
                    assert!(
                        m.starts_with(&format!("message trace page {FIRST}: {problem}")),
                        "{m}"
                    );
                    assert!(m.contains("body starts `"), "{m}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn record_fields_are_read_leniently() {
        let g = graph(&[]);
        let read = |s: &'static str| g.read_record(serde_json::from_str(s).unwrap());
        let t = read(r#"{"id":"a","receivedDateTime":"2026-11-25T07:27:59.123Z","senderAddress":"s@x.com","recipientAddress":"r@y.com","subject":"","status":"filteredAsSpam","size":"12","messageId":null,"fromIP":"2603:10a6:20b:4c2::5","toIP":null}"#).unwrap();
        assert_eq!(t.received, Received::At(NOW - 1_920_877));
        assert_eq!(t.recipients, ["r@y.com"]);
        assert_eq!((t.subject, t.size, t.message_id), (None, Some(12), None));
        assert_eq!(t.from_ip.as_deref(), Some("2603:10a6:20b:4c2::5"));
        assert_eq!(
            read(r#"{"receivedDateTime":null}"#).unwrap().received,
            Received::Missing
        );
        assert_eq!(read(r#"{}"#).unwrap().received, Received::Missing);
        assert_eq!(
            read(r#"{"receivedDateTime":"25/11/2026"}"#)
                .unwrap()
                .received,
            Received::Unreadable("receivedDateTime `25/11/2026`".into())
        );
        assert_eq!(
            read(r#"{"receivedDateTime":1795593600000}"#)
                .unwrap()
                .received,
            Received::Unreadable("receivedDateTime 1795593600000".into())
        );
    }
}
