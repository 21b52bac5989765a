//! Counting during one call, for the contract's `counters`.
//!
//! A component names its counters as constants in one place of its own, so
//! that the name a metric has in the host and the place that counts it
//! cannot drift apart; this is the tally they are added to.

use std::collections::BTreeMap;

use crate::{Counter, counter};

/// Counts gathered during one call; only non-zero ones are reported.
#[derive(Debug, Default)]
pub struct Counters(BTreeMap<&'static str, u64>);

impl Counters {
    /// Adds `value` to the counter `name` (one of the component's counter
    /// name constants).
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
    fn sums_drops_zeros_and_sorts_by_name() {
        let mut c = Counters::default();
        c.add("events", 2);
        c.add("pages", 1);
        c.add("events", 3);
        c.add("blobs", 0);
        c.add("out-of-window", 0);
        let v: Vec<_> = c
            .into_vec()
            .into_iter()
            .map(|c| (c.name, c.value))
            .collect();
        assert_eq!(v, [("events".to_string(), 5), ("pages".to_string(), 1)]);
        assert!(Counters::default().into_vec().is_empty());
    }
}
