//! The limits a component declares in `info` are requests too: the host
//! plans windows from them, so a value outside what makes sense would cut
//! a day into millions of slices (`max-window` 0), turn negative in `i64`
//! arithmetic (2^63 and above) and loop, or declare every gap unrecoverable
//! (`max-lookback` 0). Each field has a range, and a component outside it is
//! refused at load.
//!
//! The ranges cover every real source with room to spare (the Management
//! Activity API: 24-hour windows, 7 days back; Graph message traces: 10 days,
//! 90 days back) and are far below 2^62 ms, so no sum of two of them with a
//! current timestamp can overflow.

use crate::runtime::Info;

const SECOND: u64 = 1000;
const HOUR: u64 = 3600 * SECOND;
const DAY: u64 = 24 * HOUR;

/// An accepted range of a duration field, inclusive, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// The field, as the contract names it.
    pub field: &'static str,
    /// Smallest accepted value.
    pub min: u64,
    /// Largest accepted value.
    pub max: u64,
}

/// `max-window`: 1 second to 31 days. Below a second a catch-up becomes
/// millions of calls; no source takes a wider query than a month.
pub const MAX_WINDOW: Range = Range {
    field: "max-window",
    min: SECOND,
    max: 31 * DAY,
};
/// `max-lookback`: 1 hour to 366 days, and at least `max-window`. Below an
/// hour every ordinary outage would be reported unrecoverable.
pub const MAX_LOOKBACK: Range = Range {
    field: "max-lookback",
    min: HOUR,
    max: 366 * DAY,
};
/// `min-age`: up to 1 day of hold-back.
pub const MIN_AGE: Range = Range {
    field: "min-age",
    min: 0,
    max: DAY,
};
/// `dedup-horizon`: up to 31 days of remembered event ids.
pub const DEDUP_HORIZON: Range = Range {
    field: "dedup-horizon",
    min: 0,
    max: 31 * DAY,
};
/// `request-budget.per`: 1 second to 1 day.
pub const BUDGET_SPAN: Range = Range {
    field: "budget.per",
    min: SECOND,
    max: DAY,
};

impl Range {
    /// The range for people: `1s to 31d`.
    pub fn describe(&self) -> String {
        format!(
            "{} to {}",
            crate::cli::human_ms(self.min),
            crate::cli::human_ms(self.max)
        )
    }

    fn check(&self, value: u64) -> Result<(), LimitError> {
        if (self.min..=self.max).contains(&value) {
            Ok(())
        } else {
            Err(LimitError {
                field: self.field.to_string(),
                value: crate::cli::human_ms(value),
                accepted: self.describe(),
            })
        }
    }
}

/// A declared value outside its range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitError {
    /// The field (`max-window`, `endpoints[0].budget.per`).
    pub field: String,
    /// The value declared, for people.
    pub value: String,
    /// What is accepted.
    pub accepted: String,
}

/// Checks every limit `info` declares.
pub fn check(info: &Info) -> Result<(), LimitError> {
    MAX_WINDOW.check(info.max_window)?;
    MAX_LOOKBACK.check(info.max_lookback)?;
    if info.max_lookback < info.max_window {
        return Err(LimitError {
            field: MAX_LOOKBACK.field.into(),
            value: crate::cli::human_ms(info.max_lookback),
            accepted: format!(
                "at least max-window ({}), up to {}",
                crate::cli::human_ms(info.max_window),
                crate::cli::human_ms(MAX_LOOKBACK.max)
            ),
        });
    }
    MIN_AGE.check(info.min_age)?;
    DEDUP_HORIZON.check(info.dedup_horizon)?;
    for (i, endpoint) in info.endpoints.iter().enumerate() {
        let Some(budget) = endpoint.budget else {
            continue;
        };
        let field = |name: &str| format!("endpoints[{i}].budget.{name}");
        if budget.requests == 0 {
            return Err(LimitError {
                field: field("requests"),
                value: "0".into(),
                accepted: "at least 1 (declare no budget to leave the pace to the host)".into(),
            });
        }
        BUDGET_SPAN.check(budget.per).map_err(|mut e| {
            e.field = field("per");
            e
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{Endpoint, RequestBudget};

    fn info() -> Info {
        Info {
            name: "t".into(),
            version: "0".into(),
            summary: String::new(),
            settings: vec![],
            endpoints: vec![Endpoint {
                authority: "manage.office.com".into(),
                audience: None,
                budget: Some(RequestBudget {
                    requests: 2000,
                    per: 60_000,
                }),
            }],
            max_window: DAY,
            max_lookback: 7 * DAY,
            min_age: 0,
            dedup_horizon: 0,
            event_kinds: vec![],
        }
    }

    fn refused(change: impl FnOnce(&mut Info)) -> LimitError {
        let mut i = info();
        change(&mut i);
        check(&i).unwrap_err()
    }

    #[test]
    fn the_real_sources_limits_pass() {
        assert_eq!(check(&info()), Ok(()));
    }

    #[test]
    fn each_field_out_of_range_is_named_with_its_range() {
        let e = refused(|i| i.max_window = 0);
        assert_eq!(
            (e.field.as_str(), e.accepted.as_str()),
            ("max-window", "1s to 31d")
        );
        let e = refused(|i| i.max_window = 1 << 63);
        assert_eq!(e.field, "max-window");
        let e = refused(|i| i.max_lookback = 0);
        assert_eq!(
            (e.field.as_str(), e.accepted.as_str()),
            ("max-lookback", "1h to 366d")
        );
        let e = refused(|i| i.max_lookback = 12 * HOUR);
        assert_eq!(e.field, "max-lookback");
        assert!(
            e.accepted.contains("at least max-window (1d)"),
            "{}",
            e.accepted
        );
        let e = refused(|i| i.min_age = u64::MAX);
        assert_eq!(
            (e.field.as_str(), e.accepted.as_str()),
            ("min-age", "0s to 1d")
        );
        let e = refused(|i| i.dedup_horizon = 32 * DAY);
        assert_eq!(e.field, "dedup-horizon");
        let e = refused(|i| {
            i.endpoints[0].budget = Some(RequestBudget {
                requests: 5,
                per: 0,
            })
        });
        assert_eq!(e.field, "endpoints[0].budget.per");
        let e = refused(|i| {
            i.endpoints[0].budget = Some(RequestBudget {
                requests: 0,
                per: 1000,
            })
        });
        assert_eq!(e.field, "endpoints[0].budget.requests");
    }
}
