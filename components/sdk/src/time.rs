//! Timestamps as Microsoft's APIs write them, and as the event envelope
//! carries them.
//!
//! The contract counts milliseconds; the APIs write RFC 3339 with or
//! without fractional seconds (any number of digits) and with or without an
//! offset (the Management Activity API's `CreationTime` has none); the
//! envelope's `time` is RFC 3339 in UTC with milliseconds. Each component
//! adds only the spelling its API's filters take.
//!
//! Only chrono's RFC 3339 parser and formatter are used (a missing offset
//! is read as `Z`): its `strftime`-style parser and formatter made a
//! component about 70 KB larger. The clock is never read here: the host's
//! `ctx.now` is the only "now".

use chrono::{DateTime, Datelike, SecondsFormat, Utc};

/// Parses a timestamp as the APIs write them: with or without fractional
/// seconds (any number of digits), with an offset or `Z`, or with none, in
/// which case it is UTC. None for anything else, or outside years 1–9999.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let as_is = || DateTime::parse_from_rfc3339(text).ok();
    let as_utc = || with_z(text, |t| DateTime::parse_from_rfc3339(t).ok());
    // At most one reading succeeds (text with an offset does not read with a
    // `Z` after it, text without one does not read as it is), so trying the
    // likelier first changes no answer; it saves a failing parse per record
    // where an API leaves the offset out (every audit `CreationTime`).
    let parsed = if lacks_offset(text) {
        as_utc().or_else(as_is)
    } else {
        as_is().or_else(as_utc)
    }?;
    in_range(parsed.with_timezone(&Utc))
}

/// Whether `text` looks like a timestamp without an offset: it ends in a
/// digit and has no sign after its date.
fn lacks_offset(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.last().is_some_and(u8::is_ascii_digit)
        && !bytes
            .get(10..)
            .is_some_and(|time| time.iter().any(|b| matches!(b, b'+' | b'-')))
}

/// `read` of `text` with a `Z` appended, built on the stack for any
/// timestamp's length (one per record: no allocation).
fn with_z<T>(text: &str, read: impl FnOnce(&str) -> T) -> T {
    let mut buffer = [0u8; 48];
    match buffer.get_mut(..text.len() + 1) {
        Some(spelled) => {
            spelled[..text.len()].copy_from_slice(text.as_bytes());
            spelled[text.len()] = b'Z';
            // A str followed by an ASCII byte is still UTF-8.
            read(std::str::from_utf8(spelled).unwrap_or_default())
        }
        None => read(&format!("{text}Z")),
    }
}

/// [`parse`], in milliseconds since the epoch.
pub fn parse_millis(text: &str) -> Option<i64> {
    parse(text).map(|t| t.timestamp_millis())
}

/// The instant `ms`, if it lies in years 1–9999.
pub fn from_millis(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).and_then(in_range)
}

/// RFC 3339 in UTC with millisecond precision and `Z`
/// (`2024-05-01T08:15:42.123Z`), the envelope's `time`: one fixed width, so
/// that the strings also sort by time.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// RFC 3339 in UTC rounded down to the second, with `Z`
/// (`2024-05-01T08:15:42Z`), the form API filters take.
pub fn rfc3339_seconds(t: DateTime<Utc>) -> String {
    // `Secs` leaves the fraction out, which rounds down.
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn in_range(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (1..=9999).contains(&t.year()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAY_1: i64 = 1_714_550_400_000; // 2024-05-01T08:00:00Z
    const NOV_25: i64 = 1_795_593_600_000; // 2026-11-25T08:00:00Z

    #[test]
    fn parses_what_the_apis_write() {
        let at = parse_millis;
        assert_eq!(at("2024-05-01T08:00:00"), Some(MAY_1));
        assert_eq!(at("2024-05-01T08:00:00.5"), Some(MAY_1 + 500));
        assert_eq!(at("2024-05-01T08:00:00.1234567"), Some(MAY_1 + 123));
        assert_eq!(at("2024-05-01T08:00:00.000Z"), Some(MAY_1));
        assert_eq!(at("2024-05-01T10:00:00+02:00"), Some(MAY_1));
        assert_eq!(at(" 2024-05-01 08:00:00 "), Some(MAY_1));
        assert_eq!(at("2026-11-25T08:00:00Z"), Some(NOV_25));
        assert_eq!(at("2026-11-25T08:00:00.5Z"), Some(NOV_25 + 500));
        assert_eq!(at("2026-11-25T08:00:00.1234567Z"), Some(NOV_25 + 123));
        assert_eq!(at("2026-11-25T09:00:00+01:00"), Some(NOV_25));
        for bad in [
            "",
            "yesterday",
            "2024-13-01T00:00:00",
            "2026-13-01T00:00:00Z",
            "2024-05-01",
            "1714550400000",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
        assert_eq!(
            parse("2024-05-01T08:00:00").map(|t| t.timestamp_millis()),
            Some(MAY_1)
        );
    }

    #[test]
    fn the_offset_guess_changes_no_answer() {
        // Whichever reading is tried first, the answer is the one reading
        // that succeeds: offsets of both signs, `z`, no offset, a space for
        // `T`, a length past the stack buffer, garbage.
        let long = format!("2024-05-01T08:00:00.{}", "1".repeat(60));
        for text in [
            "2024-05-01T08:00:00",
            "2024-05-01T08:00:00-05:00",
            "2024-05-01T08:00:00+05:30",
            "2024-05-01t08:00:00z",
            "2024-05-01 08:00:00.25",
            "2024-05-01T08:00:00-0500",
            "2024-05-01T08:00",
            long.as_str(),
            "8",
            "-",
        ] {
            let slow = DateTime::parse_from_rfc3339(text)
                .or_else(|_| DateTime::parse_from_rfc3339(&format!("{text}Z")))
                .ok()
                .and_then(|t| in_range(t.with_timezone(&Utc)));
            assert_eq!(parse(text), slow, "{text}");
        }
        assert_eq!(parse_millis(&long), Some(MAY_1 + 111));
    }

    #[test]
    fn millis_outside_years_1_to_9999_are_no_instant() {
        assert_eq!(
            from_millis(MAY_1).map(|t| t.timestamp_millis()),
            Some(MAY_1)
        );
        assert_eq!(from_millis(i64::MAX), None);
        assert_eq!(from_millis(i64::MIN), None);
        assert_eq!(parse("0000-12-31T23:59:59Z"), None);
    }

    #[test]
    fn rfc3339_is_fixed_width_utc() {
        let t = parse("2024-05-01T08:00:00.1234567").unwrap();
        assert_eq!(rfc3339(t), "2024-05-01T08:00:00.123Z");
        assert_eq!(
            rfc3339(from_millis(MAY_1).unwrap()),
            "2024-05-01T08:00:00.000Z"
        );
        assert_eq!(
            rfc3339(from_millis(NOV_25 + 7).unwrap()),
            "2026-11-25T08:00:00.007Z"
        );
    }

    #[test]
    fn rfc3339_seconds_rounds_down() {
        let at = |ms| rfc3339_seconds(from_millis(ms).unwrap());
        assert_eq!(at(MAY_1), "2024-05-01T08:00:00Z");
        assert_eq!(at(MAY_1 + 999), "2024-05-01T08:00:00Z");
        assert_eq!(at(MAY_1 - 1), "2024-05-01T07:59:59Z");
    }
}
