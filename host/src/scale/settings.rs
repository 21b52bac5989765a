//! The scale-out settings. Queue mode is off unless `O365_CYCLE_QUEUE`
//! names a queue, so a single-instance deployment (and every test written
//! before it) runs its cycles in the timer invocation as before.

use crate::settings::{SettingsSource, parse_duration};
use anyhow::bail;
use std::time::Duration;

/// Names the cycle queue and turns queue mode on.
pub const QUEUE_SETTING: &str = "O365_CYCLE_QUEUE";
/// Attempts of one request before it goes to the poison queue.
pub const MAX_ATTEMPTS_SETTING: &str = "O365_CYCLE_MAX_ATTEMPTS";
/// How long a received request stays invisible to other consumers; it is
/// extended every third of it while the cycle runs.
pub const VISIBILITY_SETTING: &str = "O365_CYCLE_VISIBILITY";

/// The queue the Functions queue trigger listens on (`functions/runCycle/function.json`
/// names it literally: a `%SETTING%` there would stop the Functions host
/// from indexing the app whenever the setting is unset, that is in every
/// deployment that does not scale out).
pub const FUNCTIONS_QUEUE: &str = "o365-cycles";
/// The default number of attempts. The Functions host moves a message to
/// `<queue>-poison` itself after `maxDequeueCount` (10 in `host.json`);
/// this host does it first, with the cause and the fix.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// The most attempts: the Functions host's `maxDequeueCount`.
pub const MAX_MAX_ATTEMPTS: u32 = 10;
/// The default visibility timeout: one and a half blob leases (60 s), so a
/// request of a killed instance reappears only after its lease has lapsed
/// and the next consumer runs the cycle instead of finding it busy.
pub const DEFAULT_VISIBILITY: Duration = Duration::from_secs(90);

/// The queue settings of a deployment in queue mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    /// The cycle queue.
    pub queue: String,
    /// Its poison queue, `<queue>-poison` (the Functions host's name for it).
    pub poison: String,
    /// Attempts before a request is poisoned.
    pub max_attempts: u32,
    /// Visibility timeout of a received request.
    pub visibility: Duration,
}

impl QueueSettings {
    /// The settings, or `None` when `O365_CYCLE_QUEUE` is unset, empty or
    /// `off`. Errors name the setting and what it takes.
    pub fn from_settings(settings: &SettingsSource) -> anyhow::Result<Option<Self>> {
        let Some(queue) = settings
            .get(QUEUE_SETTING)
            .map(|q| q.trim().to_string())
            .filter(|q| !q.is_empty() && !q.eq_ignore_ascii_case("off"))
        else {
            return Ok(None);
        };
        if !crate::checkpoint::valid_storage_name(&queue) || queue.len() > 56 {
            bail!(
                "{QUEUE_SETTING} = `{queue}` is not a queue name: 3 to 56 lowercase letters, digits and single hyphens, \
                 starting and ending with a letter or digit (its poison queue adds `-poison`); under Azure Functions use `{FUNCTIONS_QUEUE}`"
            );
        }
        let max_attempts = match settings.get(MAX_ATTEMPTS_SETTING) {
            None => DEFAULT_MAX_ATTEMPTS,
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_MAX_ATTEMPTS).contains(&n) => n,
                _ => bail!(
                    "{MAX_ATTEMPTS_SETTING} = `{text}`: give a number of attempts from 1 to {MAX_MAX_ATTEMPTS}"
                ),
            },
        };
        let visibility = match settings.get(VISIBILITY_SETTING) {
            None => DEFAULT_VISIBILITY,
            Some(text) => {
                let value = parse_duration(&text)
                    .map_err(|e| anyhow::anyhow!("{VISIBILITY_SETTING} = `{text}`: {e}"))?;
                if !(5..=3600).contains(&value.as_secs()) {
                    bail!(
                        "{VISIBILITY_SETTING} = `{text}`: give 5s to 1h (at least 1.5 times O365_CHECKPOINT_LEASE)"
                    );
                }
                value
            }
        };
        Ok(Some(Self {
            poison: format!("{queue}-poison"),
            queue,
            max_attempts,
            visibility,
        }))
    }

    /// How long a failed request waits before its next attempt: a quarter
    /// of the visibility timeout per attempt made.
    pub fn retry_delay(&self, attempts: u32) -> Duration {
        (self.visibility / 4) * attempts.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> anyhow::Result<Option<QueueSettings>> {
        QueueSettings::from_settings(&SettingsSource::from_pairs(pairs))
    }

    #[test]
    fn queue_mode_is_off_unless_a_queue_is_named() {
        assert_eq!(read(&[]).unwrap(), None);
        assert_eq!(read(&[(QUEUE_SETTING, " ")]).unwrap(), None);
        assert_eq!(read(&[(QUEUE_SETTING, "off")]).unwrap(), None);
        let on = read(&[(QUEUE_SETTING, "o365-cycles")]).unwrap().unwrap();
        assert_eq!(on.poison, "o365-cycles-poison");
        assert_eq!(on.max_attempts, DEFAULT_MAX_ATTEMPTS);
        assert_eq!(on.visibility, DEFAULT_VISIBILITY);
        assert_eq!(on.retry_delay(2), Duration::from_secs(45));
    }

    #[test]
    fn wrong_values_name_the_setting_and_the_range() {
        for (pairs, says) in [
            (vec![(QUEUE_SETTING, "Cycles")], QUEUE_SETTING),
            (vec![(QUEUE_SETTING, "a--b")], QUEUE_SETTING),
            (
                vec![(QUEUE_SETTING, "q12"), (MAX_ATTEMPTS_SETTING, "0")],
                "1 to 10",
            ),
            (
                vec![(QUEUE_SETTING, "q12"), (MAX_ATTEMPTS_SETTING, "11")],
                "1 to 10",
            ),
            (
                vec![(QUEUE_SETTING, "q12"), (VISIBILITY_SETTING, "2s")],
                VISIBILITY_SETTING,
            ),
        ] {
            let err = read(&pairs).unwrap_err().to_string();
            assert!(err.contains(says), "{pairs:?}: {err}");
        }
    }
}
