//! Golden tests: Graph pages run through the `page` step and compared with
//! the expected envelopes in `components/message-trace/golden/` (see
//! `message_trace_core::testkit` for the layout). Cases that also have a
//! Reporting Web Service input share their expected file with the
//! Reporting version: both versions must write the same envelopes for the
//! same messages.

use message_trace_core::items::PageItem;
use message_trace_core::step::{self, Source};
use message_trace_core::testkit::{self, GOLDEN_END, GOLDEN_START, NOW, ScriptedApi, ctx, ok};
use serde_json::Value;

use crate::settings::Config;

fn check(case: &str) -> Value {
    let body = testkit::golden_input(case, "graph");
    let cx = ctx(NOW, &[]);
    let graph = Config::from_settings(&cx.settings).unwrap().graph;
    let mut api = ScriptedApi::new([ok(&body)]);
    let item = PageItem {
        start: GOLDEN_START,
        end: GOLDEN_END,
        page: None,
    };
    let out = step::page(&mut api, &cx, &graph, &item).unwrap_or_else(|e| panic!("{case}: {e:?}"));
    let records = graph.parse_page(body.as_bytes()).unwrap().records;
    let observed = testkit::GOLDEN.observe(case, &records, &out);
    testkit::GOLDEN.compare(case, &observed);
    observed
}

#[test]
fn simulator_seed_7_matches_the_reporting_version() {
    let o = check("simulator-seed-7");
    assert_eq!(o["events"].as_array().unwrap().len(), 6);
    assert_eq!(o["events"][0]["status"], "filteredAsSpam");
    assert!(
        o["events"][3].get("toIp").is_none(),
        "toIP null is left out"
    );
}

#[test]
fn odd_records_match_the_reporting_version() {
    let o = check("odd-records");
    assert_eq!(o["counters"]["out-of-window"], 2);
    assert_eq!(o["counters"]["records-without-id"], 1);
    assert_eq!(
        o["counters"]["malformed-records"], 1,
        "the record without a time"
    );
    assert_eq!(o["events"][0]["fromIp"], "2a01:111:f400:7e1b::205");
    let undated = &o["events"][3];
    assert_eq!(
        undated["normalizationError"],
        "the record has no received time"
    );
    assert_eq!(
        undated["time"], "2026-11-25T07:00:00.000Z",
        "the window start"
    );
}

#[test]
fn several_recipients_match_the_reporting_version() {
    let o = check("several-recipients");
    let events = o["events"].as_array().unwrap();
    assert_eq!(events.len(), 5, "one event per row");
    let trace = "5b1e7c3a-9d2f-4a6b-8c1e-3f5a7b9d1c2e";
    assert_eq!(
        events[..3]
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [
            format!("{trace}:alex.wilber@contoso.onmicrosoft.com:delivered"),
            format!("{trace}:lee.gu@fabrikam.com:pending"),
            format!("{trace}:patti.fernandez@contoso.onmicrosoft.com:filteredasspam"),
        ]
    );
    assert!(events[..3].iter().all(|e| e["traceId"] == trace));
    assert_eq!(
        events[1]["recipients"][0], "Lee.Gu@Fabrikam.com",
        "kept as written"
    );
    // Without a trace id: one derived id for the message, a row per recipient.
    let derived: Vec<&str> = events[3..]
        .iter()
        .map(|e| e["id"].as_str().unwrap().split(':').next().unwrap())
        .collect();
    assert!(derived[0].starts_with("derived-1795592000000-"));
    assert_eq!(derived[0], derived[1]);
    assert_ne!(events[3]["id"], events[4]["id"]);
    assert!(events[3].get("traceId").is_none());
}

#[test]
fn malformed_records_are_published_with_the_page() {
    let o = check("malformed-records");
    assert_eq!(o["counters"]["malformed-records"], 2);
    let events = o["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[0]["normalizationError"],
        "the record has receivedDateTime `25/11/2026 07:30`, which is not a date this component reads"
    );
    assert_eq!(events[0]["sender"], "megan.bowen@contoso.onmicrosoft.com");
    assert!(events[1]["id"].as_str().unwrap().starts_with("malformed-"));
    assert_eq!(
        events[1]["normalizationError"],
        "the record is a string, not a JSON object"
    );
    assert!(events[2].get("normalizationError").is_none());
}

#[test]
fn graph_spellings() {
    let o = check("graph-spellings");
    assert_eq!(o["events"][0]["time"], "2026-11-25T07:31:02.123Z");
    assert_eq!(o["events"][0]["size"], 4096);
    assert_eq!(o["events"][0]["fromIp"], "2603:10a6:20b:4c2::5");
    assert_eq!(o["events"][1]["time"], "2026-11-25T07:32:10.000Z");
    assert_eq!(o["events"][1]["status"], "filteredAsSpam");
}
