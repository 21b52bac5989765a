//! Reading a checkpoint from Blob storage: the head, then only the range
//! of the journal segment that the head commits.

use super::{BlobStore, corrupt};
use crate::azure::storage;
use crate::checkpoint::head::decode_head;
use crate::checkpoint::journal;
use crate::checkpoint::{Checkpoint, CheckpointError};
use azure_core::http::Etag;
use azure_storage_blob::models::{BlobClientDownloadOptions, HttpRange};

impl BlobStore {
    /// Downloads a whole blob (or `range` of it); `None` if it does not exist.
    pub(super) async fn download(
        &self,
        name: &str,
        container: &str,
        blob: &str,
        range: Option<HttpRange>,
    ) -> Result<Option<(Vec<u8>, Option<Etag>)>, CheckpointError> {
        let client = self
            .account
            .blob_client(container, blob)
            .map_err(|e| self.fail(name, &format!("addressing {blob}"), e))?;
        let options = BlobClientDownloadOptions {
            range,
            ..Default::default()
        };
        let action = format!("reading {blob}");
        let response = match client.download(Some(options)).await {
            Ok(response) => response,
            Err(e) if storage::not_found(&e) => return Ok(None),
            Err(e) => return Err(self.fail(name, &action, e)),
        };
        let etag = response.properties.etag.clone();
        let bytes = response
            .body
            .collect()
            .await
            .map_err(|e| self.fail(name, &action, e))?;
        self.stats.read(bytes.len() as u64);
        Ok(Some((bytes.to_vec(), etag)))
    }

    pub(super) async fn read_head(
        &self,
        name: &str,
    ) -> Result<Option<(Checkpoint, Etag)>, CheckpointError> {
        let blob = Self::head_blob(name);
        let Some((bytes, etag)) = self.download(name, &self.container, &blob, None).await? else {
            return Ok(None);
        };
        let checkpoint = decode_head(&bytes).map_err(|e| corrupt(name, format!("{blob}: {e}")))?;
        let etag = etag.ok_or_else(|| corrupt(name, format!("{blob} came without an ETag")))?;
        Ok(Some((checkpoint, etag)))
    }

    /// Reads the committed journal into `checkpoint.memory`; false if its
    /// segment is gone (compacted since the head was read).
    pub(super) async fn read_journal(
        &self,
        name: &str,
        checkpoint: &mut Checkpoint,
    ) -> Result<bool, CheckpointError> {
        let head = checkpoint.journal;
        if head.bytes == 0 {
            return Ok(true);
        }
        let blob = Self::segment_blob(name, head.segment);
        let range = HttpRange::new(0, head.bytes);
        let bytes = match self
            .download(name, &self.container, &blob, Some(range))
            .await
        {
            Ok(Some((bytes, _))) => bytes,
            Ok(None) => return Ok(false),
            Err(CheckpointError::Storage { source, .. })
                if storage::status(&source).0 == Some(416) =>
            {
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        if (bytes.len() as u64) < head.bytes {
            return Err(corrupt(
                name,
                format!(
                    "{blob} holds {} bytes, but the head commits {}: the journal was truncated",
                    bytes.len(),
                    head.bytes
                ),
            ));
        }
        let entries = journal::decode(&bytes[..head.bytes as usize], &mut checkpoint.memory)
            .map_err(|e| corrupt(name, format!("{blob}: {e}")))?;
        if entries != head.entries {
            return Err(corrupt(
                name,
                format!(
                    "{blob} holds {entries} entries where the head commits {}",
                    head.entries
                ),
            ));
        }
        Ok(true)
    }
}
