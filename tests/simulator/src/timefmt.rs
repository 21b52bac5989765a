//! Date-time parsing and the date formats each API writes.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Parses the timestamps the APIs accept: RFC 3339 with an offset, or a
/// UTC date-time without one (`2026-11-25T08:01:02`, optional fraction,
/// optional `Z`, seconds optional), or a bare date.
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = s.strip_suffix(['Z', 'z']).unwrap_or(s);
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(naive, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(naive, "%Y-%m-%d")
                .ok()?
                .and_hms_opt(0, 0, 0)
        })
        .map(|t| t.and_utc())
}

/// `2026-11-25T08:01:02.000Z` (Management API `contentCreated`).
pub(crate) fn iso_millis(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// `2026-11-25T08:01:02Z` (Graph).
pub(crate) fn iso_seconds(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `/Date(1700000000000)/` (Reporting WS, OData v2).
pub(crate) fn odata_date(t: DateTime<Utc>) -> String {
    format!("/Date({})/", t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        let t = parse_time("2026-11-25T08:01:02").unwrap();
        assert_eq!(iso_seconds(t), "2026-11-25T08:01:02Z");
        assert_eq!(parse_time("2026-11-25T08:01:02Z"), Some(t));
        assert_eq!(parse_time("2026-11-25T09:01:02+01:00"), Some(t));
        assert_eq!(
            iso_millis(parse_time("2026-11-25T08:01:02.5").unwrap()),
            "2026-11-25T08:01:02.500Z"
        );
        assert_eq!(
            iso_seconds(parse_time("2026-11-25").unwrap()),
            "2026-11-25T00:00:00Z"
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(""), None);
    }
}
