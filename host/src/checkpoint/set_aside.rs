//! Work that failed for good, set aside instead of waited on.
//!
//! One item that can never succeed (a malformed blob, a `403` on one content
//! type, a `404`) must not hold a tenant's checkpoint until everything behind
//! it ages out of the source. After a bounded number of failed attempts the
//! cycle moves the item, with its cause, into the checkpoint's set-aside list
//! and lets the window move on; the loss is counted (`items_lost`) and the
//! item stays listed until an operator fixes the cause and retries it
//! (`o365-host set-aside list|retry`). Keeping the list inside the checkpoint
//! makes "set aside, then advance" one atomic write.

use super::StoredItem;
use serde::{Deserialize, Serialize};

/// How often an outstanding item has failed, and the last reason.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// Cycles in which the item failed.
    pub attempts: u32,
    /// The last error, as reported.
    pub last_error: String,
}

/// An item taken out of the flow of work, with why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetAsideItem {
    /// The work item, exactly as the component made it.
    pub item: StoredItem,
    /// The error that made it fail for good, with the component's advice.
    pub cause: String,
    /// Whether running it again can help: false for expired content.
    pub retryable: bool,
    /// Attempts made before it was set aside.
    pub attempts: u32,
    /// The window of the slice it belonged to (ms), for the operator.
    pub window_start: i64,
    /// See `window_start`.
    pub window_end: i64,
    /// When it was set aside (ms).
    pub set_aside_at: i64,
}
