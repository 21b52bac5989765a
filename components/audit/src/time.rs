//! Timestamps in the three spellings this connector meets: milliseconds
//! (the contract), `YYYY-MM-DDTHH:MM:SS` (what the listing call takes), and
//! whatever the API writes into records and listings (`CreationTime` has no
//! offset and sometimes seven fractional digits; `contentCreated` ends in
//! `Z`).
//!
//! The clock is never read here: the host's `ctx.now` is the only "now".

use chrono::{DateTime, Datelike, SecondsFormat, Utc};

/// One minute in milliseconds.
pub const MINUTE_MS: i64 = 60_000;

/// `ms` as the listing call wants it: `YYYY-MM-DDTHH:MM:SS`, UTC, rounded
/// down to the second. Rounding both ends of every window down keeps
/// adjacent windows adjacent. None when `ms` is outside years 1–9999.
pub fn api_format(ms: i64) -> Option<String> {
    // `Secs` leaves the fraction out, which rounds down.
    let text = from_millis(ms)?.to_rfc3339_opts(SecondsFormat::Secs, true);
    Some(text.trim_end_matches('Z').to_string())
}

/// Parses a timestamp as the API writes them: with or without fractional
/// seconds (any number of digits), with an offset or `Z`, or with none, in
/// which case it is UTC. None for anything else, or outside years 1–9999.
///
/// Only chrono's RFC 3339 parser is used (a missing offset is read as
/// `Z`): its `strftime`-style parser and formatter made the unstripped
/// component about 70 KB larger.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let parsed = DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_rfc3339(&format!("{text}Z")))
        .ok()?;
    in_range(parsed.with_timezone(&Utc))
}

/// Milliseconds since the epoch.
pub fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// RFC 3339 in UTC with millisecond precision and `Z`
/// (`2024-05-01T08:15:42.123Z`): one fixed width, so that the strings also
/// sort by time.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The instant `ms`, if it lies in years 1–9999.
pub fn from_millis(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).and_then(in_range)
}

fn in_range(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (1..=9999).contains(&t.year()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAY_1: i64 = 1_714_550_400_000; // 2024-05-01T08:00:00Z

    #[test]
    fn api_format_rounds_down_to_the_second() {
        assert_eq!(api_format(MAY_1).unwrap(), "2024-05-01T08:00:00");
        assert_eq!(api_format(MAY_1 + 999).unwrap(), "2024-05-01T08:00:00");
        assert_eq!(api_format(MAY_1 - 1).unwrap(), "2024-05-01T07:59:59");
        assert_eq!(api_format(i64::MAX), None);
        assert_eq!(api_format(i64::MIN), None);
    }

    #[test]
    fn parses_what_the_api_writes() {
        let at = |s: &str| parse(s).map(millis);
        assert_eq!(at("2024-05-01T08:00:00"), Some(MAY_1));
        assert_eq!(at("2024-05-01T08:00:00.5"), Some(MAY_1 + 500));
        assert_eq!(at("2024-05-01T08:00:00.1234567"), Some(MAY_1 + 123));
        assert_eq!(at("2024-05-01T08:00:00.000Z"), Some(MAY_1));
        assert_eq!(at("2024-05-01T10:00:00+02:00"), Some(MAY_1));
        assert_eq!(at(" 2024-05-01 08:00:00 "), Some(MAY_1));
        for bad in [
            "",
            "yesterday",
            "2024-13-01T00:00:00",
            "2024-05-01",
            "1714550400000",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_is_fixed_width_utc() {
        let t = parse("2024-05-01T08:00:00.1234567").unwrap();
        assert_eq!(rfc3339(t), "2024-05-01T08:00:00.123Z");
        assert_eq!(
            rfc3339(from_millis(MAY_1).unwrap()),
            "2024-05-01T08:00:00.000Z"
        );
    }
}
