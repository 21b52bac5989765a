//! `plan`: turns a window into one `list-content` item per content type
//! with an enabled subscription, and starts the subscriptions that are
//! missing, at most once per 15 minutes per content type.
//!
//! The 15-minute rule needs memory across calls, and a component has none:
//! the time of the last start attempt per content type travels in the
//! connector state, which the host persists with its checkpoint.

use std::collections::BTreeMap;

use connector_sdk::counters::Counters;
use connector_sdk::{Context, FetchError, PlanOutput, PlanRequest, TimeWindow, time};
use serde::{Deserialize, Serialize};

use crate::api::{Api, Level};
use crate::counters;
use crate::items::{ListContent, START_INTERVAL_MS};
use crate::settings::{Config, MAX_LOOKBACK_MS, MAX_WINDOW_MS};
use crate::subscriptions::{self, Started};

/// The connector state: `{"starts":{"Audit.Exchange":<ms>}}`, the time of
/// the last start attempt per content type. Entries older than 15 minutes
/// are dropped, so the state stays small.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Content type name → ms of the last start attempt.
    #[serde(default)]
    pub starts: BTreeMap<String, i64>,
}

impl State {
    /// Reads the state `plan` returned last time. An unreadable state is
    /// logged and replaced by an empty one: at worst a subscription is
    /// started once more than needed, which is better than never planning.
    fn read(api: &mut impl Api, text: Option<&str>) -> State {
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
            return State::default();
        };
        serde_json::from_str(text).unwrap_or_else(|e| {
            api.log(
                Level::Warn,
                &format!("ignoring unreadable connector state ({e}); starting from an empty one"),
            );
            State::default()
        })
    }

    /// When a start of `name` was attempted, if less than 15 minutes from
    /// `now`.
    fn recently_started(&self, name: &str, now: i64) -> Option<i64> {
        self.starts
            .get(name)
            .copied()
            .filter(|at| is_recent(*at, now))
    }

    /// Drops attempts that no longer hold anything back.
    fn forget_stale(&mut self, now: i64) {
        self.starts.retain(|_, at| is_recent(*at, now));
    }

    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// Whether an attempt at `at` is less than 15 minutes from `now`, in either
/// direction, so that a host clock set back does not unlock a new start.
fn is_recent(at: i64, now: i64) -> bool {
    now.abs_diff(at) < START_INTERVAL_MS as u64
}

/// Checks the window before anything is asked of the API: not empty, at
/// most 24 hours wide, starting no more than 7 days before `now`, and
/// expressible in the API's time format.
pub fn check_window(window: &TimeWindow, now: i64) -> Result<(), FetchError> {
    let show = |ms: i64| {
        time::from_millis(ms)
            .map(time::rfc3339)
            .unwrap_or_else(|| format!("{ms} ms"))
    };
    let span = format!("window [{}, {})", show(window.start), show(window.end));
    let bad = |why: String| Err(FetchError::BadRequest(format!("{span} {why}")));
    if time::from_millis(window.start).is_none() || time::from_millis(window.end).is_none() {
        return bad("lies outside the years 1-9999".into());
    }
    let width = i128::from(window.end) - i128::from(window.start);
    if width <= 0 {
        return bad("is empty".into());
    }
    if width > i128::from(MAX_WINDOW_MS) {
        return bad(format!(
            "is {:.1} hours wide; the Management Activity API lists at most 24 hours per call",
            width as f64 / 3_600_000.0
        ));
    }
    if i128::from(now) - i128::from(window.start) > i128::from(MAX_LOOKBACK_MS) {
        return bad(format!(
            "starts more than 7 days before now ({}); the Management Activity API keeps content for 7 days",
            show(now)
        ));
    }
    Ok(())
}

/// Plans `request.window`: checks it, reads the subscriptions, starts the
/// missing ones (15-minute rule), and lists every enabled content type.
pub fn plan(
    api: &mut impl Api,
    ctx: &Context,
    config: &Config,
    request: &PlanRequest,
) -> Result<PlanOutput, FetchError> {
    let window = request.window;
    check_window(&window, ctx.now)?;
    let mut state = State::read(api, request.state.as_deref());
    let enabled = subscriptions::enabled(api, config, &ctx.tenant)?;
    let mut counters = Counters::default();
    let mut items = Vec::new();
    for &content_type in &config.content_types {
        if enabled.contains(&content_type) {
            let listing = ListContent {
                content_type,
                start: window.start,
                end: window.end,
                page: None,
            };
            items.push(listing.item());
            continue;
        }
        counters.add(counters::SUBSCRIPTIONS_PENDING, 1);
        let name = content_type.as_str();
        if let Some(at) = state.recently_started(name, ctx.now) {
            let since = time::from_millis(at).map(time::rfc3339).unwrap_or_default();
            api.log(
                Level::Info,
                &format!("{name} has no enabled subscription; last start attempt {since}, less than 15 minutes ago: waiting"),
            );
            continue;
        }
        state.starts.insert(name.to_string(), ctx.now);
        if subscriptions::start(api, config, &ctx.tenant, content_type)? == Started::Now {
            counters.add(counters::SUBSCRIPTIONS_STARTED, 1);
        }
    }
    state.forget_stale(ctx.now);
    Ok(PlanOutput {
        items,
        state: Some(state.to_json()),
        counters: counters.into_vec(),
    })
}

#[cfg(test)]
mod tests {
    use connector_sdk::FetchError;

    use super::*;
    use crate::testing::*;

    const HOUR: i64 = 3_600_000;
    const MIN: i64 = 60_000;

    fn request(start: i64, end: i64, state: Option<&str>) -> PlanRequest {
        PlanRequest {
            window: TimeWindow { start, end },
            state: state.map(str::to_string),
        }
    }

    fn config(types: &str) -> Config {
        Config::from_settings(&ctx(NOW, &[("O365_EVENT_TYPES", types)]).settings).unwrap()
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

    fn bad_request(result: Result<PlanOutput, FetchError>) -> String {
        match result {
            Err(FetchError::BadRequest(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn windows_the_api_would_refuse_are_refused_without_asking() {
        let c = Config::from_settings(&[]).unwrap();
        let cx = ctx(NOW, &[]);
        // No answers are scripted: any request fails the test.
        let mut api = ScriptedApi::default();
        let m = bad_request(plan(
            &mut api,
            &cx,
            &c,
            &request(NOW - 25 * HOUR, NOW, None),
        ));
        assert!(
            m.contains("is 25.0 hours wide") && m.contains("at most 24 hours"),
            "{m}"
        );
        let m = bad_request(plan(
            &mut api,
            &cx,
            &c,
            &request(NOW - 24 * HOUR - 1, NOW, None),
        ));
        assert!(m.contains("at most 24 hours"), "{m}");
        let m = bad_request(plan(
            &mut api,
            &cx,
            &c,
            &request(NOW - 7 * 24 * HOUR - 1, NOW - 7 * 24 * HOUR + HOUR, None),
        ));
        assert!(
            m.contains("more than 7 days before now (2024-05-01T08:00:00.000Z)"),
            "{m}"
        );
        let m = bad_request(plan(&mut api, &cx, &c, &request(NOW, NOW, None)));
        assert_eq!(
            m,
            "window [2024-05-01T08:00:00.000Z, 2024-05-01T08:00:00.000Z) is empty"
        );
        let m = bad_request(plan(&mut api, &cx, &c, &request(NOW, NOW - 1, None)));
        assert!(m.ends_with("is empty"), "{m}");
        let m = bad_request(plan(&mut api, &cx, &c, &request(i64::MIN, i64::MAX, None)));
        assert!(m.contains("outside the years 1-9999"), "{m}");
        assert!(api.requests.is_empty());
    }

    #[test]
    fn the_widest_and_oldest_allowed_windows_pass() {
        assert!(
            check_window(
                &TimeWindow {
                    start: NOW - 24 * HOUR,
                    end: NOW
                },
                NOW
            )
            .is_ok()
        );
        let oldest = NOW - 7 * 24 * HOUR;
        assert!(
            check_window(
                &TimeWindow {
                    start: oldest,
                    end: oldest + HOUR
                },
                NOW
            )
            .is_ok()
        );
    }

    #[test]
    fn every_enabled_type_gets_one_listing_of_the_window() {
        let c = Config::from_settings(&[]).unwrap();
        let all = crate::content_type::ContentType::ALL.map(|t| t.as_str());
        let mut api = ScriptedApi::new([ok(&subscriptions(&all))]);
        let out = plan(
            &mut api,
            &ctx(NOW, &[]),
            &c,
            &request(NOW - HOUR, NOW, None),
        )
        .unwrap();
        assert_eq!(
            api.requests,
            [format!(
                "GET {FEED}/subscriptions/list?PublisherIdentifier={TENANT}"
            )]
        );
        let keys: Vec<_> = out.items.iter().map(|i| i.key.as_str()).collect();
        let expected: Vec<String> = all
            .iter()
            .map(|t| format!("list:{t}:{}:{NOW}:first", NOW - HOUR))
            .collect();
        assert_eq!(keys, expected);
        assert!(out.items.iter().all(|i| i.kind == "list-content"));
        assert_eq!(out.state.as_deref(), Some(r#"{"starts":{}}"#));
        assert!(out.counters.is_empty(), "{:?}", out.counters);
    }

    #[test]
    fn missing_subscriptions_are_started_and_not_listed() {
        let c = config("Audit.Exchange,DLP.All,Audit.SharePoint");
        let mut api = ScriptedApi::new([
            ok(
                r#"[{"contentType":"Audit.Exchange","status":"enabled"},{"contentType":"Audit.SharePoint","status":"disabled"}]"#,
            ),
            ok(r#"{"contentType":"DLP.All","status":"enabled"}"#),
            ok(r#"{"contentType":"Audit.SharePoint","status":"enabled"}"#),
        ]);
        let out = plan(
            &mut api,
            &ctx(NOW, &[]),
            &c,
            &request(NOW - HOUR, NOW, None),
        )
        .unwrap();
        assert_eq!(out.items.len(), 1);
        assert_eq!(
            out.items[0].key,
            format!("list:Audit.Exchange:{}:{NOW}:first", NOW - HOUR)
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
        assert_eq!(state.starts.get("DLP.All"), Some(&NOW));
        assert_eq!(state.starts.get("Audit.SharePoint"), Some(&NOW));
        assert_eq!(
            counts(&out.counters),
            [("subscriptions-pending", 2), ("subscriptions-started", 2)]
        );
        assert!(
            api.logs
                .iter()
                .any(|(_, m)| m.contains("started the DLP.All subscription"))
        );
    }

    #[test]
    fn a_type_is_started_at_most_once_per_fifteen_minutes() {
        let c = config("DLP.All");
        let cx = |now| ctx(now, &[]);
        let w = |now: i64| request(now - HOUR, now, None);
        let none_enabled = || ok("[]");

        // First plan: starts it and remembers when.
        let mut api = ScriptedApi::new([none_enabled(), ok("{}")]);
        let first = plan(&mut api, &cx(NOW), &c, &w(NOW)).unwrap();
        assert_eq!(api.requests.len(), 2);
        let state = first.state.clone();

        // 14 minutes 59 seconds later, with that state: no start.
        let later = NOW + 15 * MIN - 1_000;
        let mut api = ScriptedApi::new([none_enabled()]);
        let mut req = w(later);
        req.state = state.clone();
        let second = plan(&mut api, &cx(later), &c, &req).unwrap();
        assert_eq!(api.requests.len(), 1, "{:?}", api.requests);
        assert_eq!(counts(&second.counters), [("subscriptions-pending", 1)]);
        assert_eq!(state_of(&second).starts.get("DLP.All"), Some(&NOW));
        assert!(api.logs.iter().any(|(l, m)| *l == Level::Info
            && m.contains("DLP.All has no enabled subscription")
            && m.contains("waiting")));

        // 15 minutes after the attempt: starts again, and remembers the new time.
        let after = NOW + 15 * MIN;
        let mut api = ScriptedApi::new([none_enabled(), ok("{}")]);
        let mut req = w(after);
        req.state = second.state.clone();
        let third = plan(&mut api, &cx(after), &c, &req).unwrap();
        assert_eq!(api.requests.len(), 2);
        assert_eq!(state_of(&third).starts.get("DLP.All"), Some(&after));
        assert_eq!(
            counts(&third.counters),
            [("subscriptions-pending", 1), ("subscriptions-started", 1)]
        );
    }

    #[test]
    fn a_clock_set_back_does_not_unlock_a_start() {
        let c = config("DLP.All");
        let mut api = ScriptedApi::new([ok("[]")]);
        let state = format!(r#"{{"starts":{{"DLP.All":{}}}}}"#, NOW + 10 * MIN);
        plan(
            &mut api,
            &ctx(NOW, &[]),
            &c,
            &request(NOW - HOUR, NOW, Some(&state)),
        )
        .unwrap();
        assert_eq!(api.requests.len(), 1);
    }

    #[test]
    fn old_attempts_are_forgotten_and_unknown_fields_tolerated() {
        let c = config("Audit.General");
        let mut api = ScriptedApi::new([ok(&subscriptions(&["Audit.General"]))]);
        let state = format!(
            r#"{{"starts":{{"Audit.Exchange":{}, "DLP.All":{}}},"future":true}}"#,
            NOW - HOUR,
            NOW - MIN
        );
        let out = plan(
            &mut api,
            &ctx(NOW, &[]),
            &c,
            &request(NOW - HOUR, NOW, Some(&state)),
        )
        .unwrap();
        assert_eq!(
            out.state.as_deref(),
            Some(&*format!(r#"{{"starts":{{"DLP.All":{}}}}}"#, NOW - MIN))
        );
    }

    #[test]
    fn an_unreadable_state_is_logged_and_replaced() {
        let c = config("DLP.All");
        let mut api = ScriptedApi::new([ok("[]"), ok("{}")]);
        let out = plan(
            &mut api,
            &ctx(NOW, &[]),
            &c,
            &request(NOW - HOUR, NOW, Some("planned-until-yesterday")),
        )
        .unwrap();
        assert_eq!(
            api.requests.len(),
            2,
            "the start was not held back by a state it could not read"
        );
        assert!(
            api.logs
                .iter()
                .any(|(l, m)| *l == Level::Warn && m.contains("unreadable connector state"))
        );
        assert_eq!(state_of(&out).starts.get("DLP.All"), Some(&NOW));
    }

    #[test]
    fn a_failed_start_fails_the_plan_with_the_fix() {
        let c = config("DLP.All");
        let mut api = ScriptedApi::new([
            ok("[]"),
            api_error(403, "AF10001", "missing ActivityFeed.ReadDlp"),
        ]);
        match plan(
            &mut api,
            &ctx(NOW, &[]),
            &c,
            &request(NOW - HOUR, NOW, None),
        ) {
            Err(FetchError::Forbidden(m)) => {
                assert!(m.contains("starting the DLP.All subscription"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        let mut api = ScriptedApi::new([answer(429, &[("Retry-After", "60")], "")]);
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
}
