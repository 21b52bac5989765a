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
    assert_eq!(o["counters"]["records-without-time"], 1);
    assert_eq!(o["events"][0]["fromIp"], "2a01:111:f400:7e1b::205");
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
