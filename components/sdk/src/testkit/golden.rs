//! The golden-file runner: a step's output compared with the expected
//! envelopes in `<case>.expected.json`.
//!
//! In the observed output every event's `record` is replaced by
//! `"<LABEL[N] verbatim>"` once it has been checked to be the text of the
//! input's N-th record byte for byte, so the expected files stay short and
//! still say which record each event carries. Every body is also checked
//! against the envelope schema ([`conforms`]) and against the event's own
//! fields. `UPDATE_GOLDEN=1` rewrites the expected files instead of
//! comparing; review the diff before keeping it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::{conforms, schema};
use crate::StepOutput;
use crate::time;

/// Where a component keeps its golden files, and what it calls a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Golden {
    /// The directory of `<case>.expected.json` (and usually of the inputs),
    /// such as `concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden")`.
    pub dir: &'static str,
    /// What an input record is called in the expected files: with `blob`,
    /// an event's `record` reads `"<blob[N] verbatim>"`.
    pub record: &'static str,
}

impl Golden {
    /// The path of `file` in the golden directory.
    pub fn path(&self, file: &str) -> PathBuf {
        Path::new(self.dir).join(file)
    }

    /// The text of `file` in the golden directory.
    pub fn read(&self, file: &str) -> String {
        let path = self.path(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The output as compared with the expected file, after checking what
    /// the file cannot show: records byte for byte and in input order,
    /// every body valid against the schema, the event fields agreeing with
    /// the body, and no follow-up work.
    pub fn observe(&self, case: &str, records: &[&RawValue], out: &StepOutput) -> Value {
        let schema = schema();
        let mut next_input = 0;
        let mut events = Vec::new();
        for event in &out.events {
            let mut value: Value = serde_json::from_str(&event.body).unwrap();
            conforms(&schema, &value).unwrap_or_else(|e| panic!("{case}: {e}\n{value:#}"));
            assert_eq!(value["id"], event.id.as_str(), "{case}: event id");
            assert_eq!(value["kind"], event.kind.as_str(), "{case}: event kind");
            let body_time = time::parse_millis(value["time"].as_str().unwrap()).unwrap();
            assert_eq!(body_time, event.time, "{case}: event time");
            assert_eq!(event.partition_key, None);
            let fields: BTreeMap<String, Box<RawValue>> =
                serde_json::from_str(&event.body).unwrap();
            let record = fields["record"].get();
            let offset = records[next_input..]
                .iter()
                .position(|raw| raw.get() == record)
                .unwrap_or_else(|| {
                    panic!(
                        "{case}: event {} does not carry an input {} verbatim (or out of order)",
                        event.id, self.record
                    )
                });
            let index = next_input + offset;
            next_input = index + 1;
            value["record"] = Value::String(format!("<{}[{index}] verbatim>", self.record));
            events.push(value);
        }
        let counters: BTreeMap<_, _> = out
            .counters
            .iter()
            .map(|c| (c.name.clone(), c.value))
            .collect();
        assert!(
            out.next.is_empty(),
            "{case}: a golden run has no follow-up work"
        );
        json!({ "counters": counters, "events": events })
    }

    /// Compares with (or, with `UPDATE_GOLDEN` set, writes)
    /// `<case>.expected.json`.
    pub fn compare(&self, case: &str, observed: &Value) {
        let path = self.path(&format!("{case}.expected.json"));
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    const GOLDEN: Golden = Golden {
        dir: "/nonexistent",
        record: "item",
    };

    fn event(id: &str, record: &str) -> Event {
        Event {
            id: id.into(),
            time: 1_714_550_400_000,
            kind: "K".into(),
            partition_key: None,
            body: format!(
                r#"{{"id":"{id}","time":"2024-05-01T08:00:00.000Z","source":"o365.audit","kind":"K","tenant":"t","contentId":"c","record":{record}}}"#
            ),
        }
    }

    fn output(events: Vec<Event>) -> StepOutput {
        StepOutput {
            events,
            next: vec![],
            counters: vec![crate::counter("events", 2)],
        }
    }

    #[test]
    fn records_are_matched_byte_for_byte_in_order() {
        let inputs: Vec<&RawValue> =
            serde_json::from_str(r#"[{"a":1}, {"b" : 2.50}, {"c":3}]"#).unwrap();
        let out = output(vec![event("x", r#"{"a":1}"#), event("y", r#"{"c":3}"#)]);
        let observed = GOLDEN.observe("case", &inputs, &out);
        assert_eq!(observed["events"][0]["record"], "<item[0] verbatim>");
        assert_eq!(observed["events"][1]["record"], "<item[2] verbatim>");
        assert_eq!(observed["counters"], json!({"events": 2}));
    }

    #[test]
    #[should_panic(expected = "does not carry an input item verbatim")]
    fn a_reformatted_record_fails() {
        let inputs: Vec<&RawValue> = serde_json::from_str(r#"[{"b" : 2.50}]"#).unwrap();
        let out = output(vec![event("x", r#"{"b":2.5}"#)]);
        GOLDEN.observe("case", &inputs, &out);
    }
}
