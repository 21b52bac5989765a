//! Journal segments on Blob storage: append blobs, created with
//! `If-None-Match: *` so that a new segment never replaces an existing one
//! (whose content some head may name), and appended to only at the committed
//! length (`x-ms-blob-condition-appendpos`), so that an append lands right
//! after what a head commits or not at all.

use super::{APPEND_BLOCK, BlobStore, SEGMENT_TRIES, corrupt};
use crate::azure::storage;
use crate::checkpoint::head::{Prepared, prepare_rewrite};
use crate::checkpoint::journal::JournalWrite;
use crate::checkpoint::{Checkpoint, CheckpointError};
use azure_core::http::{Etag, RequestContent};
use azure_storage_blob::models::{
    AppendBlobClientAppendBlockOptions, AppendBlobClientCreateOptions,
};

/// What an append found.
pub(super) enum Appended {
    /// Appended.
    Done,
    /// The segment is longer than the head commits (or full): write a new one.
    PositionTaken,
}

impl BlobStore {
    /// Appends `data` to a segment whose committed length is `at`.
    pub(super) async fn append(
        &self,
        name: &str,
        segment: u64,
        at: u64,
        data: &[u8],
    ) -> Result<Appended, CheckpointError> {
        let blob = Self::segment_blob(name, segment);
        let client = self.client(name, &blob)?.append_blob_client();
        let mut position = at;
        for block in data.chunks(APPEND_BLOCK) {
            let options = AppendBlobClientAppendBlockOptions {
                append_position: Some(position as i64),
                ..Default::default()
            };
            let content: RequestContent<bytes::Bytes, _> =
                bytes::Bytes::copy_from_slice(block).into();
            match client
                .append_block(content, block.len() as u64, Some(options))
                .await
            {
                Ok(_) => position += block.len() as u64,
                Err(e) if position == 0 && storage::not_found(&e) => {
                    // A new segment: create it (never over an existing one).
                    if !self.create_segment(name, segment).await? {
                        return Ok(Appended::PositionTaken);
                    }
                    let content: RequestContent<bytes::Bytes, _> =
                        bytes::Bytes::copy_from_slice(block).into();
                    let options = AppendBlobClientAppendBlockOptions {
                        append_position: Some(0),
                        ..Default::default()
                    };
                    match client
                        .append_block(content, block.len() as u64, Some(options))
                        .await
                    {
                        Ok(_) => position += block.len() as u64,
                        Err(e) if position_taken(&e) => return Ok(Appended::PositionTaken),
                        Err(e) => return Err(self.fail(name, &format!("appending to {blob}"), e)),
                    }
                }
                Err(e) if position_taken(&e) => return Ok(Appended::PositionTaken),
                Err(e) => return Err(self.fail(name, &format!("appending to {blob}"), e)),
            }
        }
        Ok(Appended::Done)
    }

    /// Creates an empty segment blob; false if one of that number exists.
    pub(super) async fn create_segment(
        &self,
        name: &str,
        segment: u64,
    ) -> Result<bool, CheckpointError> {
        let blob = Self::segment_blob(name, segment);
        let options = AppendBlobClientCreateOptions {
            if_none_match: Some(Etag::from("*")),
            blob_content_type: Some("application/x-ndjson".into()),
            ..Default::default()
        };
        match self
            .client(name, &blob)?
            .append_blob_client()
            .create(Some(options))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if storage::condition_failed(&e) || storage::status(&e).0 == Some(409) => {
                Ok(false)
            }
            Err(e) => Err(self.fail(name, &format!("creating {blob}"), e)),
        }
    }

    /// Writes every live entry to a new segment, numbered from `first` up,
    /// skipping numbers taken; the number used and the taken ones (to
    /// remove once a head names the new one).
    pub(super) async fn write_new_segment(
        &self,
        name: &str,
        checkpoint: &mut Checkpoint,
        first: u64,
    ) -> Result<(Prepared, Vec<u64>), CheckpointError> {
        let mut taken = Vec::new();
        for segment in first..first + SEGMENT_TRIES {
            if !self.create_segment(name, segment).await? {
                taken.push(segment);
                continue;
            }
            let prepared = prepare_rewrite(name, checkpoint, segment)?;
            let JournalWrite::Rewrite { data, .. } = &prepared.write else {
                unreachable!("prepare_rewrite rewrites");
            };
            return match self.append(name, segment, 0, data).await? {
                Appended::Done => Ok((prepared, taken)),
                // Only the creator appends at 0 to a segment it created.
                Appended::PositionTaken => Err(self.conflict(name, checkpoint.version).await),
            };
        }
        Err(corrupt(
            name,
            format!(
                "journal segments {first} to {} all exist though no head names them; remove the unreferenced {name}/journal.* blobs",
                first + SEGMENT_TRIES - 1
            ),
        ))
    }

    /// Removes segments no head will name again; a failure only leaves an
    /// unreferenced blob.
    pub(super) async fn remove_segments(&self, name: &str, segments: &[u64]) {
        for segment in segments {
            let blob = Self::segment_blob(name, *segment);
            let result = match self.account.blob_client(&self.container, &blob) {
                Ok(client) => client.delete(None).await.map(|_| ()),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {}
                Err(e) if storage::not_found(&e) => {}
                Err(e) => {
                    tracing::warn!(checkpoint = %name, "could not remove the replaced journal segment {blob}: {e}")
                }
            }
        }
    }
}

/// An append refused because the segment is not at the committed length,
/// or cannot take more blocks.
fn position_taken(e: &azure_core::Error) -> bool {
    matches!(
        storage::status(e),
        (Some(412), _) | (Some(409), Some("BlockCountExceedsLimit"))
    )
}
