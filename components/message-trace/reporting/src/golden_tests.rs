//! Golden tests: Reporting Web Service pages run through the `page` step
//! and compared with the expected envelopes in
//! `components/message-trace/golden/` (see `message_trace_core::testkit`).
//! Cases that also have a Graph input share their expected file with the
//! Graph version: the same messages give the same envelopes, whichever API
//! they came from.

use message_trace_core::items::PageItem;
use message_trace_core::step::{self, Source};
use message_trace_core::testkit::{self, GOLDEN_END, GOLDEN_START, NOW, ScriptedApi, ctx, ok};
use serde_json::Value;

use crate::settings::Config;

fn check(case: &str) -> Value {
    let body = testkit::golden_input(case, "reporting");
    let cx = ctx(NOW, &[]);
    let reporting = Config::from_settings(&cx.settings).unwrap().reporting;
    let mut api = ScriptedApi::new([ok(&body)]);
    let item = PageItem {
        start: GOLDEN_START,
        end: GOLDEN_END,
        page: None,
    };
    let out =
        step::page(&mut api, &cx, &reporting, &item).unwrap_or_else(|e| panic!("{case}: {e:?}"));
    let records = reporting.parse_page(body.as_bytes()).unwrap().records;
    let observed = testkit::GOLDEN.observe(case, &records, &out);
    testkit::GOLDEN.compare(case, &observed);
    observed
}

#[test]
fn simulator_seed_7_matches_the_graph_version() {
    let o = check("simulator-seed-7");
    assert_eq!(o["events"].as_array().unwrap().len(), 6);
    assert_eq!(o["events"][0]["status"], "filteredAsSpam");
}

#[test]
fn odd_records_match_the_graph_version() {
    let o = check("odd-records");
    assert_eq!(o["counters"]["out-of-window"], 2);
    assert!(
        o["events"][1]["id"]
            .as_str()
            .unwrap()
            .starts_with("derived-1795590760000-")
    );
}

#[test]
fn several_recipients_match_the_graph_version() {
    let o = check("several-recipients");
    assert_eq!(
        o["events"].as_array().unwrap().len(),
        5,
        "one event per row"
    );
    assert_eq!(
        o["events"][1]["id"],
        "5b1e7c3a-9d2f-4a6b-8c1e-3f5a7b9d1c2e:lee.gu@fabrikam.com:pending"
    );
}

#[test]
fn reporting_spellings() {
    let o = check("reporting-spellings");
    assert_eq!(
        o["events"][0]["recipients"],
        serde_json::json!([
            "adele.vance@contoso.onmicrosoft.com",
            "Allan.Deyoung@contoso.onmicrosoft.com",
            "external.list@fabrikam.com"
        ])
    );
    assert_eq!(o["events"][0]["time"], "2026-11-25T07:21:02.123Z");
    // One row naming several addresses is one event; its id names them
    // all, lower-cased and sorted.
    assert_eq!(
        o["events"][0]["id"],
        "3c4d5e6f-7a8b-4c9d-0e1f-2a3b4c5d6e7f:adele.vance@contoso.onmicrosoft.com;allan.deyoung@contoso.onmicrosoft.com;external.list@fabrikam.com:expanded"
    );
    assert!(o["events"][1].get("recipients").is_none());
    assert_eq!(o["events"][2]["time"], "2026-11-25T07:26:40.500Z");
}
