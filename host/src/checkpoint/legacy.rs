//! The JavaScript version's checkpoints: a container per source
//! (`auditlogstate`, `messagetracestate`) holding a blob
//! `last_successfull_fetch_on` with an ISO timestamp. Read once, on the
//! first start, so a migration neither loses nor refetches much.

use chrono::DateTime;

/// The blob name the seed used (with its spelling).
pub const LEGACY_BLOB: &str = "last_successfull_fetch_on";

/// Parses the seed's timestamp blob: an ISO 8601 instant, possibly quoted or
/// with whitespace (JSON.stringify of a Date writes quotes).
pub fn import_legacy_timestamp(content: &str) -> Result<i64, String> {
    let text = content.trim().trim_matches('"').trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|t| t.and_utc().timestamp_millis())
        })
        .map_err(|e| format!("`{text}` is not an ISO 8601 timestamp: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_seed_wrote() {
        assert_eq!(
            import_legacy_timestamp("2026-11-24T10:00:00.000Z"),
            Ok(1_795_514_400_000)
        );
        assert_eq!(
            import_legacy_timestamp("\"2026-11-24T10:00:00.000Z\"\n"),
            Ok(1_795_514_400_000)
        );
        assert_eq!(
            import_legacy_timestamp("2026-11-24T10:00:00"),
            Ok(1_795_514_400_000)
        );
        assert!(import_legacy_timestamp("yesterday").is_err());
    }
}
