//! Schedules in the Functions timer-trigger syntax: NCRONTAB with seconds,
//! `{second} {minute} {hour} {day} {month} {day-of-week}`, as in the seed's
//! `AUDIT_LOGS_INDEXER_SCHEDULE` (default `0 */5 * * * *`). The same
//! schedule drives `o365-host run` and the Functions timer, so a deployment
//! behaves the same either way. Times are UTC, as the Functions host uses by
//! default.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// The seed's default: every five minutes, on the minute.
pub const DEFAULT_SCHEDULE: &str = "0 */5 * * * *";

/// A parsed schedule.
#[derive(Clone, Debug)]
pub struct Schedule {
    text: String,
    cron: Cron,
}

/// A schedule that is not valid NCRONTAB.
#[derive(Debug, thiserror::Error)]
#[error(
    "{setting} = `{text}` is not a valid schedule: {message}. Use NCRONTAB with seconds, \
     `{{second}} {{minute}} {{hour}} {{day}} {{month}} {{day-of-week}}`, for example `0 */5 * * * *`"
)]
pub struct ScheduleError {
    /// The setting it came from.
    pub setting: String,
    /// Its value.
    pub text: String,
    /// What the parser said.
    pub message: String,
}

impl Schedule {
    /// Parses `text`, the value of `setting`.
    pub fn parse(setting: &str, text: &str) -> Result<Self, ScheduleError> {
        let err = |message: String| ScheduleError {
            setting: setting.to_string(),
            text: text.to_string(),
            message,
        };
        if text.split_whitespace().count() != 6 {
            return Err(err(format!(
                "it has {} fields, NCRONTAB has 6",
                text.split_whitespace().count()
            )));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .build()
            .parse(text)
            .map_err(|e| err(e.to_string()))?;
        Ok(Self {
            text: text.to_string(),
            cron,
        })
    }

    /// The next time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }

    /// The schedule as written.
    pub fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn every_five_minutes_on_the_minute() {
        let s = Schedule::parse("AUDIT_LOGS_INDEXER_SCHEDULE", DEFAULT_SCHEDULE).unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 10, 2, 30).unwrap();
        assert_eq!(
            s.next_after(t),
            Some(Utc.with_ymd_and_hms(2026, 11, 25, 10, 5, 0).unwrap())
        );
        let on = Utc.with_ymd_and_hms(2026, 11, 25, 10, 5, 0).unwrap();
        assert_eq!(
            s.next_after(on),
            Some(Utc.with_ymd_and_hms(2026, 11, 25, 10, 10, 0).unwrap())
        );
    }

    #[test]
    fn seconds_and_sunday_as_zero() {
        let s = Schedule::parse("X", "30 0 6 * * 0").unwrap();
        // 2026-11-25 is a Wednesday; the next Sunday is the 29th.
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
        assert_eq!(
            s.next_after(t),
            Some(Utc.with_ymd_and_hms(2026, 11, 29, 6, 0, 30).unwrap())
        );
    }

    #[test]
    fn errors_name_the_setting_and_the_format() {
        let e = Schedule::parse("AUDIT_LOGS_INDEXER_SCHEDULE", "*/5 * * * *").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("AUDIT_LOGS_INDEXER_SCHEDULE"), "{text}");
        assert!(text.contains("6"), "{text}");
        assert!(Schedule::parse("X", "0 99 * * * *").is_err());
    }
}
