//! Faults on demand: rules that make chosen requests fail or misbehave the
//! way the real services do (throttling, 5xx, slow or malformed answers,
//! expired content, duplicated listings, next-page links to a foreign host),
//! so clients can be tested against each failure deterministically.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::rng::{hash, mix};

/// Which endpoint a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// `POST /{tenant}/oauth2/v2.0/token`
    Token,
    /// `GET .../subscriptions/list`
    SubscriptionsList,
    /// `POST .../subscriptions/start`
    SubscriptionsStart,
    /// `GET .../subscriptions/content`
    ContentList,
    /// `GET .../activity/feed/audit/{contentId}`
    ContentBlob,
    /// Graph `messageTraces`
    Graph,
    /// Reporting WS `MessageTrace`
    Reporting,
    /// Every API endpoint above.
    Any,
}

/// What happens to a matching request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FaultKind {
    /// 429 with `Retry-After` (when given) and a body in the API's format.
    TooManyRequests {
        /// Seconds for the `Retry-After` header.
        retry_after_secs: Option<u64>,
    },
    /// 403 with `{"error":{"code":"AF429",…}}`, the Management API's other throttling answer.
    Af429 {
        /// Seconds for the `Retry-After` header.
        retry_after_secs: Option<u64>,
    },
    /// A server error (500, 502, 503, …) with a body in the API's format.
    ServerError {
        /// The HTTP status.
        status: u16,
    },
    /// Answer normally after a delay.
    Slow {
        /// Delay in milliseconds.
        millis: u64,
    },
    /// 200 with a truncated body that is not valid JSON.
    Malformed,
    /// The content blob answers 400 AF20051 (expired).
    Expired,
    /// The listing page repeats items of the previous page and one of its own.
    DuplicateContentIds,
    /// The next-page link points at the foreign listener.
    ForeignNextPage,
    /// 401 in the API's format.
    Unauthorized,
    /// 403 in the API's format with this message.
    Forbidden {
        /// The error message.
        message: String,
    },
    /// The endpoint answers as a retired one does (410 Gone with an explanation).
    Retired,
    /// `subscriptions/list` answers from a stale replica: `[]`, although
    /// subscriptions are enabled (so `subscriptions/start` answers `AF20024`).
    StaleSubscriptionList,
    /// A listing answers `400 AF20022` (no subscription) whatever the subscriptions are.
    SubscriptionMissing,
    /// A listing answers `400 AF20023` (disabled by a tenant admin).
    SubscriptionDisabled,
    /// Blobs become listable only this long after their `contentCreated`
    /// (the real service lists some blobs late); a listing leaves out
    /// blobs younger than that.
    ListedLate {
        /// The delay in seconds.
        delay_secs: u64,
    },
    /// The content blob serves its first record as a JSON string instead of
    /// an object (the other records are intact).
    MalformedRecord,
}

/// One fault rule. Rules are tried in the order they were added; the first
/// that matches and passes its sampling fires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// The endpoint.
    pub target: Target,
    /// Only requests for this tenant (`None`: any tenant).
    pub tenant: Option<String>,
    /// How often the rule fires before it is spent (`None`: forever).
    pub times: Option<u32>,
    /// Fire on this fraction of matching requests, sampled deterministically.
    pub probability: Option<f64>,
    /// What happens.
    pub kind: FaultKind,
    /// Only the content blob with this id (for [`Target::ContentBlob`] / [`Target::Any`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
}

impl FaultRule {
    /// A rule that fires on every matching request, for any tenant.
    pub fn new(target: Target, kind: FaultKind) -> Self {
        FaultRule {
            target,
            tenant: None,
            times: None,
            probability: None,
            kind,
            content_id: None,
        }
    }

    /// Fire at most `n` times.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Only for `tenant`.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Fire on a fraction `p` of matching requests.
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = Some(p);
        self
    }

    /// Only for the content blob `content_id`.
    pub fn content_id(mut self, content_id: impl Into<String>) -> Self {
        self.content_id = Some(content_id.into());
        self
    }
}

/// What a request is, for matching rules.
pub(crate) struct Probe<'a> {
    pub(crate) target: Target,
    pub(crate) tenant: Option<&'a str>,
    pub(crate) content_id: Option<&'a str>,
}

struct Slot {
    rule: FaultRule,
    /// Distinguishes the sampling streams of rules.
    serial: u64,
    /// Matching requests seen, the sampling stream's position.
    seen: u64,
}

#[derive(Default)]
struct Rules {
    slots: Vec<Slot>,
    added: u64,
}

/// The active fault rules; clones share them.
#[derive(Clone, Default)]
pub struct Faults {
    rules: Arc<Mutex<Rules>>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.rules().iter()).finish()
    }
}

impl Faults {
    /// Adds a rule after the existing ones.
    pub fn add(&self, rule: FaultRule) {
        let mut rules = self.lock();
        rules.added += 1;
        let serial = rules.added;
        rules.slots.push(Slot {
            rule,
            serial,
            seen: 0,
        });
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().slots.clear();
    }

    /// The rules still active (spent ones are removed).
    pub fn rules(&self) -> Vec<FaultRule> {
        self.lock().slots.iter().map(|s| s.rule.clone()).collect()
    }

    /// The fault to apply to this request, if any; consumes one use of the rule.
    pub(crate) fn take(&self, probe: &Probe<'_>) -> Option<FaultKind> {
        let mut rules = self.lock();
        let position = rules.slots.iter_mut().position(|slot| {
            let rule = &slot.rule;
            let matches = rule.times != Some(0)
                && (rule.target == probe.target || rule.target == Target::Any)
                && rule
                    .tenant
                    .as_deref()
                    .is_none_or(|t| Some(t) == probe.tenant)
                && rule
                    .content_id
                    .as_deref()
                    .is_none_or(|c| Some(c) == probe.content_id);
            if !matches {
                return false;
            }
            slot.seen += 1;
            let sample = mix(hash(&[slot.serial, slot.seen])) as f64 / u64::MAX as f64;
            rule.probability.is_none_or(|p| sample < p)
        })?;
        let slot = &mut rules.slots[position];
        let kind = slot.rule.kind.clone();
        if let Some(times) = slot.rule.times.as_mut() {
            *times = times.saturating_sub(1);
            if *times == 0 {
                rules.slots.remove(position);
            }
        }
        Some(kind)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.rules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(target: Target) -> Probe<'static> {
        Probe {
            target,
            tenant: Some("t1"),
            content_id: None,
        }
    }

    #[test]
    fn rules_match_count_down_and_sample_deterministically() {
        let faults = Faults::default();
        faults.add(
            FaultRule::new(Target::Graph, FaultKind::Malformed)
                .times(2)
                .tenant("t1"),
        );
        assert_eq!(faults.take(&probe(Target::Reporting)), None);
        assert_eq!(
            faults.take(&probe(Target::Graph)),
            Some(FaultKind::Malformed)
        );
        assert_eq!(
            faults.take(&probe(Target::Graph)),
            Some(FaultKind::Malformed)
        );
        assert_eq!(faults.take(&probe(Target::Graph)), None);

        let count = |faults: &Faults| {
            (0..1000)
                .filter(|_| faults.take(&probe(Target::Token)).is_some())
                .count()
        };
        let sampled = Faults::default();
        sampled.add(FaultRule::new(Target::Any, FaultKind::Malformed).probability(0.25));
        let again = Faults::default();
        again.add(FaultRule::new(Target::Any, FaultKind::Malformed).probability(0.25));
        let n = count(&sampled);
        assert!((200..300).contains(&n), "{n}");
        assert_eq!(n, count(&again));
    }

    #[test]
    fn rules_round_trip_through_json() {
        let rule = FaultRule::new(
            Target::ContentList,
            FaultKind::TooManyRequests {
                retry_after_secs: Some(3),
            },
        );
        let text = serde_json::to_string(&rule).unwrap();
        assert_eq!(serde_json::from_str::<FaultRule>(&text).unwrap(), rule);
    }
}
