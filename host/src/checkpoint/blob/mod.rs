//! Checkpoints in Azure Blob storage: the local store's protocol (a small
//! head committing an append-only journal, docs/checkpoints.md) on blobs in
//! one container (`O365_CHECKPOINT_CONTAINER`, default `o365-checkpoints`):
//!
//! - `<source>/<tenant>/checkpoint.json`, the head, a block blob rewritten
//!   whole by every save, **conditionally**: `If-Match` the ETag this store
//!   read or wrote last, `If-None-Match: *` when it creates it. Of two
//!   writers that read the same version, one wins and the other gets `412`,
//!   which is [`CheckpointError::Conflict`]: the head never goes backwards
//!   and is never advanced twice from one version.
//! - `<source>/<tenant>/journal.<n>`, the journal segments, append blobs
//!   created with `If-None-Match: *` (never overwritten) and appended to
//!   only at the committed length (`x-ms-blob-condition-appendpos`) before
//!   the head that commits them is written. Readers read only the committed
//!   range. A tail no head commits (a crash between the append and the head,
//!   or a writer that lost the head's race) cannot be cut off an append
//!   blob: the next save finds the append position taken and writes the live
//!   entries to a fresh segment instead (a compaction, once).
//! - `<source>/<tenant>/lease`, an empty blob whose blob lease is the lease
//!   of rule 1 (`lease`).
//!
//! A save therefore uploads the head plus the entries added since the
//! previous save, as the local store writes them.

mod errors;
mod lease;
mod reads;
mod segments;

pub use lease::BlobLease;

use super::head::{checked_name, finish, prepare, stored_version};
use super::journal::JournalWrite;
use super::{
    Checkpoint, CheckpointError, CheckpointStore, LEGACY_BLOB, LeaseGuard, StoreFigures, StoreStats,
};
use crate::azure::storage::{self, BlobAccount};
use azure_core::http::Etag;
use azure_storage_blob::models::BlockBlobClientUploadOptions;
use segments::Appended;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The default container.
pub const DEFAULT_CONTAINER: &str = "o365-checkpoints";
/// The default lease duration; renewed every third of it.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// The largest block one append sends (the service takes up to 100 MiB
/// with recent versions, Azurite 4 MiB).
const APPEND_BLOCK: usize = 4 << 20;
/// Segment numbers a save tries before giving up (each taken one is a
/// leftover of a crashed compaction or a racing writer's).
const SEGMENT_TRIES: u64 = 16;

/// Checkpoints in one container of a storage account.
pub struct BlobStore {
    account: Arc<BlobAccount>,
    container: String,
    lease: Duration,
    stats: Arc<StoreStats>,
    /// The head's version and ETag as this store last read or wrote them,
    /// by checkpoint: what the next conditional write names.
    etags: Mutex<HashMap<String, (u64, Etag)>>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BlobStore({:?}, container {})",
            self.account, self.container
        )
    }
}

/// How a head write is conditioned.
enum Condition {
    /// No head yet: `If-None-Match: *`.
    Create,
    /// `If-Match` the ETag of the version read.
    Match(Etag),
}

impl BlobStore {
    /// A store in `container` of `account` (no request yet; see
    /// [`BlobStore::ensure_container`]).
    pub fn new(account: Arc<BlobAccount>, container: &str) -> Self {
        Self {
            account,
            container: container.to_string(),
            lease: DEFAULT_LEASE,
            stats: Arc::default(),
            etags: Mutex::default(),
        }
    }

    /// The lease duration (15 to 60 seconds, as Blob storage allows).
    pub fn with_lease_duration(mut self, lease: Duration) -> Self {
        self.lease = lease.clamp(Duration::from_secs(15), Duration::from_secs(60));
        self
    }

    /// The account.
    pub fn account(&self) -> &Arc<BlobAccount> {
        &self.account
    }

    /// The container.
    pub fn container(&self) -> &str {
        &self.container
    }

    /// Creates the container if it does not exist; the first request, so its
    /// error says whether the account, the key or the role is wrong.
    pub async fn ensure_container(&self) -> Result<(), CheckpointError> {
        let name = format!("container {}", self.container);
        let client = self
            .account
            .container_client(&self.container)
            .map_err(|e| self.fail(&name, "addressing", e))?;
        match client.create(None).await {
            Ok(_) => {
                tracing::info!(container = %self.container, "created the checkpoint container");
                Ok(())
            }
            Err(e) if storage::status(&e) == (Some(409), Some("ContainerAlreadyExists")) => Ok(()),
            Err(e) => Err(self.fail(&name, "creating the container", e)),
        }
    }

    fn fail(&self, name: &str, action: &str, e: azure_core::Error) -> CheckpointError {
        errors::storage(
            &self.account,
            name,
            format!("{action} in {}", self.container),
            e,
        )
    }

    fn head_blob(name: &str) -> String {
        format!("{name}/checkpoint.json")
    }

    fn segment_blob(name: &str, segment: u64) -> String {
        format!("{name}/journal.{segment}")
    }

    fn client(
        &self,
        name: &str,
        blob: &str,
    ) -> Result<azure_storage_blob::BlobClient, CheckpointError> {
        self.account
            .blob_client(&self.container, blob)
            .map_err(|e| self.fail(name, &format!("addressing {blob}"), e))
    }

    fn remember_etag(&self, name: &str, version: u64, etag: Etag) {
        self.etags
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), (version, etag));
    }

    /// How the head write for a checkpoint read at `expected` is
    /// conditioned: the ETag this store knows for that version, or the
    /// stored head's if it is still that version.
    async fn condition(&self, name: &str, expected: u64) -> Result<Condition, CheckpointError> {
        let known = self
            .etags
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned();
        if let Some((version, etag)) = known
            && version == expected
        {
            return Ok(Condition::Match(etag));
        }
        let blob = Self::head_blob(name);
        match self.download(name, &self.container, &blob, None).await? {
            None if expected == 0 => Ok(Condition::Create),
            None => Err(CheckpointError::Conflict {
                name: name.to_string(),
                expected,
                found: 0,
            }),
            Some((bytes, etag)) => {
                let found =
                    stored_version(&bytes).map_err(|e| corrupt(name, format!("{blob}: {e}")))?;
                match etag {
                    Some(etag) if found == expected => Ok(Condition::Match(etag)),
                    _ => Err(CheckpointError::Conflict {
                        name: name.to_string(),
                        expected,
                        found,
                    }),
                }
            }
        }
    }

    /// A conflict, with the version now stored.
    async fn conflict(&self, name: &str, expected: u64) -> CheckpointError {
        let found = match self.read_head(name).await {
            Ok(Some((checkpoint, _))) => checkpoint.version,
            _ => 0,
        };
        CheckpointError::Conflict {
            name: name.to_string(),
            expected,
            found,
        }
    }
}

fn corrupt(name: &str, message: String) -> CheckpointError {
    CheckpointError::Corrupt {
        name: name.to_string(),
        message,
    }
}

#[async_trait::async_trait]
impl CheckpointStore for BlobStore {
    async fn load(
        &self,
        source: &str,
        tenant: &str,
    ) -> Result<Option<Checkpoint>, CheckpointError> {
        let name = checked_name(source, tenant)?;
        // A compaction between reading the head and its segment removes the
        // segment; the head read again names the new one.
        for _ in 0..3 {
            let Some((mut checkpoint, etag)) = self.read_head(&name).await? else {
                return Ok(None);
            };
            if self.read_journal(&name, &mut checkpoint).await? {
                self.remember_etag(&name, checkpoint.version, etag);
                return Ok(Some(checkpoint));
            }
        }
        Err(corrupt(
            &name,
            "the head names a journal segment that does not exist".into(),
        ))
    }

    async fn save(
        &self,
        source: &str,
        tenant: &str,
        checkpoint: &mut Checkpoint,
    ) -> Result<u64, CheckpointError> {
        let name = checked_name(source, tenant)?;
        let condition = self.condition(&name, checkpoint.version).await?;
        let mut prepared = prepare(&name, checkpoint)?;
        let mut removable = Vec::new();
        // A segment this save created: only its head can ever name it.
        let mut created = None;
        match &prepared.write {
            JournalWrite::Nothing => {}
            JournalWrite::Append { segment, at, data } => {
                let (segment, at) = (*segment, *at);
                if let Appended::PositionTaken = self.append(&name, segment, at, data).await? {
                    // Another writer appended first: if it also wrote its
                    // head, this save has lost the race.
                    let conflict = self.conflict(&name, prepared.expected).await;
                    if !matches!(conflict, CheckpointError::Conflict { found, .. } if found == prepared.expected)
                    {
                        return Err(conflict);
                    }
                    tracing::info!(checkpoint = %name, "the journal segment holds entries no head commits (a save interrupted before its head, or a writer still racing this one); writing the live entries to a new segment");
                    let (rewritten, taken) = self
                        .write_new_segment(&name, checkpoint, segment + 1)
                        .await?;
                    prepared = rewritten;
                    created = Some(prepared.journal.segment);
                    removable.push(segment);
                    removable.extend(taken);
                }
            }
            JournalWrite::Rewrite {
                segment, replaces, ..
            } => {
                let replaces = *replaces;
                let (rewritten, taken) =
                    self.write_new_segment(&name, checkpoint, *segment).await?;
                prepared = rewritten;
                created = Some(prepared.journal.segment);
                removable.push(replaces);
                removable.extend(taken);
            }
        }
        let blob = Self::head_blob(&name);
        let options = BlockBlobClientUploadOptions {
            if_match: match &condition {
                Condition::Match(etag) => Some(etag.clone()),
                Condition::Create => None,
            },
            if_none_match: match condition {
                Condition::Create => Some(Etag::from("*")),
                Condition::Match(_) => None,
            },
            blob_content_type: Some("application/json".into()),
            ..Default::default()
        };
        let client = self.client(&name, &blob)?;
        let written = match client
            .upload(
                bytes::Bytes::from(prepared.head.clone()).into(),
                Some(options),
            )
            .await
        {
            Ok(written) => written,
            Err(e) if storage::condition_failed(&e) => {
                // The segment this save created is named by no head, now or
                // later: remove it rather than leave it to a compaction.
                self.remove_segments(&name, created.as_slice()).await;
                return Err(self.conflict(&name, prepared.expected).await);
            }
            Err(e) => return Err(self.fail(&name, &format!("writing {blob}"), e)),
        };
        let compacted = matches!(prepared.write, JournalWrite::Rewrite { .. });
        self.stats.saved(prepared.bytes(), compacted);
        finish(checkpoint, &prepared);
        match written.etag {
            Some(etag) => self.remember_etag(&name, checkpoint.version, etag),
            None => {
                self.etags
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&name);
            }
        }
        // Only segments below the one the head now names, or taken ones it
        // skipped: no later head names them.
        removable.retain(|s| *s != prepared.journal.segment);
        self.remove_segments(&name, &removable).await;
        Ok(prepared.bytes())
    }

    async fn try_lease(
        &self,
        source: &str,
        tenant: &str,
    ) -> Result<Option<Box<dyn LeaseGuard>>, CheckpointError> {
        let name = checked_name(source, tenant)?;
        let lease = lease::try_acquire(
            &self.account,
            &self.container,
            &format!("{name}/lease"),
            self.lease,
        )
        .await?;
        Ok(lease.map(|l| Box::new(l) as Box<dyn LeaseGuard>))
    }

    /// Reads blob `last_successfull_fetch_on` of container `container`
    /// (`auditlogstate`, `messagetracestate`) in the same account, where the
    /// JavaScript version kept it.
    async fn legacy_timestamp(&self, container: &str) -> Result<Option<String>, CheckpointError> {
        let name = format!("{container}/{LEGACY_BLOB}");
        match self.download(&name, container, LEGACY_BLOB, None).await? {
            Some((bytes, _)) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            None => Ok(None),
        }
    }

    fn figures(&self) -> StoreFigures {
        self.stats.figures()
    }

    fn location(&self) -> String {
        format!(
            "Blob container {} at {}",
            self.container,
            self.account.endpoint()
        )
    }
}
