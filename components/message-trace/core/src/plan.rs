//! `plan`: one `page` item for the window, moved back by the overlap. No
//! request is made; the window is checked against what the API accepts, so
//! that a window it would refuse fails here with a clear message rather
//! than as the API's 400.
//!
//! An empty window (its end at or before its start, as min-age arithmetic
//! after a quick restart can give) is planned as no items: nothing to ask,
//! and nothing wrong. A non-empty window is never skipped, however narrow:
//! its query is rounded out to whole seconds, so it always spans at least
//! one second and its bounds never print as the same second; returning no
//! items for it would let the host move past the records in it.
//!
//! The queried window is `[start - overlap, end)`, with its start on a
//! whole second (both APIs take whole seconds). The overlap is shortened,
//! never the window, where a full one would not fit: when the query would
//! span more than the API accepts, or start before the API's history (less
//! [`LOOKBACK_SLACK_MS`], so that the later pages are still inside it when
//! they are fetched).

use connector_sdk::time::from_millis;
use connector_sdk::{Context, FetchError, PlanOutput, PlanRequest};

use crate::duration;
use crate::items::PageItem;
use crate::settings::{LOOKBACK_SLACK_MS, Limits, Shared};
use crate::time;

/// Plans `request.window` for an API with `limits`.
pub fn plan(
    ctx: &Context,
    request: &PlanRequest,
    limits: &Limits,
    shared: &Shared,
) -> Result<PlanOutput, FetchError> {
    let query = query_window(
        request.window.start,
        request.window.end,
        ctx.now,
        limits,
        shared,
    )?;
    Ok(PlanOutput {
        items: query.iter().map(PageItem::item).collect(),
        state: None,
        counters: Vec::new(),
    })
}

/// The first page of the query that covers `[start, end)` at `now`; none
/// when the window is empty; or why the API would refuse it.
pub fn query_window(
    start: i64,
    end: i64,
    now: i64,
    limits: &Limits,
    shared: &Shared,
) -> Result<Option<PageItem>, FetchError> {
    let span = format!("window [{}, {})", time::show(start), time::show(end));
    let bad = |why: String| Err(FetchError::BadRequest(format!("{span} {why}")));
    if from_millis(start).is_none() || from_millis(end).is_none() {
        return bad("lies outside the years 1-9999".into());
    }
    if end <= start {
        return Ok(None);
    }
    let max_span = limits.max_span_ms as i64;
    let history = limits.history_ms as i64;
    let window_start = time::floor_second(start);
    let query_end = time::ceil_second(end);
    if query_end - window_start > max_span {
        return bad(format!(
            "is wider than {}, the most {} returns in one query",
            duration::show(limits.max_span_ms),
            limits.api
        ));
    }
    if window_start < now.saturating_sub(history) {
        return bad(format!(
            "starts more than {} before now ({}); {} keeps message traces that long",
            duration::show(limits.history_ms),
            time::show(now),
            limits.api
        ));
    }
    let oldest = now - history + LOOKBACK_SLACK_MS as i64;
    let wanted = start.saturating_sub(shared.overlap_ms as i64);
    let query_start = time::floor_second(wanted.max(oldest).max(query_end - max_span));
    Ok(Some(PageItem {
        start: query_start.min(window_start),
        end,
        page: None,
    }))
}

#[cfg(test)]
mod tests {
    use connector_sdk::{PlanRequest, Setting, TimeWindow};

    use super::*;
    use crate::duration::{DAY_MS, HOUR_MS, MINUTE_MS};

    const NOW: i64 = 1_795_593_600_000; // 2026-11-25T08:00:00Z
    const HOUR: i64 = HOUR_MS as i64;
    const DAY: i64 = DAY_MS as i64;
    const LIMITS: Limits = Limits {
        api: "Microsoft Graph messageTraces",
        max_span_ms: 10 * DAY_MS,
        history_ms: 90 * DAY_MS,
    };

    fn shared(overlap: &str) -> Shared {
        Shared::from_settings(&[Setting {
            name: "MESSAGE_TRACES_OVERLAP".into(),
            value: overlap.into(),
        }])
        .unwrap()
    }

    fn ctx() -> Context {
        Context {
            tenant: "t".into(),
            now: NOW,
            settings: vec![],
        }
    }

    fn query(start: i64, end: i64, overlap: &str) -> Result<PageItem, FetchError> {
        query_window(start, end, NOW, &LIMITS, &shared(overlap))
            .map(|q| q.expect("a non-empty window is queried"))
    }

    fn bad(result: Result<PageItem, FetchError>) -> String {
        match result {
            Err(FetchError::BadRequest(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_page_item_covers_the_window_and_the_overlap() {
        let request = PlanRequest {
            window: TimeWindow {
                start: NOW - HOUR,
                end: NOW - 15 * MINUTE_MS as i64,
            },
            state: Some("ignored".into()),
        };
        let out = plan(&ctx(), &request, &LIMITS, &shared("1h")).unwrap();
        assert_eq!(out.state, None);
        assert!(out.counters.is_empty());
        assert_eq!(out.items.len(), 1);
        let item = &out.items[0];
        assert_eq!(item.kind, "page");
        assert_eq!(
            item.key,
            format!("traces:{}:{}:first", NOW - 2 * HOUR, NOW - 900_000)
        );
        assert_eq!(item.remember_for, None);
        assert_eq!(
            PageItem::read(item).unwrap(),
            PageItem {
                start: NOW - 2 * HOUR,
                end: NOW - 900_000,
                page: None
            }
        );
    }

    #[test]
    fn the_query_starts_on_a_whole_second() {
        let q = query(NOW - HOUR + 1, NOW - 1, "90s").unwrap();
        assert_eq!(q.start, NOW - HOUR - 90_000);
        assert_eq!(
            q.end,
            NOW - 1,
            "the end stays exact; later records are dropped"
        );
        let q = query(NOW - HOUR + 1, NOW, "0").unwrap();
        assert_eq!(q.start, NOW - HOUR);
    }

    #[test]
    fn the_widest_window_the_host_plans_fits_one_query() {
        let s = shared("1h");
        let width = LIMITS.max_window_ms(&s) as i64;
        let q = query(NOW - DAY - width + 1, NOW - DAY + 1, "1h").unwrap();
        assert_eq!(q.start, NOW - DAY - width - HOUR);
        assert!(time::ceil_second(q.end) - q.start <= 10 * DAY);
    }

    #[test]
    fn the_overlap_gives_way_to_the_span_limit() {
        let q = query(NOW - 10 * DAY, NOW - 30 * MINUTE_MS as i64, "1h").unwrap();
        assert_eq!(q.start, NOW - 10 * DAY - 30 * MINUTE_MS as i64);
        let m = bad(query(NOW - 10 * DAY - 1000, NOW, "0"));
        assert!(
            m.ends_with(
                "is wider than 10d, the most Microsoft Graph messageTraces returns in one query"
            ),
            "{m}"
        );
    }

    #[test]
    fn the_overlap_gives_way_to_the_history_limit() {
        // Planned at the host's edge: max-lookback, plus its own margin.
        let s = shared("1h");
        let start = NOW - LIMITS.max_lookback_ms(&s) as i64 + 15 * MINUTE_MS as i64;
        let q = query(start, start + HOUR, "1h").unwrap();
        assert_eq!(q.start, start - HOUR);
        // Closer to the edge than the host plans: the overlap shrinks.
        let start = NOW - 90 * DAY + 30 * MINUTE_MS as i64;
        let q = query(start, start + HOUR, "1h").unwrap();
        assert_eq!(q.start, start, "no re-read into the last hour of history");
        let start = NOW - 90 * DAY + 90 * MINUTE_MS as i64;
        assert_eq!(
            query(start, start + HOUR, "1h").unwrap().start,
            NOW - 89 * DAY - 23 * HOUR
        );
    }

    #[test]
    fn windows_the_api_would_refuse_are_bad_requests() {
        let m = bad(query(NOW - 91 * DAY, NOW - 90 * DAY, "1h"));
        assert_eq!(
            m,
            "window [2026-08-26T08:00:00.000Z, 2026-08-27T08:00:00.000Z) starts more than 90d before now (2026-11-25T08:00:00.000Z); Microsoft Graph messageTraces keeps message traces that long"
        );
        let m = bad(query(i64::MIN, NOW, "1h"));
        assert!(m.ends_with("lies outside the years 1-9999"), "{m}");
    }

    #[test]
    fn an_empty_window_is_no_work_and_no_error() {
        for (start, end) in [(NOW - HOUR, NOW - HOUR), (NOW - HOUR, NOW - HOUR - 1)] {
            let request = PlanRequest {
                window: TimeWindow { start, end },
                state: None,
            };
            let out = plan(&ctx(), &request, &LIMITS, &shared("1h")).unwrap();
            assert!(out.items.is_empty(), "{start}..{end}");
        }
    }

    #[test]
    fn a_window_narrower_than_a_second_is_still_a_whole_second_query() {
        for overlap in ["0", "1h"] {
            let q = query(NOW - 700, NOW - 200, overlap).unwrap();
            assert!(q.start <= NOW - 1000, "{overlap}: {q:?}");
            assert_eq!(q.start % 1000, 0);
            assert!(
                time::ceil_second(q.end) - q.start >= 1000,
                "{overlap}: {q:?}"
            );
            assert_eq!(q.end, NOW - 200);
        }
    }

    #[test]
    fn the_query_never_starts_before_the_apis_history() {
        // Whatever the window, the overlap and the clock's milliseconds.
        for start in [
            NOW - 90 * DAY + 1,
            NOW - 90 * DAY + 999,
            NOW - 90 * DAY + 30 * MINUTE_MS as i64,
            NOW - 90 * DAY + 2 * HOUR + 1,
        ] {
            for overlap in ["0", "1h", "1d"] {
                match query_window(start, start + HOUR, NOW, &LIMITS, &shared(overlap)) {
                    Ok(Some(q)) => assert!(q.start >= NOW - 90 * DAY, "{start} {overlap}"),
                    Ok(None) => panic!("not empty"),
                    Err(FetchError::BadRequest(m)) => {
                        assert!(m.contains("starts more than 90d before now"), "{m}");
                        assert!(time::floor_second(start) < NOW - 90 * DAY);
                    }
                    Err(other) => panic!("{other:?}"),
                }
            }
        }
    }
}
