//! One record of a page → what the `page` step does with it: publish it,
//! leave it to the window that holds it, or publish it as malformed.
//!
//! A record that cannot be normalized must neither fail its page (every
//! other record of the page, and every later page, would wait on it) nor
//! be dropped (nothing is lost at the source). It is published with its
//! raw record, a stable id, the queried window's start as its time and
//! `normalizationError` ([`normalize::malformed`]), and counted as
//! `malformed-records`:
//!
//! - not a JSON object, or an object the API's record type does not fit:
//!   only the common fields, id `malformed-<hash of its text>`;
//! - an object whose received time is missing or unreadable: the fields
//!   that could be read are lifted as usual and the id is formed as for any
//!   row ([`crate::identity`]); the time, unknown, is the window's start.
//!
//! Such a record is published by every read whose answer holds it; the
//! repeats have the same id and the host drops them.

use connector_sdk::Event;
use serde_json::value::RawValue;

use crate::items::PageItem;
use crate::normalize::{self, Received};
use crate::step::Source;

/// What became of one record.
#[derive(Debug)]
pub enum Outcome {
    /// Normalized: publish it. `had_id` is false when its trace id was
    /// derived.
    Event {
        /// The event.
        event: Event,
        /// Whether the record had a trace id.
        had_id: bool,
    },
    /// Received outside the queried window: the window that holds it
    /// publishes it.
    OutOfWindow,
    /// Could not be normalized: publish it anyway; `problem` says why.
    Malformed {
        /// The event, with `normalizationError`.
        event: Event,
        /// What was wrong, as in `normalizationError`.
        problem: String,
    },
}

/// Reads one record of a page read for `item`.
pub fn read(source: &impl Source, item: &PageItem, tenant: &str, raw: &RawValue) -> Outcome {
    let trace = match normalize::check_object(raw).and_then(|()| source.read_record(raw)) {
        Ok(trace) => trace,
        Err(problem) => {
            let problem = format!("the record {problem}");
            return Outcome::Malformed {
                event: normalize::malformed(raw, item.start, tenant, &problem),
                problem,
            };
        }
    };
    let problem = match &trace.received {
        Received::At(at) if *at < item.start || *at >= item.end => return Outcome::OutOfWindow,
        Received::At(at) => {
            let n = normalize::normalize(&trace, *at, raw, tenant, None);
            return Outcome::Event {
                event: n.event,
                had_id: n.had_id,
            };
        }
        Received::Missing => "the record has no received time".to_string(),
        Received::Unreadable(field) => {
            format!("the record has {field}, which is not a date this component reads")
        }
    };
    let n = normalize::normalize(&trace, item.start, raw, tenant, Some(&problem));
    Outcome::Malformed {
        event: n.event,
        problem,
    }
}
