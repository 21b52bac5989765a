//! Which time to ask a source for: from the high-water mark to `now -
//! min-age`, no further back than the source keeps data, in slices no wider
//! than the component accepts.

use crate::runtime::{Info, TimeWindow};

/// How far inside the source's lookback the oldest slice starts.
pub const LOOKBACK_MARGIN_MS: i64 = 15 * 60_000;

/// The narrowest span worth asking a source for. A cycle that finds less new
/// time than this (a restart seconds after the last cycle) waits for the next
/// one instead of asking for a sliver: the APIs resolve time to the second,
/// and a window narrower than that goes out with start equal to end and is
/// refused (`400 AF20055`).
pub const MIN_WINDOW_MS: i64 = 60_000;

/// Window bounds are whole seconds, the resolution of every source API.
const RESOLUTION_MS: i64 = 1000;

/// What a run should cover, and what it cannot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    /// The span before the source's lookback that can no longer be fetched
    /// (to be reported loudly), if any.
    pub unrecoverable: Option<TimeWindow>,
    /// The span to fetch, if any (empty when already up to date).
    pub fetch: Option<TimeWindow>,
}

/// A declared duration as `i64` ms, saturating instead of turning negative
/// at 2^63. The grant check refuses such values at load
/// (`crate::grants::limits`); this keeps the arithmetic sound regardless.
fn ms(duration: u64) -> i64 {
    i64::try_from(duration).unwrap_or(i64::MAX)
}

/// The coverage for a run at `now` that resumes at `from`. The end is
/// rounded down to a whole second, and a span narrower than
/// `MIN_WINDOW_MS` is left for the next cycle.
pub fn coverage(from: i64, now: i64, info: &Info) -> Coverage {
    let end = now
        .saturating_sub(ms(info.min_age))
        .div_euclid(RESOLUTION_MS)
        * RESOLUTION_MS;
    // Keep a margin inside the lookback: the later pages of a slice planned
    // at the edge must still be inside it when they are fetched.
    let oldest = now
        .saturating_sub(ms(info.max_lookback))
        .saturating_add(LOOKBACK_MARGIN_MS)
        .div_euclid(RESOLUTION_MS)
        .saturating_mul(RESOLUTION_MS)
        .min(end);
    let (unrecoverable, start) = if from < oldest {
        (
            Some(TimeWindow {
                start: from,
                end: oldest,
            }),
            oldest,
        )
    } else {
        (None, from)
    };
    Coverage {
        unrecoverable,
        fetch: (end.saturating_sub(start) >= MIN_WINDOW_MS).then_some(TimeWindow { start, end }),
    }
}

/// `window` cut into consecutive slices of at most `max_width` ms (whole
/// seconds when it is at least one, so slice bounds stay on the second).
pub fn slices(window: TimeWindow, max_width: u64) -> Vec<TimeWindow> {
    let width = ms(max_width.max(1));
    let width = if width >= RESOLUTION_MS {
        width - width % RESOLUTION_MS
    } else {
        width
    };
    let mut out = Vec::new();
    let mut start = window.start;
    while start < window.end {
        let end = start.saturating_add(width).min(window.end);
        out.push(TimeWindow { start, end });
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const D: i64 = 24 * H;

    fn info(max_window: i64, lookback: i64, min_age: i64) -> Info {
        Info {
            name: "t".into(),
            version: "0".into(),
            summary: String::new(),
            settings: vec![],
            endpoints: vec![],
            max_window: max_window as u64,
            max_lookback: lookback as u64,
            min_age: min_age as u64,
            dedup_horizon: 0,
            event_kinds: vec![],
        }
    }

    #[test]
    fn three_days_make_three_slices_of_a_day() {
        let now = 100 * D;
        let c = coverage(now - 3 * D, now, &info(D, 7 * D, 0));
        assert_eq!(c.unrecoverable, None);
        let s = slices(c.fetch.unwrap(), D as u64);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].start, now - 3 * D);
        assert_eq!(s[2].end, now);
        assert!(s.windows(2).all(|w| w[0].end == w[1].start));
    }

    #[test]
    fn nine_days_report_what_is_past_the_lookback() {
        let now = 100 * D;
        let c = coverage(now - 9 * D, now, &info(D, 7 * D, 0));
        let lost = c.unrecoverable.unwrap();
        assert_eq!(lost.start, now - 9 * D);
        assert_eq!(lost.end, now - 7 * D + LOOKBACK_MARGIN_MS);
        assert_eq!(c.fetch.unwrap().start, lost.end);
    }

    #[test]
    fn min_age_holds_back_the_newest_minutes() {
        let now = 100 * D;
        let c = coverage(now - H, now, &info(D, 90 * D, 10 * 60_000));
        assert_eq!(c.fetch.unwrap().end, now - 10 * 60_000);
        let up_to_date = coverage(now - 5 * 60_000, now, &info(D, 90 * D, 10 * 60_000));
        assert_eq!(up_to_date.fetch, None);
    }

    #[test]
    fn a_sliver_of_new_time_waits_for_the_next_cycle() {
        let now = 100 * D + 123;
        // A restart three seconds after the last cycle: nothing to ask for.
        assert_eq!(
            coverage(100 * D - 3000, now, &info(D, 7 * D, 0)).fetch,
            None
        );
        // A minute or more is asked for, ending on a whole second.
        let w = coverage(100 * D - 60_000, now, &info(D, 7 * D, 0))
            .fetch
            .unwrap();
        assert_eq!((w.start, w.end), (100 * D - 60_000, 100 * D));
    }

    #[test]
    fn window_ends_fall_on_whole_seconds() {
        let now = 100 * D + 59_999;
        let w = coverage(now - 2 * H, now, &info(D, 7 * D, 1))
            .fetch
            .unwrap();
        assert_eq!(w.end % 1000, 0);
        let lost = coverage(0, now, &info(D, 7 * D, 0)).unrecoverable.unwrap();
        assert_eq!(lost.end % 1000, 0);
    }

    #[test]
    fn durations_of_2_pow_63_and_more_saturate_instead_of_turning_negative() {
        let now = 100 * D;
        // A hold-back longer than all of time leaves nothing to fetch...
        let c = coverage(now - H, now, &info(D, 7 * D, 0));
        assert!(c.fetch.is_some());
        let mut huge = info(D, 7 * D, 0);
        huge.min_age = 1 << 63;
        assert_eq!(coverage(now - H, now, &huge).fetch, None);
        // ...a lookback longer than all of time loses nothing...
        let mut huge = info(D, 7 * D, 0);
        huge.max_lookback = u64::MAX;
        assert_eq!(coverage(now - 30 * D, now, &huge).unrecoverable, None);
        // ...and a window wider than all of time is one slice.
        let s = slices(TimeWindow { start: 0, end: now }, u64::MAX);
        assert_eq!(s, vec![TimeWindow { start: 0, end: now }]);
    }

    #[test]
    fn slices_cover_exactly() {
        let s = slices(TimeWindow { start: 0, end: 25 }, 10);
        assert_eq!(
            s.iter().map(|w| (w.start, w.end)).collect::<Vec<_>>(),
            vec![(0, 10), (10, 20), (20, 25)]
        );
        assert!(slices(TimeWindow { start: 5, end: 5 }, 10).is_empty());
    }
}
