//! The function timeout an invocation must finish within, found where the
//! Functions host finds it, so that the run's deadline follows the timeout
//! the platform actually enforces rather than a second copy that can drift.
//!
//! In order:
//! 1. `O365_FUNCTION_TIMEOUT` (`10m`, `00:10:00`, or `-1` for none): an
//!    explicit choice wins (and tests use it);
//! 2. `AzureFunctionsJobHost__functionTimeout`: the app setting with which
//!    the Functions host overrides `host.json`;
//! 3. `functionTimeout` in `host.json` of the function app: in the directory
//!    `FUNCTIONS_APP_ROOT_PATH` (which the Functions host sets for a custom
//!    handler), else next to the executable;
//! 4. otherwise 5 minutes, the shortest default of any plan (Consumption's;
//!    Flex Consumption, Premium and Dedicated default to 30).
//!
//! `functionTimeout` is a .NET `TimeSpan` (`hh:mm:ss`, `d.hh:mm:ss`) or
//! `-1` for no limit (Flex Consumption, Premium, Dedicated). Defaults and
//! limits per plan:
//! <https://learn.microsoft.com/azure/azure-functions/functions-scale#timeout>,
//! <https://learn.microsoft.com/azure/azure-functions/functions-host-json#functiontimeout>.

use crate::settings::{SettingsSource, parse_duration};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The explicit setting.
pub const TIMEOUT_SETTING: &str = "O365_FUNCTION_TIMEOUT";
/// The app setting that overrides `host.json`'s `functionTimeout`.
pub const HOST_OVERRIDE_SETTING: &str = "AzureFunctionsJobHost__functionTimeout";
/// The directory of the function app, set by the Functions host.
pub const APP_ROOT_SETTING: &str = "FUNCTIONS_APP_ROOT_PATH";
/// Used when nothing says otherwise.
pub const FALLBACK: Duration = Duration::from_secs(5 * 60);

/// The timeout and where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionTimeout {
    /// The limit; none when the app has no timeout (`-1`).
    pub limit: Option<Duration>,
    /// Where it came from, for logs and the health answer.
    pub from: String,
}

/// A timeout that could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimeoutError {
    /// A setting or `host.json` holds something that is not a timeout.
    #[error(
        "{place} is `{value}`, which is not a function timeout: write hh:mm:ss (00:10:00), \
         a duration (10m) or -1 for none"
    )]
    Invalid {
        /// The setting or file.
        place: String,
        /// What it holds.
        value: String,
    },
    /// `host.json` exists but cannot be read as JSON.
    #[error("{path}: {message}; fix the file or set {TIMEOUT_SETTING}")]
    HostJson {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

/// Finds the function timeout from `settings`, and `host.json` in the app
/// root (or `exe_dir`).
pub fn resolve(
    settings: &SettingsSource,
    exe_dir: Option<&Path>,
) -> Result<FunctionTimeout, TimeoutError> {
    for name in [TIMEOUT_SETTING, HOST_OVERRIDE_SETTING] {
        if let Some(value) = settings.get(name) {
            return Ok(FunctionTimeout {
                limit: parse(name, &value)?,
                from: name.to_string(),
            });
        }
    }
    let dir = settings
        .get(APP_ROOT_SETTING)
        .map(PathBuf::from)
        .or_else(|| exe_dir.map(Path::to_path_buf));
    if let Some(path) = dir.map(|d| d.join("host.json"))
        && let Some(found) = from_host_json(&path)?
    {
        return Ok(found);
    }
    Ok(FunctionTimeout {
        limit: Some(FALLBACK),
        from: "the shortest plan default (no functionTimeout found)".into(),
    })
}

fn from_host_json(path: &Path) -> Result<Option<FunctionTimeout>, TimeoutError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(TimeoutError::HostJson {
                path: path.display().to_string(),
                message: e.to_string(),
            });
        }
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| TimeoutError::HostJson {
            path: path.display().to_string(),
            message: format!("not JSON ({e})"),
        })?;
    let place = format!("functionTimeout in {}", path.display());
    match json.get("functionTimeout") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(value)) => Ok(Some(FunctionTimeout {
            limit: parse(&place, value)?,
            from: path.display().to_string(),
        })),
        Some(other) => Err(TimeoutError::Invalid {
            place,
            value: other.to_string(),
        }),
    }
}

/// Parses a .NET `TimeSpan` (`[d.]hh:mm[:ss[.fff]]`), a duration (`10m`) or
/// `-1` (none).
fn parse(place: &str, value: &str) -> Result<Option<Duration>, TimeoutError> {
    let invalid = || TimeoutError::Invalid {
        place: place.to_string(),
        value: value.to_string(),
    };
    let text = value.trim();
    if text == "-1" {
        return Ok(None);
    }
    let limit = if text.contains(':') {
        parse_timespan(text).ok_or_else(invalid)?
    } else {
        parse_duration(text).map_err(|_| invalid())?
    };
    if limit.is_zero() {
        return Err(invalid());
    }
    Ok(Some(limit))
}

fn parse_timespan(text: &str) -> Option<Duration> {
    let (days, clock) = match text.split_once('.') {
        Some((d, rest)) if rest.contains(':') && !d.contains(':') => (d.parse::<u64>().ok()?, rest),
        _ => (0, text),
    };
    let mut parts = clock.split(':');
    let hours: u64 = parts.next()?.parse().ok()?;
    let minutes: u64 = parts.next()?.parse().ok()?;
    let seconds: f64 = match parts.next() {
        Some(s) => s.parse().ok()?,
        None => 0.0,
    };
    if parts.next().is_some() || hours > 23 || minutes > 59 || !(0.0..60.0).contains(&seconds) {
        return None;
    }
    let whole = days * 86_400 + hours * 3600 + minutes * 60;
    Some(Duration::from_secs(whole) + Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> SettingsSource {
        SettingsSource::from_pairs(pairs)
    }

    #[test]
    fn timespans_durations_and_none() {
        let p = |v| parse("X", v);
        assert_eq!(p("00:10:00"), Ok(Some(Duration::from_secs(600))));
        assert_eq!(p("01:30:05"), Ok(Some(Duration::from_secs(5405))));
        assert_eq!(p("1.02:00:00"), Ok(Some(Duration::from_secs(93_600))));
        assert_eq!(p("00:00:04.5"), Ok(Some(Duration::from_millis(4500))));
        assert_eq!(p("00:05"), Ok(Some(Duration::from_secs(300))));
        assert_eq!(p("10m"), Ok(Some(Duration::from_secs(600))));
        assert_eq!(p("-1"), Ok(None));
        for bad in [
            "", "ten", "00:61:00", "24:00:00", "00:00:00", "0", "1:2:3:4",
        ] {
            let err = p(bad).unwrap_err();
            assert!(err.to_string().contains("hh:mm:ss"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_explicit_setting_wins_then_the_hosts_override_then_host_json() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("host.json"),
            r#"{"version":"2.0","functionTimeout":"00:07:00"}"#,
        )
        .unwrap();
        let root = dir.path().to_str().unwrap();
        let found = resolve(&settings(&[(APP_ROOT_SETTING, root)]), None).unwrap();
        assert_eq!(found.limit, Some(Duration::from_secs(420)));
        assert!(found.from.ends_with("host.json"), "{}", found.from);

        let found = resolve(
            &settings(&[
                (APP_ROOT_SETTING, root),
                (HOST_OVERRIDE_SETTING, "00:09:00"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(found.limit, Some(Duration::from_secs(540)));
        assert_eq!(found.from, HOST_OVERRIDE_SETTING);

        let found = resolve(
            &settings(&[
                (APP_ROOT_SETTING, root),
                (HOST_OVERRIDE_SETTING, "00:09:00"),
                (TIMEOUT_SETTING, "-1"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(found.limit, None);

        // Next to the executable when the app root is not set.
        let found = resolve(&settings(&[]), Some(dir.path())).unwrap();
        assert_eq!(found.limit, Some(Duration::from_secs(420)));
    }

    #[test]
    fn without_any_the_shortest_plan_default_applies() {
        let dir = tempfile::tempdir().unwrap();
        let found = resolve(&settings(&[]), Some(dir.path())).unwrap();
        assert_eq!(found.limit, Some(FALLBACK));
        std::fs::write(dir.path().join("host.json"), r#"{"version":"2.0"}"#).unwrap();
        let found = resolve(&settings(&[]), Some(dir.path())).unwrap();
        assert_eq!(found.limit, Some(FALLBACK));
    }

    #[test]
    fn a_broken_host_json_or_value_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.json");
        std::fs::write(&path, "{ not json").unwrap();
        let err = resolve(&settings(&[]), Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("host.json: not JSON"), "{err}");
        std::fs::write(&path, r#"{"functionTimeout": 600}"#).unwrap();
        let err = resolve(&settings(&[]), Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("functionTimeout in"), "{err}");
        let err = resolve(&settings(&[(TIMEOUT_SETTING, "soon")]), None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("O365_FUNCTION_TIMEOUT is `soon`"),
            "{err}"
        );
    }
}
