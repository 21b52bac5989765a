//! Golden tests: realistic content blobs of every content type, and odd
//! ones, run through the `content-blob` step and compared with expected
//! envelopes in `tests/golden/<case>.expected.json`.
//!
//! Each case's input is `tests/golden/<case>.blob.json`, a blob body as
//! the API sends it. In the observed output every event's `record` is
//! replaced by `"<blob[N] verbatim>"` once it has been checked to be the
//! text of the blob's N-th record byte for byte, so the expected files stay
//! short and still say which record each event carries.
//!
//! `UPDATE_GOLDEN=1 cargo test -p audit` rewrites the expected files;
//! review the diff before keeping it.

use connector_sdk::StepOutput;
use connector_sdk::testkit::{Golden, conforms, schema};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::blob;
use crate::content_type::ContentType;
use crate::items::ContentBlob;
use crate::settings::Config;
use crate::testing::{FEED, NOW, ScriptedApi, ctx, ok};

/// The expected files, `tests/golden/<case>.expected.json`, whose events
/// carry `"<blob[N] verbatim>"` for their record.
const GOLDEN: Golden = Golden {
    dir: concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"),
    record: "blob",
};

/// Runs `body` as the blob `golden-<case>` of `content_type`, listed at
/// 07:55 and fetched at 08:00 on 2024-05-01.
fn fetch(case: &str, content_type: ContentType, body: &str) -> StepOutput {
    let content_id = format!("20240501075500-golden-{case}");
    let payload = ContentBlob {
        content_uri: format!("{FEED}/audit/{content_id}"),
        content_id,
        content_type,
        content_created: Some("2024-05-01T07:55:00.000Z".into()),
        content_expiration: Some("2024-05-08T07:55:00.000Z".into()),
    };
    let mut api = ScriptedApi::new([ok(body)]);
    let cx = ctx(NOW, &[]);
    let config = Config::from_settings(&cx.settings).unwrap();
    blob::fetch(&mut api, &cx, &config, &payload).unwrap_or_else(|e| panic!("{case}: {e:?}"))
}

/// The output as compared with the expected file, after the SDK's checks
/// (records byte for byte, in blob order; bodies valid and agreeing with
/// the events).
fn observe(case: &str, body: &str, out: &StepOutput) -> Value {
    let inputs: Vec<&RawValue> = serde_json::from_str(body).unwrap();
    GOLDEN.observe(case, &inputs, out)
}

fn check_case(case: &str, content_type: ContentType) -> Value {
    let body = GOLDEN.read(&format!("{case}.blob.json"));
    let out = fetch(case, content_type, &body);
    let observed = observe(case, &body, &out);
    GOLDEN.compare(case, &observed);
    observed
}

#[test]
fn azure_ad_sign_ins_take_the_actor_ip() {
    let o = check_case("azure-ad-user-logged-in", ContentType::AzureActiveDirectory);
    assert_eq!(o["events"][0]["clientIp"], "203.0.113.45");
}

#[test]
fn exchange_mail_items_accessed_loses_brackets_and_port() {
    let o = check_case("exchange-mail-items-accessed", ContentType::Exchange);
    assert_eq!(o["events"][0]["clientIp"], "2001:db8::5");
}

#[test]
fn sharepoint_file_accessed() {
    check_case("sharepoint-file-accessed", ContentType::SharePoint);
}

#[test]
fn general_drops_cloud_app_security() {
    let o = check_case("general", ContentType::General);
    assert_eq!(o["counters"]["ignored-events"], 1);
}

#[test]
fn dlp_rule_match_with_a_big_sensitive_info_array() {
    let o = check_case("dlp-rule-match", ContentType::DlpAll);
    assert_eq!(o["events"].as_array().unwrap().len(), 1);
}

#[test]
fn odd_records() {
    let o = check_case("odd-records", ContentType::SharePoint);
    assert_eq!(o["counters"]["records-without-id"], 1);
    assert_eq!(o["counters"]["bad-times"], 1);
}

/// A record over 1 MB (the Event Hubs limit) is neither cut nor reformatted
/// here: what to do with it is the sink's decision.
#[test]
fn an_oversized_record_is_kept_intact() {
    let detections: Vec<String> = (0..15_000)
        .map(|i| {
            format!(
                r#"{{"Name":"Credit Card Number","Value":"4111 11XX XXXX {:04}","Confidence":85}}"#,
                i % 10_000
            )
        })
        .collect();
    // Hand-written text with spellings a parse/print round trip would
    // change: blanks, an escaped character, a number beyond u64, `1.50`.
    let record = format!(
        r#"{{ "CreationTime" : "2024-05-01T07:52:00", "Id":"big-1", "Operation":"DlpRuleMatch", "RecordType":11, "Workload":"SharePoint", "UserId":"caf\u00e9@contoso.com", "Huge":123456789012345678901234567890, "Ratio":1.50, "Detections":[{}] }}"#,
        detections.join(",")
    );
    assert!(
        record.len() > 1024 * 1024,
        "the record is {} bytes",
        record.len()
    );
    let body = format!("[{record}]");
    let out = fetch("oversized", ContentType::DlpAll, &body);
    assert!(out.events[0].body.len() > record.len());
    let observed = observe("oversized", &body, &out);
    GOLDEN.compare("oversized", &observed);
}

/// The expected files use every envelope field the audit connector can
/// write; the schema in `docs/` must describe each of them.
#[test]
fn the_schema_requires_the_common_fields_and_closes_the_envelope() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(
        schema["required"],
        json!(["id", "time", "source", "kind", "tenant", "record"])
    );
    let properties = schema["properties"].as_object().unwrap();
    for name in [
        "contentId",
        "workload",
        "operation",
        "recordType",
        "user",
        "clientIp",
        "resultStatus",
        "sender",
        "recipients",
        "subject",
        "status",
        "size",
        "messageId",
        "fromIp",
        "toIp",
    ] {
        assert!(properties.contains_key(name), "schema lacks {name}");
    }
    // The checker below rejects what it should.
    let good = json!({"id":"a","time":"2024-05-01T00:00:00.000Z","source":"o365.audit","kind":"Audit.Exchange","tenant":"t","record":{}});
    assert!(conforms(&schema, &good).is_ok());
    let mut extra = good.clone();
    extra["colour"] = json!("red");
    assert!(conforms(&schema, &extra).unwrap_err().contains("colour"));
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("tenant");
    assert!(conforms(&schema, &missing).unwrap_err().contains("tenant"));
    let mut wrong = good;
    wrong["recordType"] = json!("15");
    assert!(
        conforms(&schema, &wrong)
            .unwrap_err()
            .contains("recordType")
    );
}
