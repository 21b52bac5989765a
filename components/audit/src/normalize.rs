//! One audit record → one event in the shared envelope
//! (`docs/event-envelope.schema.json`, described in `docs/events.md`).
//!
//! The envelope lifts the few fields every consumer filters on (who, what,
//! when, from where) to fixed camelCase names, and carries the record
//! itself, untouched, as `record`: the original text is embedded as it came
//! (key order, number spelling), so nothing a workload wrote is lost or
//! reinterpreted. Absent fields are left out rather than written as null.
//!
//! A record that cannot be normalized (not a JSON object, unreadable) is
//! not dropped, and does not fail its blob either: it is published as it
//! came, under a derived id, with `normalizationError` saying what was
//! wrong ([`malformed`]), so one bad record costs nothing but itself.

use connector_sdk::loose::Loose;
use connector_sdk::{Event, ip, time};
use serde::{Deserialize, Serialize};
use serde_json::Number;
use std::borrow::Cow;

use crate::content_type::ContentType;

/// The envelope's `source` for audit records.
pub const SOURCE: &str = "o365.audit";

/// What the envelope needs to know about the blob a record came from.
#[derive(Debug, Clone)]
pub struct BlobInfo<'a> {
    /// The tenant the call works for.
    pub tenant: &'a str,
    /// The blob's content id (part of the fallback id).
    pub content_id: &'a str,
    /// The content type the blob was listed under (the event kind).
    pub content_type: ContentType,
    /// The time to use when a record's `CreationTime` is unreadable: the
    /// blob's `contentCreated`.
    pub fallback_time: i64,
}

/// The fields of a record the envelope uses; everything else stays in the
/// raw record. Each is read as any JSON value ([`Loose`], borrowing its
/// text) so that an unexpected type drops the field instead of failing the
/// record.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Fields<'a> {
    #[serde(default, borrow)]
    id: Option<Loose<'a>>,
    #[serde(default, borrow)]
    creation_time: Option<Loose<'a>>,
    #[serde(default, borrow)]
    workload: Option<Loose<'a>>,
    #[serde(default, borrow)]
    operation: Option<Loose<'a>>,
    #[serde(default, borrow)]
    record_type: Option<Loose<'a>>,
    #[serde(default, borrow)]
    user_id: Option<Loose<'a>>,
    #[serde(default, borrow, rename = "ClientIP")]
    client_ip: Option<Loose<'a>>,
    #[serde(default, borrow, rename = "ClientIPAddress")]
    client_ip_address: Option<Loose<'a>>,
    #[serde(default, borrow)]
    actor_ip_address: Option<Loose<'a>>,
    #[serde(default, borrow)]
    result_status: Option<Loose<'a>>,
    #[serde(default, borrow)]
    source: Option<Loose<'a>>,
}

/// One record of a blob, read but not yet normalized.
pub struct Record<'a> {
    raw: &'a str,
    fields: Fields<'a>,
}

impl<'a> Record<'a> {
    /// Reads the envelope fields of the record `raw` (its JSON text); fails
    /// with what `raw` is when it is not a JSON object, or not valid JSON.
    /// Success means `raw` is a valid JSON object: parsing the fields
    /// validates all of it.
    pub fn read(raw: &'a str) -> Result<Record<'a>, String> {
        let text = raw;
        if !text.starts_with('{') {
            return Err(format!("is {}, not a JSON object", json_kind(text)));
        }
        let fields = serde_json::from_str(text).map_err(|e| format!("cannot be read ({e})"))?;
        Ok(Record { raw, fields })
    }

    /// Reads the JSON object at the start of `text` as a record, and where
    /// it ended; `None` if `text` does not start with a JSON object that
    /// reads as a record. What follows the object is not looked at.
    pub fn read_prefix(text: &'a str) -> Option<(Record<'a>, usize)> {
        if !text.starts_with('{') {
            return None;
        }
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Fields>();
        let fields = stream.next()?.ok()?;
        let end = stream.byte_offset();
        Some((
            Record {
                raw: &text[..end],
                fields,
            },
            end,
        ))
    }

    /// The record's JSON text, as it came.
    #[cfg(test)]
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The record's `Source`, if it has one.
    pub fn source(&self) -> Option<Cow<'_, str>> {
        text(&self.fields.source)
    }

    /// The event for this record, which was number `index` in its blob.
    pub fn normalize(&self, index: usize, blob: &BlobInfo) -> Normalized {
        let f = &self.fields;
        let id = text(&f.id).map(Cow::into_owned);
        let had_id = id.is_some();
        let id = id.unwrap_or_else(|| format!("{}:{index}", blob.content_id));
        let created = match &f.creation_time {
            Some(Loose::Text(t)) => time::parse(t),
            _ => None,
        };
        let had_time = created.is_some();
        let at = created
            .or_else(|| time::from_millis(blob.fallback_time))
            .unwrap_or_default();
        let client_ip = [&f.client_ip, &f.client_ip_address, &f.actor_ip_address]
            .into_iter()
            .find_map(|v| match text(v)? {
                Cow::Borrowed(t) => ip::clean(t).map(Cow::Borrowed),
                Cow::Owned(t) => ip::clean(&t).map(|address| Cow::Owned(address.to_owned())),
            });
        let envelope = Envelope {
            id: &id,
            time: time::rfc3339(at),
            source: SOURCE,
            kind: blob.content_type.as_str(),
            tenant: blob.tenant,
            content_id: blob.content_id,
            workload: text(&f.workload),
            operation: text(&f.operation),
            record_type: integer(&f.record_type),
            user: text(&f.user_id),
            client_ip,
            result_status: text(&f.result_status),
            normalization_error: None,
        };
        let body = envelope.to_json(self.raw);
        Normalized {
            event: event(id, at.timestamp_millis(), blob, body),
            had_id,
            had_time,
        }
    }
}

/// The event for record number `index` of its blob, which could not be
/// normalized for `problem` (`is a string, not a JSON object`): the record
/// as it came under `record`, the id `<contentId>:<index>`, the blob's time,
/// and `normalizationError` naming the problem.
pub fn malformed(raw: &str, index: usize, blob: &BlobInfo, problem: &str) -> Event {
    let id = format!("{}:{index}", blob.content_id);
    let at = time::from_millis(blob.fallback_time).unwrap_or_default();
    let error = format!("record {index} of content {} {problem}", blob.content_id);
    let envelope = Envelope {
        id: &id,
        time: time::rfc3339(at),
        source: SOURCE,
        kind: blob.content_type.as_str(),
        tenant: blob.tenant,
        content_id: blob.content_id,
        workload: None,
        operation: None,
        record_type: None,
        user: None,
        client_ip: None,
        result_status: None,
        normalization_error: Some(error),
    };
    let body = envelope.to_json(raw);
    event(id, at.timestamp_millis(), blob, body)
}

/// The event of a record of `blob` with its envelope `body`.
fn event(id: String, time: i64, blob: &BlobInfo, body: String) -> Event {
    Event {
        id,
        time,
        kind: blob.content_type.as_str().to_string(),
        partition_key: None,
        body,
    }
}

/// A normalized record, and what had to be made up for it.
#[derive(Debug, Clone)]
pub struct Normalized {
    /// The event.
    pub event: Event,
    /// False when the record had no `Id` and got `<contentId>:<index>`.
    pub had_id: bool,
    /// False when `CreationTime` was unreadable and the blob's time was used.
    pub had_time: bool,
}

/// The envelope, in the order its fields are written; the record comes
/// last (`to_json`).
#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    id: &'a str,
    time: String,
    source: &'static str,
    kind: &'static str,
    tenant: &'a str,
    content_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    workload: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    record_type: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_ip: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result_status: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    normalization_error: Option<String>,
}

impl Envelope<'_> {
    /// The envelope as one line of JSON with `record`, the record's valid
    /// JSON text, embedded as it came under `"record"`, all written into one
    /// buffer of about the final size. Written by hand in the order and
    /// spelling of the derived `Serialize` (a test holds the two equal):
    /// serde_json's string escaping, called a dozen times per event on short
    /// strings, was the largest guest function under `perf`, while almost
    /// none of these strings needs escaping.
    fn to_json(&self, record: &str) -> String {
        let mut out = String::with_capacity(record.len() + 512);
        let mut object = JsonObject::open(&mut out);
        object.string("id", self.id);
        object.string("time", &self.time);
        object.string("source", self.source);
        object.string("kind", self.kind);
        object.string("tenant", self.tenant);
        object.string("contentId", self.content_id);
        object.optional("workload", self.workload.as_deref());
        object.optional("operation", self.operation.as_deref());
        if let Some(record_type) = &self.record_type {
            object.json("recordType", &record_type.to_string());
        }
        object.optional("user", self.user.as_deref());
        object.optional("clientIp", self.client_ip.as_deref());
        object.optional("resultStatus", self.result_status.as_deref());
        object.optional("normalizationError", self.normalization_error.as_deref());
        object.json("record", record);
        out.push('}');
        out
    }
}

/// Writes the members of a JSON object into a string, commas included.
struct JsonObject<'o> {
    out: &'o mut String,
    first: bool,
}

impl<'o> JsonObject<'o> {
    /// Starts an object in `out`; the caller writes the closing brace.
    fn open(out: &'o mut String) -> Self {
        out.push('{');
        JsonObject { out, first: true }
    }

    fn key(&mut self, name: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(name);
        self.out.push_str("\":");
    }

    /// A string member, escaped as serde_json escapes it.
    fn string(&mut self, name: &str, value: &str) {
        self.key(name);
        if needs_escape(value) {
            // Rare: serde_json writes its usual escapes.
            self.out
                .push_str(&serde_json::to_string(value).unwrap_or_default());
        } else {
            self.out.push('"');
            self.out.push_str(value);
            self.out.push('"');
        }
    }

    /// A string member if there is a value.
    fn optional(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.string(name, value);
        }
    }

    /// A member whose value is JSON text already.
    fn json(&mut self, name: &str, json: &str) {
        self.key(name);
        self.out.push_str(json);
    }
}

/// Whether `text` has a byte JSON escapes: a control character, `"` or `\`.
/// Looks at eight bytes at a time: a byte loop here was 4.5 % of the guest's
/// time under `perf` (inside wasm every loop iteration also pays the
/// deadline check), for a dozen short strings per event.
fn needs_escape(text: &str) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A word has a byte below `n` (n <= 128), exactly (Bit Twiddling Hacks,
    // "hasless"): bytes of 0x80 and above, UTF-8's, never count.
    let below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGHS != 0;
    let has = |word: u64, byte: u8| below(word ^ (ONES * u64::from(byte)), 1);
    let mut words = text.as_bytes().chunks_exact(8);
    for chunk in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let word = u64::from_le_bytes(bytes);
        if below(word, 0x20) || has(word, b'"') || has(word, b'\\') {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// A field as text: a non-blank string as it is, a number in its JSON
/// spelling; none for anything else.
fn text<'v>(value: &'v Option<Loose<'_>>) -> Option<Cow<'v, str>> {
    value.as_ref()?.text()
}

/// A field as a JSON integer: an integer as it is, a string of digits as
/// the number it spells; none for anything else.
fn integer(value: &Option<Loose<'_>>) -> Option<Number> {
    match value.as_ref()? {
        Loose::Number(n) if n.is_i64() || n.is_u64() => Some(n.clone()),
        Loose::Text(s) => s.trim().parse::<i64>().ok().map(Number::from),
        _ => None,
    }
}

/// What sort of JSON value `text` starts, for error messages.
fn json_kind(text: &str) -> &'static str {
    match text.as_bytes().first() {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const CREATED: i64 = 1_714_549_500_000; // 2024-05-01T07:45:00Z

    fn blob() -> BlobInfo<'static> {
        BlobInfo {
            tenant: "t-1",
            content_id: "c-1",
            content_type: ContentType::Exchange,
            fallback_time: CREATED,
        }
    }

    fn run(record: &str, index: usize) -> (Normalized, Value) {
        let raw = record.to_string();
        let n = Record::read(&raw).unwrap().normalize(index, &blob());
        let body = serde_json::from_str(&n.event.body).unwrap();
        (n, body)
    }

    #[test]
    fn the_hand_written_envelope_is_what_serde_writes() {
        let full = Envelope {
            id: "e-1",
            time: "2024-05-01T07:40:00.000Z".into(),
            source: SOURCE,
            kind: "Audit.Exchange",
            tenant: "t-1",
            content_id: "c\"1\\x",
            workload: Some("Exchange".into()),
            operation: Some("Tab\there, newline\n, bell\u{7}, DEL\u{7f}, é, 💡".into()),
            record_type: Some(25.into()),
            user: Some("a@contoso.com".into()),
            client_ip: Some("1.2.3.4".into()),
            result_status: Some("".into()),
            normalization_error: Some("record 3 \"is\" broken".into()),
        };
        let sparse = Envelope {
            workload: None,
            operation: None,
            record_type: None,
            user: None,
            client_ip: None,
            result_status: None,
            normalization_error: None,
            ..full.clone()
        };
        let record = r#"{"Id" : "e-1", "n": 1.50}"#;
        for envelope in [full, sparse] {
            let head = serde_json::to_string(&envelope).unwrap();
            let expected = format!("{},\"record\":{record}}}", head.strip_suffix('}').unwrap());
            assert_eq!(envelope.to_json(record), expected);
        }
    }

    #[test]
    fn the_word_at_a_time_escape_check_agrees_with_a_byte_loop() {
        let naive = |t: &str| t.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\');
        // Every ASCII byte at every position of strings up to 17 long, in a
        // plain and in a multi-byte UTF-8 surrounding.
        for len in 1..=17 {
            for at in 0..len {
                for byte in 0u8..0x80 {
                    for filler in ['a', '\u{ff}'] {
                        let mut text: Vec<char> = std::iter::repeat_n(filler, len).collect();
                        text[at] = char::from(byte);
                        let text: String = text.into_iter().collect();
                        assert_eq!(needs_escape(&text), naive(&text), "{text:?}");
                    }
                }
            }
        }
        assert!(!needs_escape(""));
        assert!(!needs_escape("2024-05-01T07:40:00.000Z é 💡"));
    }

    #[test]
    fn a_full_record_fills_every_field() {
        let (n, body) = run(
            r#"{"Id":"e-1","CreationTime":"2024-05-01T07:40:00","Workload":"Exchange","Operation":"Send","RecordType":2,"UserId":"a@contoso.com","ClientIP":"1.2.3.4:5678","ResultStatus":"Succeeded","Extra":[1,2]}"#,
            0,
        );
        assert!(n.had_id && n.had_time);
        assert_eq!(n.event.id, "e-1");
        assert_eq!(n.event.time, CREATED - 300_000);
        assert_eq!(n.event.kind, "Audit.Exchange");
        assert_eq!(n.event.partition_key, None);
        assert_eq!(
            body,
            serde_json::json!({
                "id": "e-1", "time": "2024-05-01T07:40:00.000Z", "source": "o365.audit",
                "kind": "Audit.Exchange", "tenant": "t-1", "contentId": "c-1",
                "workload": "Exchange", "operation": "Send", "recordType": 2,
                "user": "a@contoso.com", "clientIp": "1.2.3.4", "resultStatus": "Succeeded",
                "record": {"Id":"e-1","CreationTime":"2024-05-01T07:40:00","Workload":"Exchange","Operation":"Send","RecordType":2,"UserId":"a@contoso.com","ClientIP":"1.2.3.4:5678","ResultStatus":"Succeeded","Extra":[1,2]}
            })
        );
    }

    #[test]
    fn the_record_is_embedded_byte_for_byte() {
        let record = r#"{"Z":1.50,"A":  "x", "Id" :"e"}"#;
        let (n, _) = run(record, 0);
        assert!(
            n.event.body.ends_with(&format!(r#""record":{record}}}"#)),
            "{}",
            n.event.body
        );
    }

    #[test]
    fn missing_id_and_bad_time_are_made_up_and_reported() {
        let (n, body) = run(r#"{"CreationTime":"soon","ClientIP":""}"#, 7);
        assert!(!n.had_id && !n.had_time);
        assert_eq!(n.event.id, "c-1:7");
        assert_eq!(body["id"], "c-1:7");
        assert_eq!(n.event.time, CREATED);
        assert_eq!(body["time"], "2024-05-01T07:45:00.000Z");
        let (n, _) = run(r#"{"Id":"","CreationTime":12}"#, 0);
        assert!(!n.had_id && !n.had_time);
    }

    #[test]
    fn absent_and_odd_fields_are_omitted_not_null() {
        let (_, body) = run(
            r#"{"Id":"e","Workload":null,"UserId":{"x":1},"RecordType":"abc","ResultStatus":"  "}"#,
            0,
        );
        let keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "contentId",
                "id",
                "kind",
                "record",
                "source",
                "tenant",
                "time"
            ]
        );
    }

    #[test]
    fn client_ip_falls_back_through_the_workload_spellings() {
        let ip = |r: &str| run(r, 0).1.get("clientIp").cloned();
        assert_eq!(
            ip(r#"{"ClientIPAddress":"[2001:db8::5]:51234"}"#),
            Some("2001:db8::5".into())
        );
        assert_eq!(
            ip(r#"{"ActorIpAddress":"203.0.113.7"}"#),
            Some("203.0.113.7".into())
        );
        assert_eq!(
            ip(r#"{"ClientIP":"","ClientIPAddress":"10.0.0.1:1"}"#),
            Some("10.0.0.1".into())
        );
        assert_eq!(
            ip(r#"{"ClientIP":"9.9.9.9","ActorIpAddress":"8.8.8.8"}"#),
            Some("9.9.9.9".into())
        );
        assert_eq!(ip(r#"{"ClientIP":"not an ip"}"#), None);
    }

    #[test]
    fn escaped_text_is_read_unescaped_and_other_types_are_skipped() {
        let (n, body) = run(
            r#"{"Id":"e\"1\u00e9","Workload":["Exchange"],"Operation":true,"UserId":12.5,"ResultStatus":"Tab\there","RecordType":2.5}"#,
            0,
        );
        assert_eq!(n.event.id, "e\"1é");
        assert_eq!(body["id"], "e\"1é");
        assert_eq!(body["user"], "12.5");
        assert_eq!(body["resultStatus"], "Tab\there");
        for skipped in ["workload", "operation", "recordType"] {
            assert!(body.get(skipped).is_none(), "{skipped}: {body}");
        }
    }

    #[test]
    fn record_type_and_ids_keep_their_numbers() {
        let (n, body) = run(r#"{"Id":42,"RecordType":"15"}"#, 0);
        assert_eq!(n.event.id, "42");
        assert_eq!(body["recordType"], 15);
    }

    #[test]
    fn non_objects_are_refused_saying_what_they_are() {
        for (text, kind) in [
            ("[1]", "an array"),
            ("\"x\"", "a string"),
            ("3", "a number"),
            ("null", "null"),
            ("true", "a boolean"),
        ] {
            let raw = text.to_string();
            let err = Record::read(&raw).err().unwrap();
            assert_eq!(err, format!("is {kind}, not a JSON object"));
        }
    }

    #[test]
    fn a_record_that_cannot_be_normalized_is_carried_as_it_came() {
        for (text, problem) in [
            ("\"oops\"", "is a string, not a JSON object"),
            ("[1,2]", "is an array, not a JSON object"),
        ] {
            let raw = text.to_string();
            let event = malformed(&raw, 3, &blob(), problem);
            assert_eq!(event.id, "c-1:3");
            assert_eq!(event.time, CREATED);
            assert_eq!(event.kind, "Audit.Exchange");
            let body: Value = serde_json::from_str(&event.body).unwrap();
            assert_eq!(
                body,
                serde_json::json!({
                    "id": "c-1:3", "time": "2024-05-01T07:45:00.000Z", "source": "o365.audit",
                    "kind": "Audit.Exchange", "tenant": "t-1", "contentId": "c-1",
                    "normalizationError": format!("record 3 of content c-1 {problem}"),
                    "record": serde_json::from_str::<Value>(text).unwrap()
                })
            );
            assert!(event.body.ends_with(&format!(r#""record":{text}}}"#)));
        }
    }

    #[test]
    fn source_is_read_for_the_ignore_rule() {
        let raw = r#"{"Source":"Cloud App Security"}"#.to_string();
        assert_eq!(
            Record::read(&raw).unwrap().source().as_deref(),
            Some("Cloud App Security")
        );
    }
}
