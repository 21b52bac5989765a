//! Timestamps in the forms only the message trace APIs need: the
//! whole-second UTC form both take in their filters, whole-second rounding
//! of the queried window, and milliseconds shown in messages. Reading what
//! the APIs write and writing the envelope's `time` are the SDK's
//! [`connector_sdk::time`].
//!
//! The clock is never read here: the host's `ctx.now` is the only "now".

use connector_sdk::time::{from_millis, rfc3339, rfc3339_seconds};

/// `ms` as the filters take it: `YYYY-MM-DDTHH:MM:SSZ`, rounded down to
/// the second. None outside years 1–9999.
pub fn filter_format(ms: i64) -> Option<String> {
    from_millis(ms).map(rfc3339_seconds)
}

/// [`filter_format`] for a window bound of a page item, with the error both
/// versions give when the bound is no date.
pub fn filter_bound(ms: i64) -> Result<String, connector_sdk::FetchError> {
    filter_format(ms).ok_or_else(|| {
        connector_sdk::FetchError::Fatal(format!(
            "page item: window bound {ms} ms lies outside the years 1-9999"
        ))
    })
}

/// The filter bounds of the query for `[start, end)`, both whole seconds
/// (the APIs' resolution) and inclusive: the start rounded down, the end
/// rounded up and at least one second after the start, so the two never
/// print as the same second (which the APIs refuse, or answer empty).
pub fn filter_window(start: i64, end: i64) -> Result<(String, String), connector_sdk::FetchError> {
    let from = floor_second(start);
    let to = ceil_second(end).max(from.saturating_add(1000));
    Ok((filter_bound(from)?, filter_bound(to)?))
}

/// `ms` rounded down to a whole second.
pub fn floor_second(ms: i64) -> i64 {
    ms.saturating_sub(ms.rem_euclid(1000))
}

/// `ms` rounded up to a whole second.
pub fn ceil_second(ms: i64) -> i64 {
    match ms.rem_euclid(1000) {
        0 => ms,
        r => ms.saturating_add(1000 - r),
    }
}

/// `ms` for a message: RFC 3339 if it is a date, else the number.
pub fn show(ms: i64) -> String {
    from_millis(ms).map_or_else(|| format!("{ms} ms"), rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_25: i64 = 1_795_593_600_000; // 2026-11-25T08:00:00Z

    #[test]
    fn formats_fixed_width_utc() {
        assert_eq!(filter_format(NOV_25 + 999).unwrap(), "2026-11-25T08:00:00Z");
        assert_eq!(filter_format(NOV_25 - 1).unwrap(), "2026-11-25T07:59:59Z");
        assert_eq!(filter_format(i64::MIN), None);
        assert_eq!(show(NOV_25 + 7), "2026-11-25T08:00:00.007Z");
        assert_eq!(show(i64::MAX), format!("{} ms", i64::MAX));
    }

    #[test]
    fn filter_windows_span_at_least_a_second() {
        let w = |a, b| filter_window(a, b).unwrap();
        assert_eq!(
            w(NOV_25 + 200, NOV_25 + 700),
            ("2026-11-25T08:00:00Z".into(), "2026-11-25T08:00:01Z".into())
        );
        assert_eq!(
            w(NOV_25, NOV_25),
            ("2026-11-25T08:00:00Z".into(), "2026-11-25T08:00:01Z".into())
        );
        assert_eq!(
            w(NOV_25 - 1, NOV_25 + 1),
            ("2026-11-25T07:59:59Z".into(), "2026-11-25T08:00:01Z".into())
        );
        assert!(filter_window(i64::MIN, NOV_25).is_err());
    }

    #[test]
    fn rounds_to_whole_seconds() {
        assert_eq!(floor_second(NOV_25 + 999), NOV_25);
        assert_eq!(ceil_second(NOV_25 + 1), NOV_25 + 1000);
        assert_eq!(ceil_second(NOV_25), NOV_25);
        assert_eq!(floor_second(-1), -1000);
        assert_eq!(ceil_second(-1), 0);
    }
}
