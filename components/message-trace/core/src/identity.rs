//! The event id of a message trace row: what tells two published rows apart,
//! and what makes a refetched row the same event.
//!
//! Both APIs return one row per message **and recipient**, and every row of
//! one message carries the same trace id (Graph `id`, Reporting Web Service
//! `MessageTraceId`); Microsoft itself names one recipient's trace by the
//! pair (`Get-MessageTraceDetailV2 -MessageTraceId … -RecipientAddress …`,
//! Graph's `getDetailsByRecipient`). The host drops repeats by event id, so
//! the trace id alone would publish the first recipient of every message
//! and drop the rest. The id is therefore
//!
//! ```text
//! <trace id>:<recipient>:<status>
//! ```
//!
//! - **trace id** as the API wrote it; a row without one gets
//!   `derived-<received ms>-<hash of message id and sender>`, the same for
//!   every recipient of the message and for both APIs;
//! - **recipient** trimmed and lower-cased (addresses are compared without
//!   case; the APIs do not promise one spelling). A Reporting Web Service
//!   row naming several addresses (`a@x.com; b@y.com`) keeps them together,
//!   sorted and joined with `;`: it is one row of the API, published as one
//!   event with its record, and sorting keeps the id stable if the service
//!   reorders them;
//! - **status** in Graph's spelling, lower-cased (empty when the row has
//!   none), so that a row whose status changed between two reads (`pending`,
//!   then `delivered` in the overlap re-read) is a new event and the SIEM
//!   gets the final status, while an unchanged refetch has the same id and
//!   is dropped by the host.
//!
//! A record that cannot be read at all gets `malformed-<hash of its text>`.
//! The hashes are 64-bit FNV-1a in hex: stable across runs, platforms and
//! both versions of the component.

use crate::normalize::{self, Received, Trace};
use std::borrow::Cow;

/// The event id of `trace`: `<trace id>:<recipient>:<status>` (module
/// docs).
pub fn event_id(trace: &Trace<'_>) -> String {
    format!(
        "{}:{}:{}",
        trace_part(trace),
        recipient_part(&trace.recipients),
        status_part(trace.status.as_deref())
    )
}

/// The id of a record no field of which could be read (not a JSON object,
/// or an object the API's record type does not fit): `malformed-<hash of
/// the record's text>`, as stable as the API's spelling of it.
pub fn malformed_id(raw: &str) -> String {
    let mut hash = Fnv::new();
    hash.feed(raw);
    format!("malformed-{:016x}", hash.0)
}

/// The trace id, or one derived from the message id and sender (and the
/// received time, or its unreadable text) for a row without one.
fn trace_part<'t>(trace: &'t Trace<'_>) -> Cow<'t, str> {
    if let Some(id) = &trace.id {
        return Cow::Borrowed(id);
    }
    let mut hash = Fnv::new();
    hash.feed(trace.message_id.as_deref().unwrap_or_default());
    hash.feed(trace.sender.as_deref().unwrap_or_default());
    Cow::Owned(match &trace.received {
        Received::At(ms) => format!("derived-{ms}-{:016x}", hash.0),
        Received::Missing => format!("derived-none-{:016x}", hash.0),
        Received::Unreadable(text) => {
            hash.feed(text);
            format!("derived-none-{:016x}", hash.0)
        }
    })
}

/// The recipients, trimmed, lower-cased, without repeats, sorted and
/// joined with `;`.
fn recipient_part(recipients: &[Cow<'_, str>]) -> String {
    let mut addresses: Vec<String> = recipients
        .iter()
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty())
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses.join(";")
}

/// The status in Graph's spelling, lower-cased; empty without one.
fn status_part(status: Option<&str>) -> String {
    status
        .and_then(normalize::status)
        .map(|s| s.to_lowercase())
        .unwrap_or_default()
}

/// 64-bit FNV-1a, each fed text followed by a unit separator so that
/// `("ab", "c")` and `("a", "bc")` differ.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn feed(&mut self, text: &str) {
        for byte in text.bytes().chain([0x1f]) {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: i64 = 1_795_591_679_000;

    fn row<'a>(id: Option<&'a str>, recipients: &[&'a str], status: Option<&'a str>) -> Trace<'a> {
        Trace {
            id: id.map(Cow::Borrowed),
            received: Received::At(AT),
            sender: Some("megan.bowen@contoso.com".into()),
            recipients: recipients.iter().map(|r| Cow::Borrowed(*r)).collect(),
            subject: None,
            status: status.map(Cow::Borrowed),
            size: None,
            message_id: Some("<m1@contoso.com>".into()),
            from_ip: None,
            to_ip: None,
        }
    }

    #[test]
    fn rows_of_one_message_differ_by_recipient() {
        let a = event_id(&row(Some("t1"), &["a@x.com"], Some("delivered")));
        let b = event_id(&row(Some("t1"), &["b@x.com"], Some("delivered")));
        assert_eq!(a, "t1:a@x.com:delivered");
        assert_eq!(b, "t1:b@x.com:delivered");
    }

    #[test]
    fn spelling_does_not_change_the_id() {
        let graph = event_id(&row(Some("t1"), &["a@x.com"], Some("filteredAsSpam")));
        let rws = event_id(&row(Some("t1"), &[" A@X.com "], Some("FilteredAsSpam")));
        assert_eq!(graph, rws);
        assert_eq!(graph, "t1:a@x.com:filteredasspam");
    }

    #[test]
    fn a_status_change_is_a_new_event() {
        let pending = event_id(&row(Some("t1"), &["a@x.com"], Some("Pending")));
        let delivered = event_id(&row(Some("t1"), &["a@x.com"], Some("Delivered")));
        assert_ne!(pending, delivered);
        assert_eq!(
            event_id(&row(Some("t1"), &["a@x.com"], None)),
            "t1:a@x.com:"
        );
    }

    #[test]
    fn several_addresses_in_one_row_are_sorted() {
        let id = event_id(&row(Some("t1"), &["b@x.com", "A@x.com", "a@x.com"], None));
        assert_eq!(id, "t1:a@x.com;b@x.com:");
        assert_eq!(event_id(&row(Some("t1"), &[], None)), "t1::");
    }

    #[test]
    fn rows_without_a_trace_id_share_a_derived_one() {
        let a = event_id(&row(None, &["a@x.com"], Some("delivered")));
        let b = event_id(&row(None, &["b@x.com"], Some("delivered")));
        let (trace_a, rest_a) = a.split_once(':').unwrap();
        let (trace_b, rest_b) = b.split_once(':').unwrap();
        assert_eq!(trace_a, trace_b, "one message");
        assert_ne!(rest_a, rest_b, "two recipients");
        assert!(trace_a.starts_with(&format!("derived-{AT}-")), "{a}");
        assert_eq!(trace_a.len(), "derived-".len() + 13 + 1 + 16);
        assert_eq!(a, event_id(&row(None, &["a@x.com"], Some("delivered"))));
        let mut other = row(None, &["a@x.com"], Some("delivered"));
        other.message_id = Some("<m2@contoso.com>".into());
        assert_ne!(event_id(&other), a);
        other.received = Received::Missing;
        assert!(event_id(&other).starts_with("derived-none-"));
    }

    #[test]
    fn unreadable_records_are_named_by_their_text() {
        assert_eq!(malformed_id("7"), malformed_id("7"));
        assert_ne!(malformed_id("7"), malformed_id("8"));
        assert_eq!(malformed_id("7").len(), "malformed-".len() + 16);
    }
}
