//! Test doubles and golden files, shared by both versions' tests (feature
//! `testkit`, enabled through their dev-dependencies only): the SDK's test
//! kit, set up for this component.
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

use connector_sdk::http::{HttpError, Response};
use connector_sdk::testkit::{Golden, Script};
pub use connector_sdk::testkit::{TENANT, answer, counts, ctx, ok};

use crate::api::{Api, Level};

/// 2026-11-25T08:00:00Z, the time of every golden run.
pub const NOW: i64 = 1_795_593_600_000;
/// Start of the golden window: 2026-11-25T07:00:00Z.
pub const GOLDEN_START: i64 = NOW - 3_600_000;
/// End of the golden window: 2026-11-25T07:45:00Z.
pub const GOLDEN_END: i64 = NOW - 900_000;

/// The golden files, `components/message-trace/golden/`, whose events carry
/// `"<record[N] verbatim>"` for their record.
pub const GOLDEN: Golden = Golden {
    dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../golden"),
    record: "record",
};

/// Answers requests in order from a script, recording each URL asked for;
/// a request beyond the script fails the test.
pub type ScriptedApi = Script<Level>;

impl Api for ScriptedApi {
    fn get(&mut self, url: &str) -> Result<Response, HttpError> {
        self.respond(url.to_string())
    }

    fn log(&mut self, level: Level, message: &str) {
        self.push_log(level, message);
    }
}

/// The page body `<case>.<version>.json`.
pub fn golden_input(case: &str, version: &str) -> String {
    GOLDEN.read(&format!("{case}.{version}.json"))
}

#[cfg(test)]
mod tests {
    use connector_sdk::testkit::{conforms, schema};
    use serde_json::json;

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
            "id": "a:r@y.com:delivered", "time": "2026-11-25T07:00:00.000Z", "source": SOURCE,
            "kind": "MessageTrace", "tenant": "t", "traceId": "a", "sender": "s@x.com", "recipients": ["r@y.com"], "subject": "",
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
            ("traceId", json!(""), "`traceId` is \"\""),
            ("normalizationError", json!(3), "`normalizationError` is 3"),
        ] {
            let mut bad = good.clone();
            bad[field] = value;
            let err = conforms(&schema, &bad).unwrap_err();
            assert!(err.starts_with(complaint), "{field}: {err}");
        }
        let mut malformed = good.clone();
        malformed["normalizationError"] = json!("the record is a number, not a JSON object");
        malformed["record"] = json!(7);
        assert_eq!(conforms(&schema, &malformed), Ok(()));
        let mut missing = good;
        missing.as_object_mut().unwrap().remove("tenant");
        assert_eq!(
            conforms(&schema, &missing).unwrap_err(),
            "missing required `tenant`"
        );
    }
}
