//! Which spans of time may be asked for, and the listings that cover a
//! span: at most 24 hours each, no more than 7 days back, and never a
//! window the API would refuse as empty.
//!
//! The listing call takes whole seconds (`YYYY-MM-DDTHH:MM:SS`, rounded
//! down); two bounds in the same second make an empty window the API
//! refuses with `AF20055`. Such a span holds nothing the neighbouring
//! listings do not (both ends round down the same way), so it is simply
//! not asked for.

use connector_sdk::{FetchError, TimeWindow, time};

use crate::content_type::ContentType;
use crate::items::ListContent;
use crate::settings::{MAX_LOOKBACK_MS, MAX_WINDOW_MS};
use crate::time::MINUTE_MS;

/// How far inside the 7-day limit a listing that had to be moved starts,
/// so that its later pages are still inside it when they are fetched (the
/// host keeps the same margin for its oldest slice).
pub const LOOKBACK_MARGIN_MS: i64 = 15 * MINUTE_MS;

/// The oldest instant a listing planned at `now` starts at.
pub fn oldest_listable(now: i64) -> i64 {
    now.saturating_sub(MAX_LOOKBACK_MS as i64)
        .saturating_add(LOOKBACK_MARGIN_MS)
}

/// Whether `[start, end)` is empty at the API's one-second resolution.
pub fn too_small(start: i64, end: i64) -> bool {
    start.div_euclid(1000) >= end.div_euclid(1000)
}

/// First-page listings of `content_type` covering `[from, to)`, each at
/// most 24 hours wide, oldest first; none when the span is too small.
pub fn listings(content_type: ContentType, from: i64, to: i64) -> Vec<ListContent> {
    let mut out = Vec::new();
    let mut start = from;
    while !too_small(start, to) {
        let end = start.saturating_add(MAX_WINDOW_MS as i64).min(to);
        out.push(ListContent {
            content_type,
            start,
            end,
            page: None,
        });
        start = end;
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::NOW;

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;

    fn spans(v: &[ListContent]) -> Vec<(i64, i64)> {
        v.iter().map(|l| (l.start, l.end)).collect()
    }

    #[test]
    fn spans_are_cut_into_days_oldest_first() {
        let v = listings(ContentType::DlpAll, NOW - 2 * DAY - HOUR, NOW);
        assert_eq!(
            spans(&v),
            [
                (NOW - 2 * DAY - HOUR, NOW - DAY - HOUR),
                (NOW - DAY - HOUR, NOW - HOUR),
                (NOW - HOUR, NOW)
            ]
        );
        assert!(
            v.iter()
                .all(|l| l.content_type == ContentType::DlpAll && l.page.is_none())
        );
        assert_eq!(
            spans(&listings(ContentType::DlpAll, NOW - DAY, NOW)),
            [(NOW - DAY, NOW)]
        );
    }

    #[test]
    fn spans_within_one_second_are_not_asked_for() {
        // NOW is on a whole second.
        assert!(listings(ContentType::Exchange, NOW, NOW + 999).is_empty());
        assert!(listings(ContentType::Exchange, NOW + 1, NOW + 999).is_empty());
        assert!(listings(ContentType::Exchange, NOW, NOW).is_empty());
        assert!(listings(ContentType::Exchange, NOW, NOW - 5_000).is_empty());
        assert_eq!(
            spans(&listings(ContentType::Exchange, NOW + 999, NOW + 1_000)),
            [(NOW + 999, NOW + 1_000)],
            "different seconds: a one-second window"
        );
        // A tail in the same second as the end of the last full day is dropped.
        let v = listings(ContentType::Exchange, NOW - DAY, NOW + 500);
        assert_eq!(spans(&v), [(NOW - DAY, NOW)]);
    }

    #[test]
    fn the_oldest_listable_instant_keeps_a_margin() {
        assert_eq!(oldest_listable(NOW), NOW - 7 * DAY + 15 * 60_000);
    }

    fn bad_request(window: TimeWindow) -> String {
        match check_window(&window, NOW) {
            Err(FetchError::BadRequest(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn windows_the_api_would_refuse_are_refused() {
        let w = |start, end| TimeWindow { start, end };
        let m = bad_request(w(NOW - 25 * HOUR, NOW));
        assert!(
            m.contains("is 25.0 hours wide") && m.contains("at most 24 hours"),
            "{m}"
        );
        assert!(bad_request(w(NOW - DAY - 1, NOW)).contains("at most 24 hours"));
        let m = bad_request(w(NOW - 7 * DAY - 1, NOW - 7 * DAY + HOUR));
        assert!(
            m.contains("more than 7 days before now (2024-05-01T08:00:00.000Z)"),
            "{m}"
        );
        assert_eq!(
            bad_request(w(NOW, NOW)),
            "window [2024-05-01T08:00:00.000Z, 2024-05-01T08:00:00.000Z) is empty"
        );
        assert!(bad_request(w(NOW, NOW - 1)).ends_with("is empty"));
        assert!(bad_request(w(i64::MIN, i64::MAX)).contains("outside the years 1-9999"));
    }

    #[test]
    fn the_widest_and_oldest_allowed_windows_pass() {
        let ok = |start, end| check_window(&TimeWindow { start, end }, NOW).is_ok();
        assert!(ok(NOW - DAY, NOW));
        assert!(ok(NOW - 7 * DAY, NOW - 7 * DAY + HOUR));
    }
}
