//! Test doubles and the golden-file runner, shared by both versions' tests
//! (feature `testkit`, enabled through their dev-dependencies only).
//!
//! # Golden files
//!
//! `components/message-trace/golden/` holds, per case, the page body each
//! version reads (`<case>.graph.json`, `<case>.reporting.json`) and the
//! output expected (`<case>.expected.json`). Where a case has both inputs,
//! they describe the same messages and the expected file is **shared**: the
//! two versions must produce the same envelopes, except for `record`. In the
//! observed output every event's `record` is replaced by
//! `"<record[N] verbatim>"` once it has been checked to be the text of the
//! page's N-th record byte for byte.
//!
//! `UPDATE_GOLDEN=1 cargo test -p message-trace-graph` rewrites the expected
//! files; review the diff, then run the other version's tests, which must
//! pass against the rewritten shared files unchanged.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

use connector_sdk::http::{HttpError, Response};
use connector_sdk::{Context, Counter, Setting, StepOutput};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::api::{Api, Level};

/// The tenant every test works for.
pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";
/// 2026-11-25T08:00:00Z, the time of every golden run.
pub const NOW: i64 = 1_795_593_600_000;
/// Start of the golden window: 2026-11-25T07:00:00Z.
pub const GOLDEN_START: i64 = NOW - 3_600_000;
/// End of the golden window: 2026-11-25T07:45:00Z.
pub const GOLDEN_END: i64 = NOW - 900_000;

/// Answers requests in order from a script; a request beyond the script
/// fails the test.
#[derive(Default)]
pub struct ScriptedApi {
    answers: VecDeque<Result<Response, HttpError>>,
    /// Every URL asked for.
    pub requests: Vec<String>,
    /// Every log line.
    pub logs: Vec<(Level, String)>,
}

impl ScriptedApi {
    /// An API that answers with `answers`, in order.
    pub fn new(answers: impl IntoIterator<Item = Result<Response, HttpError>>) -> Self {
        ScriptedApi {
            answers: answers.into_iter().collect(),
            ..Default::default()
        }
    }
}

impl Api for ScriptedApi {
    fn get(&mut self, url: &str) -> Result<Response, HttpError> {
        let answer = self
            .answers
            .pop_front()
            .unwrap_or_else(|| panic!("unexpected request {url}"));
        self.requests.push(url.to_string());
        answer
    }

    fn log(&mut self, level: Level, message: &str) {
        self.logs.push((level, message.to_string()));
    }
}

/// An answer with `status`, `headers` and `body`.
pub fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Result<Response, HttpError> {
    Ok(Response {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    })
}

/// A 200 answer with `body`.
pub fn ok(body: &str) -> Result<Response, HttpError> {
    answer(200, &[], body)
}

/// A context at `now` with `settings`.
pub fn ctx(now: i64, settings: &[(&str, &str)]) -> Context {
    Context {
        tenant: TENANT.into(),
        now,
        settings: settings
            .iter()
            .map(|(n, v)| Setting {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
    }
}

/// The counters of a call as `(name, value)` pairs.
pub fn counts(counters: &[Counter]) -> Vec<(&str, u64)> {
    counters
        .iter()
        .map(|c| (c.name.as_str(), c.value))
        .collect()
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../golden")
}

/// The page body `<case>.<version>.json`.
pub fn golden_input(case: &str, version: &str) -> String {
    let path = golden_dir().join(format!("{case}.{version}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The envelope schema, `docs/event-envelope.schema.json`.
pub fn schema() -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../docs/event-envelope.schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[derive(Deserialize)]
struct WithRecord<'a> {
    #[serde(borrow)]
    record: &'a RawValue,
}

/// The output as compared with the expected file, after checking what the
/// file cannot show: records byte for byte and in page order, every body
/// valid against the schema, and the event fields agreeing with the body.
pub fn observe(case: &str, records: &[&RawValue], out: &StepOutput) -> Value {
    let schema = schema();
    let mut next_input = 0;
    let mut events = Vec::new();
    for event in &out.events {
        let mut value: Value = serde_json::from_str(&event.body).unwrap();
        conforms(&schema, &value).unwrap_or_else(|e| panic!("{case}: {e}\n{value:#}"));
        assert_eq!(value["id"], event.id.as_str(), "{case}: event id");
        assert_eq!(value["kind"], event.kind.as_str(), "{case}: event kind");
        let body_time = crate::time::parse_millis(value["time"].as_str().unwrap()).unwrap();
        assert_eq!(body_time, event.time, "{case}: event time");
        assert_eq!(event.partition_key, None);
        let record = serde_json::from_str::<WithRecord>(&event.body)
            .unwrap()
            .record
            .get();
        let offset = records[next_input..]
            .iter()
            .position(|raw| raw.get() == record)
            .unwrap_or_else(|| {
                panic!(
                    "{case}: event {} does not carry a page record verbatim (or out of order)",
                    event.id
                )
            });
        let index = next_input + offset;
        next_input = index + 1;
        value["record"] = Value::String(format!("<record[{index}] verbatim>"));
        events.push(value);
    }
    let counters: BTreeMap<_, _> = out
        .counters
        .iter()
        .map(|c| (c.name.clone(), c.value))
        .collect();
    assert!(
        out.next.is_empty(),
        "{case}: golden pages have no next page"
    );
    json!({ "counters": counters, "events": events })
}

/// Compares with (or, with `UPDATE_GOLDEN` set, writes)
/// `<case>.expected.json`.
pub fn compare(case: &str, observed: &Value) {
    let path = golden_dir().join(format!("{case}.expected.json"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, format!("{observed:#}\n")).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    let expected: Value = serde_json::from_str(&text).unwrap();
    assert!(
        *observed == expected,
        "{case}: output differs from {}\nobserved:\n{observed:#}",
        path.display()
    );
}

/// A small check of `value` against the schema's own words: required
/// fields, no others, each field's JSON type, and a `source` the schema
/// lists among its examples. Enough to keep the code and the schema from drifting apart.
pub fn conforms(schema: &Value, value: &Value) -> Result<(), String> {
    let object = value.as_object().ok_or("not an object")?;
    let properties = schema["properties"].as_object().unwrap();
    for required in schema["required"].as_array().unwrap() {
        let name = required.as_str().unwrap();
        if !object.contains_key(name) {
            return Err(format!("missing required `{name}`"));
        }
    }
    for (name, field) in object {
        let declared = properties
            .get(name)
            .ok_or_else(|| format!("`{name}` is not in the schema"))?;
        let fits = match declared["type"].as_str().unwrap() {
            "string" => field.as_str().is_some_and(|s| {
                declared["minLength"]
                    .as_u64()
                    .is_none_or(|min| s.len() as u64 >= min)
            }),
            "integer" => field.is_u64() || field.is_i64(),
            "object" => field.is_object(),
            "array" => field
                .as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string)),
            other => {
                return Err(format!(
                    "schema type `{other}` of `{name}` is not checked here"
                ));
            }
        };
        if !fits {
            return Err(format!(
                "`{name}` is {field}, not of type {}",
                declared["type"]
            ));
        }
    }
    let source = &object["source"];
    let examples = schema["properties"]["source"]["examples"].as_array();
    if !examples.is_some_and(|e| e.contains(source)) {
        return Err(format!(
            "source {source} is not among the schema's `source` examples"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::SOURCE;

    #[test]
    fn the_schema_describes_message_traces() {
        let schema = schema();
        assert_eq!(
            schema["properties"]["source"]["pattern"],
            "^(o365|exchange)\\.[a-z0-9-]+$"
        );
        assert!(
            schema["properties"]["source"]["examples"]
                .as_array()
                .unwrap()
                .contains(&json!(SOURCE))
        );
        let good = json!({
            "id": "a", "time": "2026-11-25T07:00:00.000Z", "source": SOURCE, "kind": "MessageTrace",
            "tenant": "t", "sender": "s@x.com", "recipients": ["r@y.com"], "subject": "",
            "status": "delivered", "size": 0, "messageId": "<m@x>", "fromIp": "2001:db8::1",
            "toIp": "1.2.3.4", "record": {}
        });
        assert_eq!(conforms(&schema, &good), Ok(()));
        for (field, value, complaint) in [
            ("recipients", json!([]), "`recipients` is []"),
            (
                "recipients",
                json!("r@y.com"),
                "`recipients` is \"r@y.com\"",
            ),
            ("size", json!("12"), "`size` is \"12\""),
            ("id", json!(""), "`id` is \"\""),
            (
                "source",
                json!("o365.message-trace"),
                "source \"o365.message-trace\" is not among",
            ),
            ("colour", json!("red"), "`colour` is not in the schema"),
        ] {
            let mut bad = good.clone();
            bad[field] = value;
            let err = conforms(&schema, &bad).unwrap_err();
            assert!(err.starts_with(complaint), "{field}: {err}");
        }
        let mut missing = good;
        missing.as_object_mut().unwrap().remove("tenant");
        assert_eq!(
            conforms(&schema, &missing).unwrap_err(),
            "missing required `tenant`"
        );
    }
}
