//! One message trace record → one event in the shared envelope
//! (`docs/event-envelope.schema.json`, described in `docs/events.md`).
//!
//! Each version reads its API's record into a [`Trace`] (Graph's camelCase
//! fields, the Reporting Web Service's PascalCase ones and `/Date(ms)/`
//! times); from there on everything is shared, so the same message gives the
//! same envelope whichever API it came from. The record itself is embedded
//! untouched as `record`. Absent fields are left out rather than written as
//! null.
//!
//! A record that cannot be normalized is still published, never dropped
//! and never allowed to fail its page ([`malformed`], or [`normalize`] with
//! a problem): the SIEM gets the raw record, a stable id, the time that is
//! known (the queried window's start) and `normalizationError` saying what
//! was wrong, and the rest of the page goes on. Event ids are built in
//! [`crate::identity`].

use connector_sdk::loose::Loose;
use connector_sdk::{Event, ip, time};
use std::borrow::Cow;

use crate::identity;
use serde::Serialize;
use serde_json::value::RawValue;

/// The envelope's `source` for message traces.
pub const SOURCE: &str = "exchange.messagetrace";
/// The event kind, the only one this component emits.
pub const KIND: &str = "MessageTrace";

/// The delivery statuses the APIs document, in Graph's spelling. The
/// Reporting Web Service writes the same words capitalized
/// (`FilteredAsSpam`); both map to these, so a consumer matches one value.
pub const STATUSES: [&str; 8] = [
    "pending",
    "delivered",
    "failed",
    "expanded",
    "quarantined",
    "filteredAsSpam",
    "gettingStatus",
    "none",
];

/// When a record says the message was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The instant, ms.
    At(i64),
    /// The record has no time (absent or null).
    Missing,
    /// The record has a time this component cannot read: the field and its
    /// value, as in `receivedDateTime "yesterday"`.
    Unreadable(String),
}

/// A record as both versions read it; every field optional except the
/// time, which decides the window it belongs to. The texts are borrowed
/// from the record's JSON wherever it spelled them without escapes (nearly
/// always), so reading a row copies nothing until its envelope is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace<'a> {
    /// The message trace id (Graph `id`, RWS `MessageTraceId`).
    pub id: Option<Cow<'a, str>>,
    /// When the message was received.
    pub received: Received,
    /// The sender address.
    pub sender: Option<Cow<'a, str>>,
    /// The recipient addresses, in record order, without blanks or repeats.
    pub recipients: Vec<Cow<'a, str>>,
    /// The subject.
    pub subject: Option<Cow<'a, str>>,
    /// The delivery status as the API spelled it.
    pub status: Option<Cow<'a, str>>,
    /// The size in bytes.
    pub size: Option<u64>,
    /// The Internet message id.
    pub message_id: Option<Cow<'a, str>>,
    /// Where the message came from, as the API wrote it.
    pub from_ip: Option<Cow<'a, str>>,
    /// Where it went, as the API wrote it.
    pub to_ip: Option<Cow<'a, str>>,
}

/// A normalized record, and whether its trace id had to be made up.
#[derive(Debug, Clone)]
pub struct Normalized {
    /// The event.
    pub event: Event,
    /// False when the record had no trace id and got one derived from its
    /// content.
    pub had_id: bool,
}

/// The event for `trace`, whose original text is `raw`, published at `at`
/// (ms): its received time, or, with a `problem` (its time is missing or
/// unreadable), the start of the queried window. `problem` becomes
/// `normalizationError`.
pub fn normalize(
    trace: &Trace<'_>,
    at: i64,
    raw: &RawValue,
    tenant: &str,
    problem: Option<&str>,
) -> Normalized {
    let id = identity::event_id(trace);
    let body = body(&Envelope {
        id: &id,
        trace_id: trace.id.as_deref(),
        sender: trace.sender.as_deref(),
        recipients: &trace.recipients,
        subject: trace.subject.as_deref(),
        status: trace.status.as_deref().and_then(status),
        size: trace.size,
        message_id: trace.message_id.as_deref(),
        from_ip: trace.from_ip.as_deref().and_then(ip::clean),
        to_ip: trace.to_ip.as_deref().and_then(ip::clean),
        normalization_error: problem,
        ..Envelope::new(&id, at, tenant, raw)
    });
    Normalized {
        event: event(id, at, body),
        had_id: trace.id.is_some(),
    }
}

/// The event for a record none of whose fields could be read (`problem`
/// says why: not a JSON object, or not the API's record type), published at
/// `at` (the start of the queried window) with the record as it came, an id
/// derived from its text ([`identity::malformed_id`]) and
/// `normalizationError`.
pub fn malformed(raw: &RawValue, at: i64, tenant: &str, problem: &str) -> Event {
    let id = identity::malformed_id(raw.get());
    let body = body(&Envelope {
        normalization_error: Some(problem),
        ..Envelope::new(&id, at, tenant, raw)
    });
    event(id, at, body)
}

/// The envelope as JSON text. An envelope of strings, numbers and already
/// valid JSON always serializes.
fn body(envelope: &Envelope<'_>) -> String {
    serde_json::to_string(envelope).unwrap_or_default()
}

/// The event with `id` (the envelope's own, moved rather than copied).
fn event(id: String, at: i64, body: String) -> Event {
    Event {
        id,
        time: at,
        kind: KIND.to_string(),
        partition_key: None,
        body,
    }
}

/// The envelope, in the order its fields are written.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    id: &'a str,
    time: String,
    source: &'static str,
    kind: &'static str,
    tenant: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sender: Option<&'a str>,
    #[serde(skip_serializing_if = "none_listed")]
    recipients: &'a [Cow<'a, str>],
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Cow<'static, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_ip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_ip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    normalization_error: Option<&'a str>,
    record: &'a RawValue,
}

impl<'a> Envelope<'a> {
    /// The common fields only. `at` is in range: a time from a record in
    /// the queried window, or that window's start.
    fn new(id: &'a str, at: i64, tenant: &'a str, record: &'a RawValue) -> Envelope<'a> {
        Envelope {
            id,
            time: time::from_millis(at).map(time::rfc3339).unwrap_or_default(),
            source: SOURCE,
            kind: KIND,
            tenant,
            trace_id: None,
            sender: None,
            recipients: &[],
            subject: None,
            status: None,
            size: None,
            message_id: None,
            from_ip: None,
            to_ip: None,
            normalization_error: None,
            record,
        }
    }
}

fn none_listed(recipients: &&[Cow<'_, str>]) -> bool {
    recipients.is_empty()
}

/// The status in Graph's spelling: a documented status whatever its case,
/// anything else with its first letter lower-cased (`Delivered` →
/// `delivered`, `FilteredAsSpam` → `filteredAsSpam`).
pub fn status(raw: &str) -> Option<Cow<'static, str>> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if let Some(known) = STATUSES.iter().find(|s| s.eq_ignore_ascii_case(raw)) {
        return Some(Cow::Borrowed(known));
    }
    let mut chars = raw.chars();
    let first = chars.next()?;
    Some(Cow::Owned(first.to_lowercase().chain(chars).collect()))
}

/// A field as text: a non-blank string as it is, a number in its JSON
/// spelling; none for anything else.
pub fn text<'a>(value: Option<Loose<'a>>) -> Option<Cow<'a, str>> {
    value?.into_text()
}

/// A field as a size: a non-negative integer, or a string of digits; none
/// for anything else.
pub fn size(value: &Option<Loose<'_>>) -> Option<u64> {
    match value.as_ref()? {
        Loose::Number(n) => n.as_u64(),
        Loose::Text(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Recipient addresses from a field: a string holding one or more
/// addresses separated by `;` or `,`, or an array of such strings. Blanks
/// and exact repeats are dropped, the order is kept.
pub fn recipients(value: Option<Loose<'_>>) -> Vec<Cow<'_, str>> {
    let mut out = Vec::new();
    match value {
        Some(Loose::Text(text)) => add_addresses(text, &mut out),
        Some(Loose::List(items)) => items
            .into_iter()
            .for_each(|text| add_addresses(text, &mut out)),
        _ => {}
    }
    out
}

/// Adds the addresses in `text` (separated by `;` or `,`) to `out`,
/// skipping blanks and those already there; borrowed if `text` is.
fn add_addresses<'a>(text: Cow<'a, str>, out: &mut Vec<Cow<'a, str>>) {
    let mut add = |address: &str, owned: Cow<'a, str>| {
        if !address.is_empty() && !out.iter().any(|a| a == address) {
            out.push(owned);
        }
    };
    match text {
        Cow::Borrowed(text) => text
            .split([';', ','])
            .map(str::trim)
            .for_each(|a| add(a, Cow::Borrowed(a))),
        Cow::Owned(text) => text
            .split([';', ','])
            .map(str::trim)
            .for_each(|a| add(a, Cow::Owned(a.to_string()))),
    }
}

/// Whether `raw` is a JSON object; otherwise what it is, for the message.
pub fn check_object(raw: &RawValue) -> Result<(), String> {
    let kind = match raw.get().as_bytes().first() {
        Some(b'{') => return Ok(()),
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    };
    Err(format!("is {kind}, not a JSON object"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const AT: i64 = 1_795_591_679_000; // 2026-11-25T07:27:59Z

    fn trace() -> Trace<'static> {
        Trace {
            id: Some("9ff07b4a-e2a4-4826-a0b9-76fe490c5c59".into()),
            received: Received::At(AT),
            sender: Some("isaiah.sherman@adatum.com".into()),
            recipients: vec!["henrietta.siciliani@contoso.onmicrosoft.com".into()],
            subject: Some("Password expiry notice".into()),
            status: Some("FilteredAsSpam".into()),
            size: Some(154_472),
            message_id: Some("<E4C8@6ADC.prod.outlook.com>".into()),
            from_ip: Some("104.21.57.241".into()),
            to_ip: Some("[2001:db8::7]:25".into()),
        }
    }

    fn run(t: &Trace<'_>, record: &str) -> (Normalized, Value) {
        let raw = RawValue::from_string(record.to_string()).unwrap();
        let n = normalize(t, AT, &raw, "t-1", None);
        let body = serde_json::from_str(&n.event.body).unwrap();
        (n, body)
    }

    #[test]
    fn a_full_record_fills_every_field_in_order() {
        let (n, body) = run(&trace(), r#"{"k" : 1.50}"#);
        assert!(n.had_id);
        assert_eq!(
            n.event.id,
            "9ff07b4a-e2a4-4826-a0b9-76fe490c5c59:henrietta.siciliani@contoso.onmicrosoft.com:filteredasspam"
        );
        assert_eq!((n.event.time, n.event.kind.as_str()), (AT, "MessageTrace"));
        assert_eq!(n.event.partition_key, None);
        assert_eq!(
            n.event.body,
            r#"{"id":"9ff07b4a-e2a4-4826-a0b9-76fe490c5c59:henrietta.siciliani@contoso.onmicrosoft.com:filteredasspam","time":"2026-11-25T07:27:59.000Z","source":"exchange.messagetrace","kind":"MessageTrace","tenant":"t-1","traceId":"9ff07b4a-e2a4-4826-a0b9-76fe490c5c59","sender":"isaiah.sherman@adatum.com","recipients":["henrietta.siciliani@contoso.onmicrosoft.com"],"subject":"Password expiry notice","status":"filteredAsSpam","size":154472,"messageId":"<E4C8@6ADC.prod.outlook.com>","fromIp":"104.21.57.241","toIp":"2001:db8::7","record":{"k" : 1.50}}"#
        );
        assert_eq!(body["toIp"], "2001:db8::7");
    }

    #[test]
    fn absent_fields_are_left_out() {
        let bare = Trace {
            id: Some("x".into()),
            received: Received::At(AT),
            sender: None,
            recipients: vec![],
            subject: None,
            status: Some(" ".into()),
            size: None,
            message_id: None,
            from_ip: Some("".into()),
            to_ip: Some("not an ip".into()),
        };
        let (_, body) = run(&bare, "{}");
        let keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "id", "kind", "record", "source", "tenant", "time", "traceId"
            ]
        );
    }

    #[test]
    fn records_without_id_get_a_derived_one_and_no_trace_id() {
        let mut t = trace();
        t.id = None;
        let (n, body) = run(&t, "{}");
        assert!(!n.had_id);
        assert!(
            n.event.id.starts_with(&format!("derived-{AT}-")),
            "{}",
            n.event.id
        );
        assert_eq!(body["id"], n.event.id.as_str());
        assert!(body.get("traceId").is_none());
    }

    #[test]
    fn a_record_with_a_problem_says_so_and_keeps_what_was_read() {
        let mut t = trace();
        t.received = Received::Unreadable("receivedDateTime `yesterday`".into());
        let raw = RawValue::from_string(r#"{"x" : 1}"#.to_string()).unwrap();
        let n = normalize(&t, AT, &raw, "t-1", Some("its time is unreadable"));
        let body: Value = serde_json::from_str(&n.event.body).unwrap();
        assert_eq!(body["normalizationError"], "its time is unreadable");
        assert_eq!(body["time"], "2026-11-25T07:27:59.000Z");
        assert_eq!(body["sender"], "isaiah.sherman@adatum.com");
        assert!(n.event.body.ends_with(r#""record":{"x" : 1}}"#));
    }

    #[test]
    fn an_unreadable_record_is_published_as_it_came() {
        let raw = RawValue::from_string("[1, 2]".to_string()).unwrap();
        let e = malformed(&raw, AT, "t-1", "is an array, not a JSON object");
        assert_eq!(e.time, AT);
        assert!(e.id.starts_with("malformed-"), "{}", e.id);
        assert_eq!(
            e.body,
            format!(
                r#"{{"id":"{}","time":"2026-11-25T07:27:59.000Z","source":"exchange.messagetrace","kind":"MessageTrace","tenant":"t-1","normalizationError":"is an array, not a JSON object","record":[1, 2]}}"#,
                e.id
            )
        );
    }

    #[test]
    fn statuses_take_graphs_spelling() {
        for (raw, want) in [
            ("Delivered", "delivered"),
            ("delivered", "delivered"),
            ("FilteredAsSpam", "filteredAsSpam"),
            ("FILTEREDASSPAM", "filteredAsSpam"),
            ("GettingStatus", "gettingStatus"),
            (" Quarantined ", "quarantined"),
            ("Resolved", "resolved"),
            ("ÉtatInconnu", "étatInconnu"),
        ] {
            assert_eq!(status(raw).as_deref(), Some(want), "{raw}");
        }
        assert_eq!(status("  "), None);
    }

    #[test]
    fn field_readers_are_lenient() {
        let v = |s: &'static str| Some(serde_json::from_str::<Loose>(s).unwrap());
        assert_eq!(text(v(r#""a""#)).as_deref(), Some("a"));
        assert_eq!(text(v("12")).as_deref(), Some("12"));
        assert_eq!(text(v(r#"" ""#)), None);
        assert_eq!(text(v("null")), None);
        assert_eq!(text(None), None);
        assert_eq!(size(&v("154472")), Some(154_472));
        assert_eq!(size(&v(r#"" 42 ""#)), Some(42));
        assert_eq!(size(&v("-1")), None);
        assert_eq!(size(&v("1.5")), None);
        assert_eq!(size(&v("true")), None);
        assert_eq!(
            recipients(v(r#""a@x.com; b@y.com,a@x.com ;; c@z.com""#)),
            ["a@x.com", "b@y.com", "c@z.com"]
        );
        assert_eq!(
            recipients(v(r#"["a@x.com", "b@y.com;c@z.com", 3]"#)),
            ["a@x.com", "b@y.com", "c@z.com"]
        );
        // Escaped, so read into a new string: the same addresses.
        assert_eq!(
            recipients(v(r#""a\u0040x.com; b@y.com,a@x.com""#)),
            ["a@x.com", "b@y.com"]
        );
        assert_eq!(text(v(r#""\u0061b""#)).as_deref(), Some("ab"));
        assert!(recipients(v("null")).is_empty());
        assert!(recipients(v(r#""  ""#)).is_empty());
    }

    #[test]
    fn non_objects_are_named() {
        for (text, kind) in [
            ("[1]", "an array"),
            ("\"x\"", "a string"),
            ("3", "a number"),
            ("null", "null"),
            ("true", "a boolean"),
        ] {
            let raw = RawValue::from_string(text.to_string()).unwrap();
            assert_eq!(
                check_object(&raw).unwrap_err(),
                format!("is {kind}, not a JSON object")
            );
        }
        assert!(check_object(&RawValue::from_string("{}".into()).unwrap()).is_ok());
    }
}
