//! The counters both versions report, each named once here so that the
//! name a metric has in the host and the place that counts it cannot drift
//! apart.

use std::collections::BTreeMap;

use connector_sdk::{Counter, counter};

/// Pages fetched (one per `page` step that got an answer).
pub const PAGES: &str = "pages";
/// Events returned.
pub const EVENTS: &str = "events";
/// Records whose time lies outside the queried window (the API's bounds are
/// whole seconds and inclusive; the window is half-open), dropped: the
/// window that holds them publishes them.
pub const OUT_OF_WINDOW: &str = "out-of-window";
/// Records without an id, which got one derived from their content.
pub const RECORDS_WITHOUT_ID: &str = "records-without-id";
/// Stored next-page links that pointed away from the current API (the
/// other version swapped in, or the API base changed), whose window was
/// read again from its first page instead.
pub const RESTARTED_WINDOWS: &str = "restarted-windows";
/// Records without any time, dropped: they belong to no window.
pub const RECORDS_WITHOUT_TIME: &str = "records-without-time";

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
        c.add(OUT_OF_WINDOW, 0);
        let v: Vec<_> = c
            .into_vec()
            .into_iter()
            .map(|c| (c.name, c.value))
            .collect();
        assert_eq!(v, [("events".to_string(), 5), ("pages".to_string(), 1)]);
    }
}
