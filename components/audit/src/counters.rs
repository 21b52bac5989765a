//! The counters this connector reports, each named once here so that the
//! name a metric has in the host and the place that counts it cannot drift
//! apart.

use std::collections::BTreeMap;

use connector_sdk::{Counter, counter};

/// Listing pages fetched (one per `list-content` step that got an answer).
pub const PAGES: &str = "pages";
/// Content blobs fetched.
pub const BLOBS: &str = "blobs";
/// Events returned (after ignored sources were dropped).
pub const EVENTS: &str = "events";
/// Records dropped because their `Source` is in `O365_IGNORED_SOURCES`.
pub const IGNORED_EVENTS: &str = "ignored-events";
/// Records that had no `Id` and got `<contentId>:<index>` instead.
pub const RECORDS_WITHOUT_ID: &str = "records-without-id";
/// Records whose `CreationTime` could not be read; their time is the blob's
/// `contentCreated`.
pub const BAD_TIMES: &str = "bad-times";
/// Subscriptions started (`POST subscriptions/start` that succeeded).
pub const SUBSCRIPTIONS_STARTED: &str = "subscriptions-started";
/// Configured content types without an enabled subscription at plan time:
/// not listed in this window (a new subscription yields nothing for a while).
pub const SUBSCRIPTIONS_PENDING: &str = "subscriptions-pending";
/// Listings the API refused for want of a subscription (AF20022/AF20023).
pub const SUBSCRIPTIONS_MISSING: &str = "subscriptions-missing";

/// Counts gathered during one call; only non-zero ones are reported.
#[derive(Debug, Default)]
pub struct Counters(BTreeMap<&'static str, u64>);

impl Counters {
    /// Adds `value` to the counter `name` (one of this module's constants).
    pub fn add(&mut self, name: &'static str, value: u64) {
        *self.0.entry(name).or_default() += value;
    }

    /// The counters for the contract, in name order.
    pub fn into_vec(self) -> Vec<Counter> {
        self.0
            .into_iter()
            .filter(|(_, v)| *v > 0)
            .map(|(n, v)| counter(n, v))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_drops_zeros() {
        let mut c = Counters::default();
        c.add(EVENTS, 2);
        c.add(PAGES, 1);
        c.add(EVENTS, 3);
        c.add(BLOBS, 0);
        let v: Vec<_> = c
            .into_vec()
            .into_iter()
            .map(|c| (c.name, c.value))
            .collect();
        assert_eq!(v, [("events".to_string(), 5), ("pages".to_string(), 1)]);
    }
}
