//! The one kind of work item: a page of message traces.
//!
//! Payloads are small JSON objects, opaque to the host, so that an item
//! written by one version of the component can still be read by the other
//! or the next (fields are only ever added, with defaults): a host that
//! swaps the Reporting version for the Graph version with items still
//! outstanding gets `page` items it can read; their links fail the origin
//! check and name the host they point at. Keys are built here and only
//! here, because the host deduplicates and checkpoints by them.

use connector_sdk::{FetchError, WorkItem};
use serde::{Deserialize, Serialize};

/// Kind: one page of message traces for a window.
pub const PAGE: &str = "page";

/// Payload of [`PAGE`]: `{"start":<ms>,"end":<ms>,"page":"<next link>"}`,
/// `page` absent for the first page. `start` is the planned window's start
/// moved back by the overlap; records outside `[start, end)` are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageItem {
    /// Start of the queried window, ms, included (a whole second).
    pub start: i64,
    /// End of the queried window, ms, excluded.
    pub end: i64,
    /// The next-page link to fetch instead of the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
}

impl PageItem {
    /// The work item; key `traces:<start>:<end>:<link or "first">`, not
    /// remembered (a window may be read again, late records are the point).
    pub fn item(&self) -> WorkItem {
        WorkItem {
            kind: PAGE.into(),
            key: format!(
                "traces:{}:{}:{}",
                self.start,
                self.end,
                self.page.as_deref().unwrap_or("first")
            ),
            payload: serde_json::to_string(self).unwrap_or_else(|_| String::from("{}")),
            remember_for: None,
        }
    }

    /// Reads the payload of `item`, or says which item held what.
    pub fn read(item: &WorkItem) -> Result<PageItem, FetchError> {
        serde_json::from_str(&item.payload).map_err(|e| {
            FetchError::Fatal(format!(
                "{} item `{}` has an unreadable payload ({e}); it was not written by this component",
                item.kind, item.key
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_window_and_page() {
        let first = PageItem {
            start: 1000,
            end: 2000,
            page: None,
        };
        let item = first.item();
        assert_eq!(item.kind, "page");
        assert_eq!(item.key, "traces:1000:2000:first");
        assert_eq!(item.payload, r#"{"start":1000,"end":2000}"#);
        assert_eq!(item.remember_for, None);
        let next = PageItem {
            page: Some("https://graph.microsoft.com/v1.0/x?$skiptoken=a".into()),
            ..first
        };
        assert_eq!(
            next.item().key,
            "traces:1000:2000:https://graph.microsoft.com/v1.0/x?$skiptoken=a"
        );
        assert_eq!(PageItem::read(&next.item()).unwrap(), next);
    }

    #[test]
    fn unreadable_payloads_are_fatal_naming_the_item() {
        let item = WorkItem {
            kind: "page".into(),
            key: "k9".into(),
            payload: r#"{"start":"soon"}"#.into(),
            remember_for: None,
        };
        match PageItem::read(&item) {
            Err(FetchError::Fatal(m)) => {
                assert!(
                    m.starts_with("page item `k9` has an unreadable payload"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
