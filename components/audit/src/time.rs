//! Timestamps in the one spelling only this connector needs:
//! `YYYY-MM-DDTHH:MM:SS`, what the listing call takes. Reading what the API
//! writes (`CreationTime` has no offset and sometimes seven fractional
//! digits; `contentCreated` ends in `Z`) and writing the envelope's `time`
//! are the SDK's [`connector_sdk::time`].
//!
//! The clock is never read here: the host's `ctx.now` is the only "now".

use connector_sdk::time::{from_millis, rfc3339_seconds};

/// One minute in milliseconds.
pub const MINUTE_MS: i64 = 60_000;

/// `ms` as the listing call wants it: `YYYY-MM-DDTHH:MM:SS`, UTC, rounded
/// down to the second. Rounding both ends of every window down keeps
/// adjacent windows adjacent. None when `ms` is outside years 1–9999.
pub fn api_format(ms: i64) -> Option<String> {
    let text = rfc3339_seconds(from_millis(ms)?);
    Some(text.trim_end_matches('Z').to_string())
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
}
