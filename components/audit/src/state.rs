//! The connector state `plan` returns and the host persists with its
//! checkpoint, atomically with the planned items:
//! `{"starts":{"DLP.All":<ms>},"behind":{"DLP.All":{"since":<ms>,...}}}`.
//!
//! A component keeps no memory between calls; what `plan` must remember
//! travels here: when a subscription start was last tried (the 15-minute
//! rule), and where each content type that could not be listed fell behind
//! ([`crate::marks`]). Fields are only ever added, with defaults, so a
//! state written by one version is read by the next.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::{Api, Level};
use crate::content_type::ContentType;
use crate::items::START_INTERVAL_MS;
use crate::marks::Mark;

/// What `plan` remembers between calls.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Content type name → ms of the last start attempt. Entries older
    /// than 15 minutes are dropped, so the state stays small.
    #[serde(default)]
    pub starts: BTreeMap<String, i64>,
    /// Content type name → where it fell behind; absent when it is not.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub behind: BTreeMap<String, Mark>,
}

impl State {
    /// Reads the state `plan` returned last time. An unreadable state is
    /// logged and replaced by an empty one: at worst a subscription is
    /// started once more than needed, which is better than never planning.
    pub fn read(api: &mut impl Api, text: Option<&str>) -> State {
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
            return State::default();
        };
        serde_json::from_str(text).unwrap_or_else(|e| {
            api.log(
                Level::Warn,
                &format!("ignoring unreadable connector state ({e}); starting from an empty one"),
            );
            State::default()
        })
    }

    /// When a start of `name` was attempted, if less than 15 minutes from
    /// `now`.
    pub fn recently_started(&self, name: &str, now: i64) -> Option<i64> {
        self.starts
            .get(name)
            .copied()
            .filter(|at| is_recent(*at, now))
    }

    /// Drops attempts that no longer hold anything back.
    pub fn forget_stale(&mut self, now: i64) {
        self.starts.retain(|_, at| is_recent(*at, now));
    }

    /// Drops the marks of content types no longer collected, logging each:
    /// the operator chose not to read them.
    pub fn keep_marks_of(&mut self, api: &mut impl Api, types: &[ContentType]) {
        self.behind.retain(|name, _| {
            let kept = types.iter().any(|t| t.as_str() == name);
            if !kept {
                api.log(
                    Level::Info,
                    &format!(
                        "{name} is no longer in O365_EVENT_TYPES; forgetting that it was behind"
                    ),
                );
            }
            kept
        });
    }

    /// The state as the text `plan` returns.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// Whether an attempt at `at` is less than 15 minutes from `now`, in either
/// direction, so that a host clock set back does not unlock a new start.
fn is_recent(at: i64, now: i64) -> bool {
    now.abs_diff(at) < START_INTERVAL_MS as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marks::Reason;
    use crate::testing::ScriptedApi;

    #[test]
    fn an_empty_behind_map_is_not_written_and_marks_round_trip() {
        let mut state = State::default();
        assert_eq!(state.to_json(), r#"{"starts":{}}"#);
        state.behind.insert(
            "DLP.All".into(),
            Mark {
                since: 5,
                reason: Reason::SubscriptionPending,
                started_at: None,
            },
        );
        let text = state.to_json();
        assert_eq!(
            text,
            r#"{"starts":{},"behind":{"DLP.All":{"since":5,"reason":"subscription-pending"}}}"#
        );
        let mut api = ScriptedApi::default();
        assert_eq!(State::read(&mut api, Some(&text)), state);
    }

    #[test]
    fn marks_of_types_no_longer_collected_are_dropped() {
        let mut api = ScriptedApi::default();
        let mut state = State::read(
            &mut api,
            Some(
                r#"{"behind":{"DLP.All":{"since":5,"reason":"forbidden"},"Audit.Exchange":{"since":6,"reason":"forbidden"}}}"#,
            ),
        );
        state.keep_marks_of(&mut api, &[ContentType::Exchange]);
        assert_eq!(state.behind.keys().collect::<Vec<_>>(), ["Audit.Exchange"]);
        assert!(
            api.logs
                .iter()
                .any(|(_, m)| m.contains("DLP.All is no longer"))
        );
    }
}
