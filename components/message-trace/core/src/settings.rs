//! The settings both versions read, and the `info` both describe
//! themselves with.
//!
//! Every setting has a default, so `describe(&[])` succeeds. A bad value
//! fails `describe` with a [`ConfigError`] naming the setting; in `plan` and
//! `step` it is a `bad-request` that starts with the setting's name
//! ([`settings::for_call`]).

use connector_sdk::{ConfigError, Endpoint, Info, Setting, SettingDoc, SettingKind, settings};

use crate::duration::{self, DAY_MS, HOUR_MS, MINUTE_MS};
use crate::normalize::KIND;

/// The component's name, the same for both versions: the registry name and
/// the checkpoint key, so swapping versions keeps the checkpoint.
pub const NAME: &str = "message-trace";

/// Setting: how long to hold back the newest message traces.
pub const MIN_AGE: &str = "MESSAGE_TRACES_MIN_AGE";
/// Setting: how far back each window is read again.
pub const OVERLAP: &str = "MESSAGE_TRACES_OVERLAP";
/// Default of [`MIN_AGE`].
pub const DEFAULT_MIN_AGE: &str = "15m";
/// Default of [`OVERLAP`].
pub const DEFAULT_OVERLAP: &str = "1h";
/// The largest [`MIN_AGE`]: more would only delay events.
pub const MAX_MIN_AGE_MS: u64 = DAY_MS;
/// The largest [`OVERLAP`]: it is taken from the 10 days one query may span.
pub const MAX_OVERLAP_MS: u64 = DAY_MS;

/// Added to `min-age + overlap` for the dedup horizon: covers a missed
/// schedule or a slow cycle between the first read and the re-read.
pub const DEDUP_MARGIN_MS: u64 = HOUR_MS;
/// Kept between the oldest window start the host may plan and the API's
/// history limit, beyond the overlap: later pages of a window planned at the
/// edge are fetched a while after planning, and must still be inside it.
pub const LOOKBACK_SLACK_MS: u64 = HOUR_MS;
/// Kept between the widest window the host may plan and the widest query
/// the API accepts, beyond the overlap: the query's bounds are rounded out
/// to whole seconds.
pub const SPAN_SLACK_MS: u64 = MINUTE_MS;

/// The settings both versions share, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shared {
    /// `info.min-age`, ms.
    pub min_age_ms: u64,
    /// How far before its start each window is read, ms.
    pub overlap_ms: u64,
}

impl Shared {
    /// Reads and validates the shared settings; absent ones take their
    /// defaults.
    pub fn from_settings(values: &[Setting]) -> Result<Shared, ConfigError> {
        let read = |name: &str, default: &str, max: u64| {
            let value = settings::get(values, name).unwrap_or(default);
            let ms = duration::parse(name, value)?;
            if ms > max {
                return Err(settings::invalid(
                    name,
                    format!(
                        "`{value}` is longer than the {} this setting allows",
                        duration::show(max)
                    ),
                ));
            }
            Ok(ms)
        };
        Ok(Shared {
            min_age_ms: read(MIN_AGE, DEFAULT_MIN_AGE, MAX_MIN_AGE_MS)?,
            overlap_ms: read(OVERLAP, DEFAULT_OVERLAP, MAX_OVERLAP_MS)?,
        })
    }

    /// `info.dedup-horizon`: `min-age + overlap + 1 hour`, or zero without
    /// overlap (nothing is then emitted twice on purpose). See the crate
    /// docs for the reasoning.
    pub fn dedup_horizon_ms(&self) -> u64 {
        if self.overlap_ms == 0 {
            0
        } else {
            self.min_age_ms + self.overlap_ms + DEDUP_MARGIN_MS
        }
    }

    /// The documentation of the shared settings.
    pub fn docs() -> Vec<SettingDoc> {
        vec![
            SettingDoc {
                name: MIN_AGE.into(),
                default_value: Some(DEFAULT_MIN_AGE.into()),
                kind: SettingKind::Duration,
                description: format!(
                    "How long to hold back the newest message traces, which keep arriving for a \
                     while after the message (such as 15m; at most {}).",
                    duration::show(MAX_MIN_AGE_MS)
                ),
            },
            SettingDoc {
                name: OVERLAP.into(),
                default_value: Some(DEFAULT_OVERLAP.into()),
                kind: SettingKind::Duration,
                description: format!(
                    "How far before its start each window is read again, to catch records that \
                     arrived after the previous run; the host drops the repeats by id. 0 turns \
                     it off (at most {}).",
                    duration::show(MAX_OVERLAP_MS)
                ),
            },
        ]
    }
}

/// What one API accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The API's name for messages: `Microsoft Graph messageTraces`.
    pub api: &'static str,
    /// The widest span one query may cover, ms.
    pub max_span_ms: u64,
    /// How far back the API keeps message traces, ms.
    pub history_ms: u64,
}

impl Limits {
    /// `info.max-window`: the widest window whose query, overlap included,
    /// the API still accepts.
    pub fn max_window_ms(&self, shared: &Shared) -> u64 {
        self.max_span_ms - shared.overlap_ms - SPAN_SLACK_MS
    }

    /// `info.max-lookback`: the oldest window start whose query, overlap
    /// included, stays inside the API's history while its pages are read.
    pub fn max_lookback_ms(&self, shared: &Shared) -> u64 {
        self.history_ms - shared.overlap_ms - LOOKBACK_SLACK_MS
    }
}

/// What a version says about itself, besides what both share.
#[derive(Debug, Clone)]
pub struct About {
    /// The version's own version (`CARGO_PKG_VERSION`).
    pub version: &'static str,
    /// One line for operators.
    pub summary: &'static str,
    /// The version's own settings, documented; the shared ones follow.
    pub settings: Vec<SettingDoc>,
    /// The one host it calls, with its token audience.
    pub endpoint: Endpoint,
    /// What its API accepts.
    pub limits: Limits,
}

/// The `info` of a version with these shared settings.
pub fn info(about: About, shared: &Shared) -> Info {
    let mut docs = about.settings;
    docs.extend(Shared::docs());
    Info {
        name: NAME.into(),
        version: about.version.into(),
        summary: about.summary.into(),
        settings: docs,
        endpoints: vec![about.endpoint],
        max_window: about.limits.max_window_ms(shared),
        max_lookback: about.limits.max_lookback_ms(shared),
        min_age: shared.min_age_ms,
        dedup_horizon: shared.dedup_horizon_ms(),
        event_kinds: vec![KIND.into()],
    }
}

/// A setting's value as a whole number in `range`, or its default.
pub fn number(
    values: &[Setting],
    name: &str,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, ConfigError> {
    let Some(value) = settings::get(values, name) else {
        return Ok(default);
    };
    value
        .parse::<u32>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            settings::invalid(
                name,
                format!(
                    "`{value}` is not a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use connector_sdk::FetchError;
    use connector_sdk::testkit::settings as set;

    use super::*;

    const GRAPH: Limits = Limits {
        api: "Graph",
        max_span_ms: 10 * DAY_MS,
        history_ms: 90 * DAY_MS,
    };

    fn about() -> About {
        About {
            version: "9.9.9",
            summary: "s",
            settings: vec![],
            endpoint: Endpoint {
                authority: "h".into(),
                audience: None,
                budget: None,
            },
            limits: GRAPH,
        }
    }

    #[test]
    fn defaults_give_the_documented_numbers() {
        let shared = Shared::from_settings(&[]).unwrap();
        assert_eq!(
            shared,
            Shared {
                min_age_ms: 15 * MINUTE_MS,
                overlap_ms: HOUR_MS
            }
        );
        let info = info(about(), &shared);
        assert_eq!(info.name, "message-trace");
        assert_eq!(info.min_age, 15 * MINUTE_MS);
        assert_eq!(info.dedup_horizon, 15 * MINUTE_MS + 2 * HOUR_MS);
        assert_eq!(info.max_window, 10 * DAY_MS - HOUR_MS - MINUTE_MS);
        assert_eq!(info.max_lookback, 90 * DAY_MS - 2 * HOUR_MS);
        assert_eq!(info.event_kinds, ["MessageTrace"]);
        let names: Vec<_> = info.settings.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [MIN_AGE, OVERLAP]);
        assert!(
            info.settings
                .iter()
                .all(|s| s.kind == SettingKind::Duration)
        );
    }

    #[test]
    fn the_overlap_moves_window_lookback_and_horizon() {
        let shared = Shared::from_settings(&set(&[(MIN_AGE, "5m"), (OVERLAP, "1d")])).unwrap();
        let info = info(about(), &shared);
        assert_eq!(info.min_age, 5 * MINUTE_MS);
        assert_eq!(info.dedup_horizon, 5 * MINUTE_MS + DAY_MS + HOUR_MS);
        assert_eq!(info.max_window, 9 * DAY_MS - MINUTE_MS);
        assert_eq!(info.max_lookback, 89 * DAY_MS - HOUR_MS);
        let none = Shared::from_settings(&set(&[(OVERLAP, "0")])).unwrap();
        assert_eq!(none.dedup_horizon_ms(), 0);
    }

    #[test]
    fn bad_durations_name_their_setting() {
        let err = Shared::from_settings(&set(&[(MIN_AGE, "soon")])).unwrap_err();
        assert_eq!(err.setting, MIN_AGE);
        assert!(
            err.message.contains("`soon` is not a duration"),
            "{}",
            err.message
        );
        let err = Shared::from_settings(&set(&[(OVERLAP, "2d")])).unwrap_err();
        assert_eq!(err.setting, OVERLAP);
        assert_eq!(
            err.message,
            "`2d` is longer than the 1d this setting allows"
        );
        match settings::for_call(Shared::from_settings(&set(&[(OVERLAP, "x")]))) {
            Err(FetchError::BadRequest(m)) => {
                assert!(m.starts_with("setting MESSAGE_TRACES_OVERLAP: "), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn numbers_are_checked_against_their_range() {
        let n = |v: &str| number(&set(&[("N", v)]), "N", 7, 1..=5000);
        assert_eq!(number(&[], "N", 7, 1..=5000).unwrap(), 7);
        assert_eq!(n(" 5000 ").unwrap(), 5000);
        assert_eq!(n("1").unwrap(), 1);
        for bad in ["0", "5001", "-1", "1e3", "many"] {
            let err = n(bad).unwrap_err();
            assert_eq!(
                err.message,
                format!("`{bad}` is not a whole number from 1 to 5000")
            );
        }
    }
}
