//! Timestamps: milliseconds (the contract), the whole-second UTC form both
//! APIs take in their filters, and the RFC 3339 forms they write.
//!
//! The clock is never read here: the host's `ctx.now` is the only "now".

use chrono::{DateTime, Datelike, SecondsFormat, Utc};

/// Parses an ISO 8601 / RFC 3339 timestamp as the APIs write them: with or
/// without fractional seconds (any number of digits), with an offset or
/// `Z`, or with none, in which case it is UTC. None for anything else, or
/// outside years 1–9999.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let parsed = DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_rfc3339(&format!("{text}Z")))
        .ok()?;
    in_range(parsed.with_timezone(&Utc))
}

/// [`parse`], in milliseconds.
pub fn parse_millis(text: &str) -> Option<i64> {
    parse(text).map(|t| t.timestamp_millis())
}

/// The instant `ms`, if it lies in years 1–9999.
pub fn from_millis(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).and_then(in_range)
}

/// RFC 3339 in UTC with millisecond precision and `Z`
/// (`2024-05-01T08:15:42.123Z`), as the audit connector writes `time`: one
/// fixed width, so that the strings also sort by time. None outside years
/// 1–9999.
pub fn rfc3339(ms: i64) -> Option<String> {
    from_millis(ms).map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// `ms` as the filters take it: `YYYY-MM-DDTHH:MM:SSZ`, rounded down to
/// the second. None outside years 1–9999.
pub fn filter_format(ms: i64) -> Option<String> {
    from_millis(ms).map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// `ms` rounded down to a whole second.
pub fn floor_second(ms: i64) -> i64 {
    ms - ms.rem_euclid(1000)
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
    rfc3339(ms).unwrap_or_else(|| format!("{ms} ms"))
}

fn in_range(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (1..=9999).contains(&t.year()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_25: i64 = 1_795_593_600_000; // 2026-11-25T08:00:00Z

    #[test]
    fn parses_what_the_apis_write() {
        let at = parse_millis;
        assert_eq!(at("2026-11-25T08:00:00Z"), Some(NOV_25));
        assert_eq!(at("2026-11-25T08:00:00"), Some(NOV_25));
        assert_eq!(at("2026-11-25T08:00:00.5Z"), Some(NOV_25 + 500));
        assert_eq!(at("2026-11-25T08:00:00.1234567Z"), Some(NOV_25 + 123));
        assert_eq!(at("2026-11-25T09:00:00+01:00"), Some(NOV_25));
        assert_eq!(at(" 2026-11-25 08:00:00 "), Some(NOV_25));
        for bad in [
            "",
            "soon",
            "2026-13-01T00:00:00Z",
            "2026-11-25",
            "1795593600000",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_fixed_width_utc() {
        assert_eq!(rfc3339(NOV_25 + 7).unwrap(), "2026-11-25T08:00:00.007Z");
        assert_eq!(filter_format(NOV_25 + 999).unwrap(), "2026-11-25T08:00:00Z");
        assert_eq!(filter_format(NOV_25 - 1).unwrap(), "2026-11-25T07:59:59Z");
        assert_eq!(rfc3339(i64::MAX), None);
        assert_eq!(filter_format(i64::MIN), None);
        assert_eq!(show(i64::MAX), format!("{} ms", i64::MAX));
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
