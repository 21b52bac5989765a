//! The lease of rule 1 on Blob storage: a blob lease on
//! `<source>/<tenant>/lease`, taken for a fixed duration (60 s by default)
//! and renewed in the background every third of it while the guard lives,
//! so a cycle of any length keeps it; released when the guard is released
//! or dropped. A process that dies stops renewing, and the lease lapses
//! within its duration.
//!
//! The lease is what keeps two instances from doing the same work; it is not
//! what keeps the checkpoint whole. A process paused longer than the lease
//! (a stopped VM, a long GC-like stall of the host) may find that another
//! instance took it: its next checkpoint write then fails on the head's ETag
//! (see the store), so a lost lease costs repeated work, never a lost or
//! corrupted checkpoint.

use super::errors;
use crate::azure::storage::{self, BlobAccount};
use crate::checkpoint::{CheckpointError, LeaseGuard};
use azure_storage_blob::models::{
    BlobClientAcquireLeaseResultHeaders, BlockBlobClientUploadOptions,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A held blob lease, renewed in the background.
#[derive(Debug)]
pub struct BlobLease {
    state: Arc<Held>,
    renewer: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Debug)]
struct Held {
    account: Arc<BlobAccount>,
    container: String,
    blob: String,
    lease_id: String,
    held: AtomicBool,
}

impl Held {
    async fn release(&self) {
        let result = match self.account.blob_client(&self.container, &self.blob) {
            Ok(client) => client
                .release_lease(self.lease_id.clone(), None)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(lease = %self.blob, "the lease could not be released ({e}); it lapses by itself");
        }
    }
}

/// Takes the lease on `blob` for `duration` (15 to 60 seconds), or `None`
/// if another instance holds it. Creates the empty lease blob on first use.
pub(super) async fn try_acquire(
    account: &Arc<BlobAccount>,
    container: &str,
    blob: &str,
    duration: Duration,
) -> Result<Option<BlobLease>, CheckpointError> {
    let fail =
        |action: &str, e| errors::storage(account, blob, format!("{action} {container}/{blob}"), e);
    let client = account
        .blob_client(container, blob)
        .map_err(|e| fail("addressing", e))?;
    let seconds = duration.as_secs().clamp(15, 60) as i32;
    for _ in 0..2 {
        match client.acquire_lease(seconds, None).await {
            Ok(response) => {
                let lease_id = response.lease_id().ok().flatten().ok_or_else(|| {
                    fail(
                        "leasing",
                        azure_core::Error::with_message(
                            azure_core::error::ErrorKind::DataConversion,
                            "the lease response has no x-ms-lease-id",
                        ),
                    )
                })?;
                let state = Arc::new(Held {
                    account: account.clone(),
                    container: container.to_string(),
                    blob: blob.to_string(),
                    lease_id,
                    held: AtomicBool::new(true),
                });
                let renewer =
                    tokio::spawn(renew(state.clone(), Duration::from_secs(seconds as u64)));
                return Ok(Some(BlobLease {
                    state,
                    renewer: Some(renewer),
                }));
            }
            Err(e) if storage::status(&e) == (Some(409), Some("LeaseAlreadyPresent")) => {
                return Ok(None);
            }
            Err(e) if storage::not_found(&e) => {
                let create = BlockBlobClientUploadOptions {
                    if_none_match: Some(azure_core::http::Etag::from("*")),
                    ..Default::default()
                };
                match client
                    .upload(bytes::Bytes::new().into(), Some(create))
                    .await
                {
                    Ok(_) => {}
                    // Created by another instance in between, or leased.
                    Err(e)
                        if storage::condition_failed(&e) || storage::status(&e).0 == Some(409) => {}
                    Err(e) => return Err(fail("creating the lease blob", e)),
                }
            }
            Err(e) => return Err(fail("leasing", e)),
        }
    }
    Ok(None)
}

/// Renews every third of `duration`; gives up, marking the lease lost,
/// when the service says another holder has it or when renewals failed for
/// a whole `duration`.
async fn renew(state: Arc<Held>, duration: Duration) {
    let every = duration / 3;
    let mut last_ok = Instant::now();
    loop {
        tokio::time::sleep(every).await;
        let result = match state.account.blob_client(&state.container, &state.blob) {
            Ok(client) => client
                .renew_lease(state.lease_id.clone(), None)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => last_ok = Instant::now(),
            Err(e) => {
                let taken = matches!(storage::status(&e).0, Some(409) | Some(412));
                if taken || last_ok.elapsed() >= duration {
                    tracing::warn!(lease = %state.blob, "the lease is lost ({e}); another instance may run this tenant and source now, and this one's checkpoint writes will be refused if it does");
                    state.held.store(false, Ordering::SeqCst);
                    return;
                }
                tracing::warn!(lease = %state.blob, "renewing the lease failed ({e}); trying again");
            }
        }
    }
}

#[async_trait::async_trait]
impl LeaseGuard for BlobLease {
    fn is_held(&self) -> bool {
        self.state.held.load(Ordering::SeqCst)
    }

    async fn release(mut self: Box<Self>) {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
        if self.is_held() {
            self.state.release().await;
        }
    }
}

impl Drop for BlobLease {
    fn drop(&mut self) {
        let Some(renewer) = self.renewer.take() else {
            return; // released
        };
        renewer.abort();
        if self.is_held()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let state = self.state.clone();
            runtime.spawn(async move { state.release().await });
        }
    }
}
