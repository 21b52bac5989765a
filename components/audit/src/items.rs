//! The work items this connector creates: their kinds, keys, payloads and
//! how long the host remembers them.
//!
//! Payloads are small JSON objects, opaque to the host, so that an item
//! written by one version of the component can still be read by the next
//! (fields are only ever added, with defaults). Keys are built here and
//! only here, because the host deduplicates and checkpoints by them.

use connector_sdk::{FetchError, WorkItem};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::content_type::ContentType;
use crate::time::MINUTE_MS;

/// Kind: one page of `subscriptions/content` for a content type and window.
pub const LIST_CONTENT: &str = "list-content";
/// Kind: one content blob to fetch and normalize.
pub const CONTENT_BLOB: &str = "content-blob";
/// Kind: start the subscription of a content type.
pub const START_SUBSCRIPTION: &str = "start-subscription";

const DAY_MS: u64 = 24 * 60 * MINUTE_MS as u64;

/// How long the host remembers a content id: longer than a blob lives
/// (about 7 days), so a blob listed again is never fetched twice.
pub const REMEMBER_BLOB_MS: u64 = 8 * DAY_MS;

/// The least time between two starts of the same subscription; more often
/// gets a tenant throttled.
pub const START_INTERVAL_MS: i64 = 15 * MINUTE_MS;

/// Payload of [`LIST_CONTENT`]: `{"contentType":"Audit.Exchange",
/// "start":<ms>,"end":<ms>,"page":"<NextPageUri>"}`, `page` absent for the
/// first page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListContent {
    /// The content type listed.
    pub content_type: ContentType,
    /// Window start, ms, included.
    pub start: i64,
    /// Window end, ms, excluded.
    pub end: i64,
    /// The `NextPageUri` to fetch instead of the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
}

impl ListContent {
    /// The work item; key `list:<type>:<start>:<end>:<page URL or "first">`.
    pub fn item(&self) -> WorkItem {
        WorkItem {
            kind: LIST_CONTENT.into(),
            key: format!(
                "list:{}:{}:{}:{}",
                self.content_type,
                self.start,
                self.end,
                self.page.as_deref().unwrap_or("first")
            ),
            payload: to_json(self),
            remember_for: None,
        }
    }
}

/// Payload of [`CONTENT_BLOB`]: one entry of a listing, as the API names
/// its fields (`contentUri`, `contentId`, `contentType`, `contentCreated`,
/// `contentExpiration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlob {
    /// Where the blob is fetched from (must be on the API's origin).
    pub content_uri: String,
    /// The blob's id, unique across content types.
    pub content_id: String,
    /// The content type it was listed under.
    pub content_type: ContentType,
    /// When the blob was created, as the API wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_created: Option<String>,
    /// When the blob stops being available, as the API wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_expiration: Option<String>,
}

impl ContentBlob {
    /// The work item; key = the content id, remembered for 8 days.
    pub fn item(&self) -> WorkItem {
        WorkItem {
            kind: CONTENT_BLOB.into(),
            key: self.content_id.clone(),
            payload: to_json(self),
            remember_for: Some(REMEMBER_BLOB_MS),
        }
    }
}

/// Payload of [`START_SUBSCRIPTION`]: `{"contentType":"DLP.All"}`. Earlier
/// versions asked for such items from a listing refused for want of a
/// subscription; this one starts subscriptions in `plan` only, and still
/// runs the items a checkpoint may hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartSubscription {
    /// The content type to start.
    pub content_type: ContentType,
}

/// Reads the payload of `item`, or says which item held what.
pub fn payload<T: DeserializeOwned>(item: &WorkItem) -> Result<T, FetchError> {
    serde_json::from_str(&item.payload).map_err(|e| {
        FetchError::Fatal(format!(
            "{} item `{}` has an unreadable payload ({e}); it was not written by this connector",
            item.kind, item.key
        ))
    })
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Plain structs of strings and numbers always serialize; were one ever
    // not to, `{}` fails loudly when read back instead of vanishing.
    serde_json::to_string(value).unwrap_or_else(|_| String::from("{}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_keys_name_type_window_and_page() {
        let first = ListContent {
            content_type: ContentType::Exchange,
            start: 1000,
            end: 2000,
            page: None,
        };
        let item = first.item();
        assert_eq!(item.kind, "list-content");
        assert_eq!(item.key, "list:Audit.Exchange:1000:2000:first");
        assert_eq!(
            item.payload,
            r#"{"contentType":"Audit.Exchange","start":1000,"end":2000}"#
        );
        assert_eq!(item.remember_for, None);
        let next = ListContent {
            page: Some("https://manage.office.com/x?nextPage=2".into()),
            ..first.clone()
        };
        assert_eq!(
            next.item().key,
            "list:Audit.Exchange:1000:2000:https://manage.office.com/x?nextPage=2"
        );
        let back: ListContent = payload(&next.item()).unwrap();
        assert_eq!(back, next);
    }

    #[test]
    fn blob_items_are_keyed_by_content_id_for_eight_days() {
        let blob = ContentBlob {
            content_uri: "https://manage.office.com/api/v1.0/t/activity/feed/audit/c1".into(),
            content_id: "c1".into(),
            content_type: ContentType::SharePoint,
            content_created: Some("2024-05-01T08:00:00.000Z".into()),
            content_expiration: None,
        };
        let item = blob.item();
        assert_eq!(
            (item.kind.as_str(), item.key.as_str()),
            ("content-blob", "c1")
        );
        assert_eq!(item.remember_for, Some(8 * 86_400_000));
        assert_eq!(payload::<ContentBlob>(&item).unwrap(), blob);
    }

    #[test]
    fn unreadable_payloads_are_fatal_naming_the_item() {
        let item = WorkItem {
            kind: "content-blob".into(),
            key: "c9".into(),
            payload: r#"{"contentId":"c9"}"#.into(),
            remember_for: None,
        };
        match payload::<ContentBlob>(&item) {
            Err(FetchError::Fatal(m)) => {
                assert!(
                    m.starts_with("content-blob item `c9` has an unreadable payload"),
                    "{m}"
                );
                assert!(m.contains("contentUri"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }
}
