//! The "pending" marker: a small blob `<source>/<tenant>/queued` next to the
//! checkpoint, which keeps a tenant and source from being enqueued twice
//! while a request for it waits or runs.
//!
//! Why a marker and not the lease: the checkpoint's lease shows a cycle
//! that *runs*, but not a request that *waits* in the queue (a backlog of a
//! thousand tenants waits for minutes); and why not the queue itself: a
//! queue cannot be searched. The planner creates the marker conditionally
//! (`If-None-Match: *`), so of several planners (one timer per instance,
//! or several workers) exactly one enqueues; the consumer deletes it when
//! the request is done or poisoned. The marker carries an expiry, so a
//! marker left behind by a request that vanished (deleted by hand, or by an
//! instance killed between deleting the request and the marker) holds its
//! tenant back for at most [`PENDING_EXPIRY`]: a delay, never a loss, since
//! the checkpoint says where the next cycle starts. A poisoned tenant's
//! marker is rewritten to hold it for [`POISON_HOLD`], so a tenant whose
//! consent was revoked is retried hourly rather than failing every cycle.

use crate::azure::storage::{BlobAccount, condition_failed, not_found};
use anyhow::Context as _;
use azure_core::http::Etag;
use azure_storage_blob::models::BlockBlobClientUploadOptions;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How long a pending marker holds its tenant and source at most.
pub const PENDING_EXPIRY: Duration = Duration::from_secs(3600);
/// How long a poisoned tenant and source is not planned again.
pub const POISON_HOLD: Duration = Duration::from_secs(3600);

/// What the planner found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The marker is ours: enqueue the request.
    Claimed,
    /// A request is pending or running (until the time given, ms).
    Pending(i64),
    /// The tenant and source were poisoned; held until the time given (ms).
    Poisoned(i64),
}

#[derive(Serialize, Deserialize)]
struct Marker {
    /// `pending` or `poisoned`.
    state: String,
    /// Until when it holds (ms since the epoch).
    until: i64,
}

/// The markers, in the checkpoint container.
pub struct PendingMarkers {
    account: Arc<BlobAccount>,
    container: String,
}

impl PendingMarkers {
    /// Markers in `container` of `account`.
    pub fn new(account: Arc<BlobAccount>, container: &str) -> Self {
        Self {
            account,
            container: container.to_string(),
        }
    }

    fn blob(source: &str, tenant: &str) -> String {
        format!("{source}/{tenant}/queued")
    }

    /// Claims the marker of `tenant` and `source` at `now_ms`: creates it,
    /// or takes it over when it has expired. Exactly one of several
    /// concurrent claimers gets [`Claim::Claimed`].
    pub async fn claim(&self, source: &str, tenant: &str, now_ms: i64) -> anyhow::Result<Claim> {
        let name = Self::blob(source, tenant);
        let client = self.account.blob_client(&self.container, &name)?;
        let body = serde_json::to_vec(&Marker {
            state: "pending".into(),
            until: now_ms + PENDING_EXPIRY.as_millis() as i64,
        })?;
        let create = BlockBlobClientUploadOptions {
            if_none_match: Some(Etag::from("*")),
            ..Default::default()
        };
        match client
            .upload(bytes::Bytes::from(body.clone()).into(), Some(create))
            .await
        {
            Ok(_) => return Ok(Claim::Claimed),
            Err(e) if condition_failed(&e) => {}
            Err(e) => return Err(e).with_context(|| self.context(&name, "creating")),
        }
        let response = match client.download(None).await {
            Ok(response) => response,
            // Released between the two requests: the next plan claims it.
            Err(e) if not_found(&e) => return Ok(Claim::Pending(now_ms)),
            Err(e) => return Err(e).with_context(|| self.context(&name, "reading")),
        };
        let etag = response.properties.etag.clone();
        let bytes = response
            .body
            .collect()
            .await
            .with_context(|| self.context(&name, "reading"))?;
        let marker: Marker = serde_json::from_slice(&bytes).unwrap_or(Marker {
            state: "pending".into(),
            until: 0,
        });
        if marker.until > now_ms {
            return Ok(if marker.state == "poisoned" {
                Claim::Poisoned(marker.until)
            } else {
                Claim::Pending(marker.until)
            });
        }
        let Some(etag) = etag else {
            return Ok(Claim::Pending(marker.until));
        };
        let take_over = BlockBlobClientUploadOptions {
            if_match: Some(etag),
            ..Default::default()
        };
        match client
            .upload(bytes::Bytes::from(body).into(), Some(take_over))
            .await
        {
            Ok(_) => {
                tracing::info!(source, tenant, "an expired pending marker was taken over");
                Ok(Claim::Claimed)
            }
            Err(e) if condition_failed(&e) || not_found(&e) => Ok(Claim::Pending(now_ms)),
            Err(e) => Err(e).with_context(|| self.context(&name, "taking over")),
        }
    }

    /// Deletes the marker: the request is done.
    pub async fn release(&self, source: &str, tenant: &str) -> anyhow::Result<()> {
        let name = Self::blob(source, tenant);
        match self
            .account
            .blob_client(&self.container, &name)?
            .delete(None)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(e).with_context(|| self.context(&name, "deleting")),
        }
    }

    /// Rewrites the marker as poisoned, holding the tenant and source back
    /// for [`POISON_HOLD`] from `now_ms`.
    pub async fn hold_poisoned(
        &self,
        source: &str,
        tenant: &str,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let name = Self::blob(source, tenant);
        let body = serde_json::to_vec(&Marker {
            state: "poisoned".into(),
            until: now_ms + POISON_HOLD.as_millis() as i64,
        })?;
        self.account
            .blob_client(&self.container, &name)?
            .upload(bytes::Bytes::from(body).into(), None)
            .await
            .with_context(|| self.context(&name, "writing"))?;
        Ok(())
    }

    fn context(&self, name: &str, action: &str) -> String {
        format!(
            "{action} the pending marker {}/{name} in {} ({})",
            self.container,
            self.account.endpoint(),
            self.account.setting()
        )
    }
}
