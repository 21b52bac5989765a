//! Tests of `plan`: listings per type from where it stood, subscription
//! starts under the 15-minute rule, and per-type marks across plans.

use connector_sdk::{FetchError, PlanOutput, PlanRequest, TimeWindow};

use super::plan;
use crate::api::Level;
use crate::content_type::ContentType;
use crate::items::ListContent;
use crate::marks::{Mark, Reason};
use crate::settings::Config;
use crate::state::State;
use crate::testing::*;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
/// The default overlap.
const OVERLAP: i64 = 10 * MIN;

/// A request for `[start, end)` with `state`; none means an empty state
/// (`{}`): a plan came before. [`first_request`] has no state at all.
fn request(start: i64, end: i64, state: Option<&str>) -> PlanRequest {
    PlanRequest {
        window: TimeWindow { start, end },
        state: Some(state.unwrap_or("{}").to_string()),
    }
}

/// The request of the very first plan, without connector state.
fn first_request(start: i64, end: i64) -> PlanRequest {
    PlanRequest {
        window: TimeWindow { start, end },
        state: None,
    }
}

fn config_with(settings: &[(&str, &str)]) -> Config {
    Config::from_settings(&ctx(NOW, settings).settings).unwrap()
}

fn config(types: &str) -> Config {
    config_with(&[("O365_EVENT_TYPES", types)])
}

fn subscriptions(enabled: &[&str]) -> String {
    let entries: Vec<String> = enabled
        .iter()
        .map(|t| format!(r#"{{"contentType":"{t}","status":"enabled","webhook":null}}"#))
        .collect();
    format!("[{}]", entries.join(","))
}

fn state_of(output: &PlanOutput) -> State {
    serde_json::from_str(output.state.as_deref().unwrap()).unwrap()
}

/// The listings planned, as (type, start, end).
fn listed(output: &PlanOutput) -> Vec<(String, i64, i64)> {
    output
        .items
        .iter()
        .map(|i| {
            assert_eq!(i.kind, "list-content");
            let l: ListContent = crate::items::payload(i).unwrap();
            assert_eq!(l.page, None);
            (l.content_type.to_string(), l.start, l.end)
        })
        .collect()
}

fn run(api: &mut ScriptedApi, now: i64, c: &Config, req: &PlanRequest) -> PlanOutput {
    plan(api, &ctx(now, &[]), c, req).unwrap()
}

#[test]
fn windows_the_api_would_refuse_are_refused_without_asking() {
    let c = config_with(&[]);
    let mut api = ScriptedApi::default();
    for (start, end) in [(NOW - 25 * HOUR, NOW), (NOW, NOW), (NOW - 7 * DAY - 1, NOW)] {
        match plan(&mut api, &ctx(NOW, &[]), &c, &request(start, end, None)) {
            Err(FetchError::BadRequest(m)) => assert!(m.starts_with("window ["), "{m}"),
            other => panic!("{other:?}"),
        }
    }
    assert!(api.requests.is_empty());
}

#[test]
fn every_enabled_type_is_listed_from_the_overlap_before_the_window() {
    let all = ContentType::ALL.map(|t| t.as_str());
    let mut api = ScriptedApi::new([ok(&subscriptions(&all))]);
    let out = run(
        &mut api,
        NOW,
        &config_with(&[]),
        &request(NOW - HOUR, NOW, None),
    );
    assert_eq!(
        api.requests,
        [format!(
            "GET {FEED}/subscriptions/list?PublisherIdentifier={TENANT}"
        )]
    );
    let expected: Vec<_> = all
        .iter()
        .map(|t| (t.to_string(), NOW - HOUR - OVERLAP, NOW))
        .collect();
    assert_eq!(listed(&out), expected);
    assert_eq!(out.state.as_deref(), Some(r#"{"starts":{}}"#));
    assert!(out.counters.is_empty(), "{:?}", out.counters);

    // The very first plan has nothing before it to re-list.
    let mut api = ScriptedApi::new([ok(&subscriptions(&["DLP.All"]))]);
    let out = run(
        &mut api,
        NOW,
        &config("DLP.All"),
        &first_request(NOW - HOUR, NOW),
    );
    assert_eq!(listed(&out), [("DLP.All".to_string(), NOW - HOUR, NOW)]);

    // Without an overlap: exactly the window.
    let mut api = ScriptedApi::new([ok(&subscriptions(&["DLP.All"]))]);
    let c = config_with(&[
        ("O365_EVENT_TYPES", "DLP.All"),
        ("O365_LISTING_OVERLAP", "0"),
    ]);
    let out = run(&mut api, NOW, &c, &request(NOW - HOUR, NOW, None));
    assert_eq!(listed(&out), [("DLP.All".to_string(), NOW - HOUR, NOW)]);
}

#[test]
fn a_window_too_small_to_ask_for_makes_no_request_and_no_error() {
    let c = config_with(&[("O365_LISTING_OVERLAP", "0")]);
    let state =
        r#"{"starts":{},"behind":{"DLP.All":{"since":1714546800000,"reason":"forbidden"}}}"#;
    let mut api = ScriptedApi::default();
    // NOW is on a whole second: NOW and NOW + 999 are the same second.
    let out = run(
        &mut api,
        NOW + 999,
        &c,
        &request(NOW, NOW + 999, Some(state)),
    );
    assert!(api.requests.is_empty());
    assert!(out.items.is_empty());
    assert_eq!(out.state, None, "the state is kept as it is");
    assert_eq!(counts(&out.counters), [("lagging:DLP.All:forbidden", 3601)]);
    // With the default overlap the same window is listed.
    let mut api = ScriptedApi::new([ok(&subscriptions(&["Audit.Exchange"]))]);
    let out = run(
        &mut api,
        NOW + 999,
        &config("Audit.Exchange"),
        &request(NOW, NOW + 999, None),
    );
    assert_eq!(
        listed(&out),
        [("Audit.Exchange".to_string(), NOW - OVERLAP, NOW + 999)]
    );
}

#[test]
fn missing_subscriptions_are_started_and_their_types_marked_behind() {
    let c = config("Audit.Exchange,DLP.All,Audit.SharePoint");
    let mut api = ScriptedApi::new([
        ok(
            r#"[{"contentType":"Audit.Exchange","status":"enabled"},{"contentType":"Audit.SharePoint","status":"disabled"}]"#,
        ),
        ok(r#"{"contentType":"DLP.All","status":"enabled"}"#),
        ok(r#"{"contentType":"Audit.SharePoint","status":"enabled"}"#),
    ]);
    let out = run(&mut api, NOW, &c, &request(NOW - HOUR, NOW, None));
    assert_eq!(
        listed(&out),
        [("Audit.Exchange".to_string(), NOW - HOUR - OVERLAP, NOW)]
    );
    assert_eq!(
        api.requests[1..],
        [
            format!(
                "POST {FEED}/subscriptions/start?contentType=DLP.All&PublisherIdentifier={TENANT}"
            ),
            format!(
                "POST {FEED}/subscriptions/start?contentType=Audit.SharePoint&PublisherIdentifier={TENANT}"
            ),
        ]
    );
    let state = state_of(&out);
    let starting = Mark {
        since: NOW - HOUR,
        reason: Reason::SubscriptionStarting,
        started_at: Some(NOW),
    };
    assert_eq!(state.behind.get("DLP.All"), Some(&starting));
    assert_eq!(state.behind.get("Audit.SharePoint"), Some(&starting));
    assert_eq!(state.starts.get("DLP.All"), Some(&NOW));
    assert_eq!(
        counts(&out.counters),
        [
            ("subscriptions-pending", 2),
            ("subscriptions-started", 2),
            ("lagging:DLP.All:subscription-starting", 3600),
            ("lagging:Audit.SharePoint:subscription-starting", 3600)
        ]
    );
}

#[test]
fn a_type_started_late_is_listed_from_where_it_fell_behind() {
    let c = config("DLP.All");
    // 08:00: not subscribed; started, behind from 07:00.
    let mut api = ScriptedApi::new([ok("[]"), ok("{}")]);
    let first = run(&mut api, NOW, &c, &request(NOW - HOUR, NOW, None));
    assert!(first.items.is_empty());

    // 09:00: enabled, but still warming up: listed from 07:00, kept behind.
    let mut api = ScriptedApi::new([ok(&subscriptions(&["DLP.All"]))]);
    let later = NOW + HOUR;
    let second = run(
        &mut api,
        later,
        &c,
        &request(NOW, later, first.state.as_deref()),
    );
    assert_eq!(
        listed(&second),
        [("DLP.All".to_string(), NOW - HOUR - OVERLAP, later)]
    );
    assert_eq!(
        counts(&second.counters),
        [("lagging:DLP.All:subscription-starting", 2 * 3600)]
    );
    assert_eq!(state_of(&second).behind["DLP.All"].since, NOW - HOUR);

    // 20:00, twelve hours after the start: listed from 07:00 once more, and
    // caught up.
    let mut api = ScriptedApi::new([ok(&subscriptions(&["DLP.All"]))]);
    let warm = NOW + 12 * HOUR;
    let third = run(
        &mut api,
        warm,
        &c,
        &request(warm - HOUR, warm, second.state.as_deref()),
    );
    assert_eq!(
        listed(&third),
        [("DLP.All".to_string(), NOW - HOUR - OVERLAP, warm)]
    );
    assert!(third.counters.is_empty(), "{:?}", third.counters);
    assert!(state_of(&third).behind.is_empty());
    assert!(
        api.logs
            .iter()
            .any(|(_, m)| m.contains("DLP.All was behind since"))
    );
}

#[test]
fn a_catch_up_longer_than_a_day_is_cut_into_days_and_the_part_past_seven_days_counted_lost() {
    let c = config("DLP.All");
    let state = format!(
        r#"{{"behind":{{"DLP.All":{{"since":{},"reason":"forbidden"}}}}}}"#,
        NOW - 8 * DAY
    );
    let mut api = ScriptedApi::new([ok(&subscriptions(&["DLP.All"]))]);
    let out = run(&mut api, NOW, &c, &request(NOW - HOUR, NOW, Some(&state)));
    let oldest = NOW - 7 * DAY + 15 * MIN;
    let pieces = listed(&out);
    assert_eq!(pieces.len(), 7);
    assert_eq!(pieces[0], ("DLP.All".to_string(), oldest, oldest + DAY));
    assert_eq!(pieces[6].2, NOW);
    assert!(pieces.windows(2).all(|w| w[0].2 == w[1].1));
    assert_eq!(
        counts(&out.counters),
        [("lost-window-seconds", 24 * 3600 + 15 * 60)]
    );
    assert!(state_of(&out).behind.is_empty());
}

#[test]
fn already_enabled_means_the_list_was_stale_and_the_type_is_listed() {
    let c = config("Audit.General");
    let mut api = ScriptedApi::new([
        ok("[]"),
        api_error(
            400,
            "AF20024",
            "The subscription is already enabled. No property change.",
        ),
    ]);
    let out = run(&mut api, NOW, &c, &request(NOW - HOUR, NOW, None));
    assert_eq!(
        listed(&out),
        [("Audit.General".to_string(), NOW - HOUR - OVERLAP, NOW)]
    );
    assert!(state_of(&out).behind.is_empty());
    assert_eq!(counts(&out.counters), [("subscriptions-pending", 1)]);
}

#[test]
fn a_start_refused_for_one_type_leaves_only_that_type_behind() {
    let c = config("Audit.Exchange,DLP.All");
    let mut api = ScriptedApi::new([
        ok(&subscriptions(&["Audit.Exchange"])),
        api_error(403, "AF10001", "missing ActivityFeed.ReadDlp"),
    ]);
    let out = run(&mut api, NOW, &c, &request(NOW - HOUR, NOW, None));
    assert_eq!(
        listed(&out),
        [("Audit.Exchange".to_string(), NOW - HOUR - OVERLAP, NOW)]
    );
    assert_eq!(state_of(&out).behind["DLP.All"].reason, Reason::Forbidden);
    assert!(counts(&out.counters).contains(&("lagging:DLP.All:forbidden", 3600)));
    assert!(
        api.logs
            .iter()
            .any(|(l, m)| *l == Level::Warn && m.contains("ActivityFeed.ReadDlp"))
    );

    // Throttling is passed on: the host retries the whole plan.
    let mut api = ScriptedApi::new([ok("[]"), answer(429, &[("Retry-After", "60")], "")]);
    match plan(
        &mut api,
        &ctx(NOW, &[]),
        &c,
        &request(NOW - HOUR, NOW, None),
    ) {
        Err(FetchError::Throttled(t)) => assert_eq!(t.retry_after, Some(60_000)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_type_is_started_at_most_once_per_fifteen_minutes() {
    let c = config("DLP.All");
    let w = |now: i64, state: Option<&str>| request(now - HOUR, now, state);
    let mut api = ScriptedApi::new([ok("[]"), ok("{}")]);
    let first = run(&mut api, NOW, &c, &w(NOW, None));
    assert_eq!(api.requests.len(), 2);

    // 14 minutes 59 seconds later: no start; still behind from the first window.
    let later = NOW + 15 * MIN - 1_000;
    let mut api = ScriptedApi::new([ok("[]")]);
    let second = run(&mut api, later, &c, &w(later, first.state.as_deref()));
    assert_eq!(api.requests.len(), 1, "{:?}", api.requests);
    let state = state_of(&second);
    assert_eq!(state.starts.get("DLP.All"), Some(&NOW));
    assert_eq!(state.behind["DLP.All"].since, NOW - HOUR);
    assert_eq!(state.behind["DLP.All"].reason, Reason::SubscriptionStarting);
    assert!(api.logs.iter().any(|(l, m)| *l == Level::Info
        && m.contains("DLP.All has no enabled subscription")
        && m.contains("waiting")));

    // 15 minutes after the attempt: starts again; the warm-up runs from now.
    let after = NOW + 15 * MIN;
    let mut api = ScriptedApi::new([ok("[]"), ok("{}")]);
    let third = run(&mut api, after, &c, &w(after, second.state.as_deref()));
    assert_eq!(api.requests.len(), 2);
    let state = state_of(&third);
    assert_eq!(state.starts.get("DLP.All"), Some(&after));
    assert_eq!(state.behind["DLP.All"].started_at, Some(after));
    assert_eq!(state.behind["DLP.All"].since, NOW - HOUR);
}

#[test]
fn a_clock_set_back_does_not_unlock_a_start() {
    let mut api = ScriptedApi::new([ok("[]")]);
    let state = format!(r#"{{"starts":{{"DLP.All":{}}}}}"#, NOW + 10 * MIN);
    run(
        &mut api,
        NOW,
        &config("DLP.All"),
        &request(NOW - HOUR, NOW, Some(&state)),
    );
    assert_eq!(api.requests.len(), 1);
}

#[test]
fn old_attempts_are_forgotten_and_unknown_fields_tolerated() {
    let mut api = ScriptedApi::new([ok(&subscriptions(&["Audit.General"]))]);
    let state = format!(
        r#"{{"starts":{{"Audit.Exchange":{}, "DLP.All":{}}},"future":true}}"#,
        NOW - HOUR,
        NOW - MIN
    );
    let out = run(
        &mut api,
        NOW,
        &config("Audit.General"),
        &request(NOW - HOUR, NOW, Some(&state)),
    );
    assert_eq!(
        out.state.as_deref(),
        Some(&*format!(r#"{{"starts":{{"DLP.All":{}}}}}"#, NOW - MIN))
    );
}

#[test]
fn an_unreadable_state_is_logged_and_replaced() {
    let mut api = ScriptedApi::new([ok("[]"), ok("{}")]);
    let out = run(
        &mut api,
        NOW,
        &config("DLP.All"),
        &request(NOW - HOUR, NOW, Some("planned-until-yesterday")),
    );
    assert_eq!(api.requests.len(), 2, "the start was not held back");
    assert!(
        api.logs
            .iter()
            .any(|(l, m)| *l == Level::Warn && m.contains("unreadable connector state"))
    );
    assert_eq!(state_of(&out).starts.get("DLP.All"), Some(&NOW));
}
