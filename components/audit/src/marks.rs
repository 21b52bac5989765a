//! Per-content-type marks: where a content type fell behind, and why.
//!
//! One checkpoint covers every content type, and the host moves it past a
//! window once the window's items are done. A content type that could not
//! be listed for that window (its subscription is missing, new, disabled or
//! refused) would be carried past it by the others, and its content for the
//! window never read. So `plan` remembers, in the connector state the host
//! persists atomically with the planned items, where each such type fell
//! behind; once the type can be listed again, `plan` lists it from there.

use connector_sdk::{Counter, counter};
use serde::{Deserialize, Serialize};

use crate::content_type::ContentType;

/// Why a content type is behind. Written into the state and into counter
/// names in kebab case (`subscription-pending`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// No enabled subscription, and a start was tried less than 15 minutes
    /// ago (or is not allowed yet): waiting.
    SubscriptionPending,
    /// The connector started the subscription; the API may take up to 12
    /// hours to list content for it, so the type is re-listed until the
    /// warm-up (`O365_SUBSCRIPTION_WARMUP`) has passed.
    SubscriptionStarting,
    /// The subscription is disabled (by a tenant admin); a start is tried
    /// every 15 minutes.
    SubscriptionDisabled,
    /// Starting the subscription was refused for want of a permission
    /// (`ActivityFeed.ReadDlp` for `DLP.All`, or admin consent).
    Forbidden,
    /// Starting the subscription was refused for another reason.
    StartRefused,
    /// A reason written by a newer version of this connector.
    #[serde(other)]
    Other,
}

impl Reason {
    /// The kebab-case word used in counter names and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SubscriptionPending => "subscription-pending",
            Reason::SubscriptionStarting => "subscription-starting",
            Reason::SubscriptionDisabled => "subscription-disabled",
            Reason::Forbidden => "forbidden",
            Reason::StartRefused => "start-refused",
            Reason::Other => "other",
        }
    }
}

/// Where one content type fell behind: `{"since":<ms>,"reason":"...",
/// "startedAt":<ms>}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mark {
    /// The type's content before this instant (ms) has been listed; from
    /// here on it has not (or not for certain).
    pub since: i64,
    /// Why it is behind.
    pub reason: Reason,
    /// When this connector last started the type's subscription (ms), if
    /// it did: the warm-up runs from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
}

impl Mark {
    /// A mark for a type that could not be listed for a window starting at
    /// `window_start`: keeps the older position of an existing mark.
    pub fn fall_behind(existing: Option<&Mark>, window_start: i64, reason: Reason) -> Mark {
        Mark {
            since: existing.map_or(window_start, |m| m.since.min(window_start)),
            reason,
            started_at: existing.and_then(|m| m.started_at),
        }
    }

    /// Whether the warm-up after the connector's start of the
    /// subscription still runs at `now`.
    pub fn warming_up(&self, now: i64, warmup_ms: i64) -> bool {
        self.started_at
            .is_some_and(|at| now < at.saturating_add(warmup_ms))
    }
}

/// Prefix of the lag counters.
pub const LAGGING_PREFIX: &str = "lagging:";

/// The lag counter of a content type that is behind.
///
/// Convention, for the host: a counter named
/// `lagging:<content type>:<reason>` (for example
/// `lagging:DLP.All:subscription-starting`) says that the content type's
/// content from `since` up to the end of the planned window has not been
/// listed for certain; its value is that span in whole seconds (rounded
/// up, at least 1). The reason is one kebab-case word of [`Reason`]. Every
/// `plan` of a window reports each type that is still behind after it, so
/// a cycle that planned several slices reports the same type once per
/// slice: the host should keep the largest value (or the last), not add
/// them up. A cycle that reports any `lagging:` counter is not complete.
pub fn lag_counter(content_type: ContentType, mark: &Mark, window_end: i64) -> Counter {
    let behind_ms = window_end.saturating_sub(mark.since).max(1);
    let seconds = (behind_ms as u64).div_ceil(1000);
    counter(
        &format!("{LAGGING_PREFIX}{content_type}:{}", mark.reason.as_str()),
        seconds,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falling_behind_keeps_the_oldest_position_and_the_start_time() {
        let first = Mark::fall_behind(None, 5_000, Reason::SubscriptionPending);
        assert_eq!(
            first,
            Mark {
                since: 5_000,
                reason: Reason::SubscriptionPending,
                started_at: None
            }
        );
        let started = Mark {
            started_at: Some(7),
            ..first
        };
        let again = Mark::fall_behind(Some(&started), 9_000, Reason::Forbidden);
        assert_eq!(
            (again.since, again.reason, again.started_at),
            (5_000, Reason::Forbidden, Some(7))
        );
    }

    #[test]
    fn the_warm_up_runs_from_the_start() {
        let mark = Mark {
            since: 0,
            reason: Reason::SubscriptionStarting,
            started_at: Some(1_000),
        };
        assert!(mark.warming_up(1_000, 500));
        assert!(mark.warming_up(1_499, 500));
        assert!(!mark.warming_up(1_500, 500));
        let never_started = Mark {
            started_at: None,
            ..mark
        };
        assert!(!never_started.warming_up(1_000, 500));
    }

    #[test]
    fn lag_counters_name_type_and_reason_and_count_seconds() {
        let mark = Mark {
            since: 1_000,
            reason: Reason::SubscriptionStarting,
            started_at: None,
        };
        let c = lag_counter(ContentType::DlpAll, &mark, 3_601_000);
        assert_eq!(
            (c.name.as_str(), c.value),
            ("lagging:DLP.All:subscription-starting", 3_600)
        );
        assert_eq!(lag_counter(ContentType::DlpAll, &mark, 1_500).value, 1);
        assert_eq!(lag_counter(ContentType::DlpAll, &mark, 0).value, 1);
    }

    #[test]
    fn marks_round_trip_and_unknown_reasons_are_kept_as_other() {
        let text = r#"{"since":5,"reason":"subscription-disabled","startedAt":9}"#;
        let mark: Mark = serde_json::from_str(text).unwrap();
        assert_eq!(mark.reason, Reason::SubscriptionDisabled);
        assert_eq!(serde_json::to_string(&mark).unwrap(), text);
        let future: Mark = serde_json::from_str(r#"{"since":5,"reason":"quarantined"}"#).unwrap();
        assert_eq!((future.since, future.reason), (5, Reason::Other));
    }
}
