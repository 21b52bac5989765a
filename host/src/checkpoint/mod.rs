//! Checkpoints: what is fully published, per tenant and source.
//!
//! The protocol (docs/checkpoints.md has the long form):
//! - a checkpoint holds the high-water mark (everything before it is
//!   published), the slice in progress with its outstanding work items, the
//!   keys of work already done (content ids, with an expiry), the ids of
//!   recently published events (for connectors that re-read an overlap), and
//!   the connector's own state;
//! - the keys and ids ([`Memory`]) can be many while a save adds few, so
//!   they live in an append-only journal that the small head commits
//!   ([`JournalHead`]): a save writes the head and the entries added since
//!   the previous save, never the whole history;
//! - it is written only after the sink acknowledged every event it covers:
//!   an item leaves `outstanding` only once its events are durable and its
//!   follow-up items are in `outstanding`;
//! - every write is atomic (journal appended and fsynced, then the head
//!   written, fsynced and renamed; a journal tail no head commits is never
//!   read) and conditional on the version read, so two instances can never
//!   both advance it;
//! - a cycle holds a lease on its tenant and source, so a second instance
//!   skips instead of doing the same work twice.
//!
//! A crash at any point therefore redoes at most the work since the last
//! write, and never skips any.

pub mod blob;
mod head;
mod journal;
mod legacy;
mod local;
mod memory;
mod select;
mod set_aside;
mod stats;

pub use blob::BlobStore;
pub use journal::{COMPACT_MIN_ENTRIES, JournalHead};
pub use legacy::{LEGACY_BLOB, import_legacy_timestamp};
pub use local::{LocalLease, LocalStore};
pub use memory::Memory;
pub(crate) use select::valid_storage_name;
pub use select::{CONTAINER_SETTING, store_from_settings};
pub use set_aside::{Failure, SetAsideItem};
pub use stats::{StoreFigures, StoreStats};

use crate::runtime::{TimeWindow, WorkItem};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long a set-aside item stays listed: longer than any source keeps
/// data (Graph message traces: 90 days), so an operator sees every loss
/// until nothing of it could be fetched any more.
pub const SET_ASIDE_KEPT_MS: i64 = 100 * 24 * 3_600_000;

/// The on-disk format version of [`Checkpoint`]'s head: 2 since the
/// remembered keys and event ids moved to the journal (1 is still read), 3
/// since a compacted journal holds digests (`kd`/`ed` lines, which a host
/// reading format 2 would take for damage; 2 is still read).
pub const FORMAT: u32 = 3;

/// Progress of one tenant and source.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Format version, [`FORMAT`].
    pub format: u32,
    /// Write counter: the version a conditional write expects.
    pub version: u64,
    /// Everything before this instant (ms) is published.
    pub high_water_mark: i64,
    /// The slice being worked on, if a cycle stopped in the middle of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice: Option<SliceProgress>,
    /// How far the journal of remembered keys and event ids is committed;
    /// kept by the store.
    #[serde(default)]
    pub journal: JournalHead,
    /// Keys of completed work to skip if listed again, and ids of recently
    /// published events, with their expiry: read from and saved to the
    /// journal, not the head.
    #[serde(skip)]
    pub memory: Memory,
    /// The connector's own state from its last `plan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_state: Option<String>,
    /// Work items that failed for good, kept with their cause until an
    /// operator retries them (`o365-host set-aside retry`) or they age out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set_aside: Vec<SetAsideItem>,
    /// Set-aside items an operator asked to retry: the next cycle runs them
    /// before anything else.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<StoredItem>,
    /// When this checkpoint was written (ms).
    pub updated_at: i64,
}

/// A slice in progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SliceProgress {
    /// Window start (ms).
    pub start: i64,
    /// Window end (ms).
    pub end: i64,
    /// Work planned or found but not yet published.
    pub outstanding: Vec<StoredItem>,
    /// Items of `outstanding` that failed in earlier cycles, by key: how
    /// often and why. An item that keeps failing is set aside.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failures: BTreeMap<String, Failure>,
    /// sha256 of the component version that planned the slice. Another
    /// version plans it again instead of stepping items it did not make
    /// (`docs/components.md`, "Across versions"); absent in checkpoints
    /// written before versions were swapped, which resume as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_by: Option<String>,
}

impl SliceProgress {
    /// The slice's window.
    pub fn window(&self) -> TimeWindow {
        TimeWindow {
            start: self.start,
            end: self.end,
        }
    }
}

/// A work item as stored in a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredItem {
    /// See the contract's `work-item`.
    pub kind: String,
    /// See the contract's `work-item`.
    pub key: String,
    /// See the contract's `work-item`.
    pub payload: String,
    /// See the contract's `work-item`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remember_for: Option<u64>,
}

impl From<&WorkItem> for StoredItem {
    fn from(item: &WorkItem) -> Self {
        Self {
            kind: item.kind.clone(),
            key: item.key.clone(),
            payload: item.payload.clone(),
            remember_for: item.remember_for,
        }
    }
}

impl From<StoredItem> for WorkItem {
    fn from(item: StoredItem) -> Self {
        Self {
            kind: item.kind,
            key: item.key,
            payload: item.payload,
            remember_for: item.remember_for,
        }
    }
}

impl Checkpoint {
    /// A new checkpoint that resumes at `high_water_mark`.
    pub fn starting_at(high_water_mark: i64) -> Self {
        Self {
            format: FORMAT,
            high_water_mark,
            ..Self::default()
        }
    }

    /// Drops remembered keys and event ids whose expiry is past, and
    /// set-aside items older than [`SET_ASIDE_KEPT_MS`].
    pub fn prune(&mut self, now: i64) {
        self.memory.prune(now);
        self.set_aside
            .retain(|e| e.set_aside_at.saturating_add(SET_ASIDE_KEPT_MS) > now);
    }

    /// Adds an item to the set-aside list, replacing an entry with the same
    /// key (an item set aside again after a retry keeps one entry).
    pub fn set_item_aside(&mut self, entry: SetAsideItem) {
        self.set_aside.retain(|e| e.item.key != entry.item.key);
        self.set_aside.push(entry);
    }
}

/// Why a checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Another writer advanced the checkpoint since it was read.
    #[error(
        "checkpoint {name} was changed by another instance (expected version {expected}, found {found}); \
         this instance's progress is not written"
    )]
    Conflict {
        /// Which checkpoint.
        name: String,
        /// The version this writer read.
        expected: u64,
        /// The version found.
        found: u64,
    },
    /// The stored checkpoint is not readable.
    #[error(
        "checkpoint {name} is damaged: {message}. Move it aside to start over from the legacy \
         timestamp or 24 hours back"
    )]
    Corrupt {
        /// Which checkpoint.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The storage failed.
    #[error(
        "checkpoint {name}: {action} failed; check that the state directory exists, is writable \
         and has space"
    )]
    Io {
        /// Which checkpoint.
        name: String,
        /// What was being done, with the path.
        action: String,
        /// The storage's error.
        #[source]
        source: std::io::Error,
    },
    /// A tenant or source name that cannot be a file name.
    #[error(
        "checkpoint {name}: tenant and source names may hold only letters, digits, `-`, `_` and \
         `.`, and may not start with `.`"
    )]
    BadName {
        /// The name as given.
        name: String,
    },
    /// The checkpoint could not be encoded (a bug: every field serializes).
    #[error("checkpoint {name} could not be encoded")]
    Encode {
        /// Which checkpoint.
        name: String,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// Blob storage refused or failed a request.
    #[error("checkpoint {name}: {action} failed: {message}")]
    Storage {
        /// Which checkpoint (or container).
        name: String,
        /// What was being done, with the blob.
        action: String,
        /// What went wrong and how to fix it.
        message: String,
        /// The storage client's error (boxed: it is large).
        #[source]
        source: Box<azure_core::Error>,
    },
    /// The blocking task doing the I/O panicked or was cancelled (the
    /// runtime is shutting down); the write may or may not have happened,
    /// and the next load tells.
    #[error("checkpoint {name}: the storage task did not finish")]
    Interrupted {
        /// Which checkpoint.
        name: String,
        /// Why.
        #[source]
        source: tokio::task::JoinError,
    },
}

/// Where checkpoints live: a local directory ([`LocalStore`]) or Blob
/// storage ([`BlobStore`]), the same protocol on both (docs/checkpoints.md).
/// Async, so that no implementation blocks the runtime's threads, and
/// object-safe: the pipeline and the tools hold an `Arc<dyn CheckpointStore>`.
#[async_trait::async_trait]
pub trait CheckpointStore: Send + Sync {
    /// The stored checkpoint of `source` for `tenant`, if any, with its
    /// committed journal read into [`Checkpoint::memory`].
    async fn load(&self, source: &str, tenant: &str)
    -> Result<Option<Checkpoint>, CheckpointError>;

    /// Writes `checkpoint` if the stored version is still `checkpoint.version`:
    /// the journal entries added to its memory since it was loaded or last
    /// saved, then the head that commits them. On success the version is
    /// incremented in place and the bytes written are returned (what the
    /// next save waits for: docs/checkpoints.md); on failure nothing the
    /// head does not commit is ever read.
    async fn save(
        &self,
        source: &str,
        tenant: &str,
        checkpoint: &mut Checkpoint,
    ) -> Result<u64, CheckpointError>;

    /// Takes the exclusive right to run cycles of `source` for `tenant`, or
    /// `None` if another instance holds it. The guard keeps the lease for as
    /// long as it lives (renewing it where leases expire) and gives it up
    /// when released or dropped.
    async fn try_lease(
        &self,
        source: &str,
        tenant: &str,
    ) -> Result<Option<Box<dyn LeaseGuard>>, CheckpointError>;

    /// The JavaScript version's checkpoint for a source, if present: the
    /// content of `<container>/last_successfull_fetch_on` (`auditlogstate`,
    /// `messagetracestate`), read on the first start.
    async fn legacy_timestamp(&self, container: &str) -> Result<Option<String>, CheckpointError>;

    /// What this store wrote and read so far.
    fn figures(&self) -> StoreFigures;

    /// Where the checkpoints are, for logs and messages.
    fn location(&self) -> String;
}

/// A held lease on one tenant and source.
#[async_trait::async_trait]
pub trait LeaseGuard: Send + Sync + std::fmt::Debug {
    /// Whether the lease is still known to be held: false once a renewal
    /// failed (another instance may then take it; the conditional writes
    /// keep the checkpoint whole even so).
    fn is_held(&self) -> bool;

    /// Gives the lease up now, so that the next instance need not wait for
    /// it to expire. Dropping the guard does the same, in the background.
    async fn release(self: Box<Self>);
}
