//! Scale-out across instances (issue #15): planning a cycle and running it
//! are separated by an Azure Storage queue in the storage account that
//! already holds the checkpoints, so the platform (the Functions host
//! scaling on queue length, or however many `o365-host worker` containers
//! run) decides how many instances work, and nothing here schedules them.
//!
//! - [`settings`]: `O365_CYCLE_QUEUE` (off by default: the timer runs the
//!   cycles itself, as a single instance always did), attempts, visibility;
//! - [`message`]: a cycle request (tenant and source) and a poison record
//!   (the request, the cause and the fix);
//! - [`queue`]: the cycle queue and its poison queue (`azure_storage_queue`);
//! - [`marker`]: the "pending" marker that keeps a tenant and source from
//!   being enqueued twice while a request for it waits or runs;
//! - [`planner`]: one request per due tenant and source;
//! - [`diagnosis`]: the fix for a cause (revoked consent, deleted app, ...);
//! - [`consumer`]: one request run as one cycle, and what becomes of the
//!   message (done, retried later, continued, poisoned);
//! - [`worker`]: the plain queue consumer behind `o365-host worker`.
//!
//! One writer per tenant and source is not this module's job: the cycle
//! takes the checkpoint's blob lease and writes with ETags (`crate::checkpoint`),
//! so a duplicated or redelivered request costs a repeat (the second cycle
//! finds the lease held and reports `skipped_busy`, or starts from the
//! first one's checkpoint), never a loss. Budgets stay per tenant for the
//! same reason: only the lease holder of a tenant and source sends requests
//! for it (`crate::gate::budget`). The design and its figures are in
//! `docs/scale.md`.

pub mod consumer;
pub mod diagnosis;
pub mod marker;
pub mod message;
pub mod planner;
pub mod queue;
pub mod settings;
pub mod worker;

pub use consumer::{Handled, Outcome, run_request};
pub use marker::PendingMarkers;
pub use message::{CycleRequest, PoisonRecord};
pub use planner::{PlanReport, plan, plan_these};
pub use queue::{CycleQueue, Received};
pub use settings::{FUNCTIONS_QUEUE, QueueSettings};

/// Everything a planner or consumer needs besides the deployment: the
/// queues, the markers and the settings, opened from the settings.
pub struct ScaleOut {
    /// The cycle queue and its poison queue.
    pub queue: CycleQueue,
    /// The pending markers.
    pub markers: PendingMarkers,
    /// The queue settings.
    pub settings: QueueSettings,
}

impl ScaleOut {
    /// Opens the queues (creating them if missing) and the markers in the
    /// checkpoint container, or `None` when `O365_CYCLE_QUEUE` is off.
    /// Errors name the setting and the fix (no storage account, no Queue
    /// endpoint, a missing role).
    pub async fn from_settings(
        settings: &crate::settings::SettingsSource,
    ) -> anyhow::Result<Option<Self>> {
        let Some(queue_settings) = QueueSettings::from_settings(settings)? else {
            return Ok(None);
        };
        let Some(account) = crate::azure::storage::BlobAccount::from_settings(settings)? else {
            anyhow::bail!(
                "{} = `{}` needs a storage account: set AzureWebJobsStorage (a connection string) or \
                 AzureWebJobsStorage__accountName, whose queues carry the cycle requests and whose \
                 blobs hold the checkpoints; or remove {} to run cycles on this instance only",
                settings::QUEUE_SETTING,
                queue_settings.queue,
                settings::QUEUE_SETTING
            );
        };
        let account = std::sync::Arc::new(account);
        let queue = CycleQueue::new(account.clone(), &queue_settings)?;
        queue.ensure().await?;
        let container = settings
            .get(crate::checkpoint::CONTAINER_SETTING)
            .unwrap_or_else(|| crate::checkpoint::blob::DEFAULT_CONTAINER.to_string());
        let markers = PendingMarkers::new(account, container.trim());
        Ok(Some(Self {
            queue,
            markers,
            settings: queue_settings,
        }))
    }
}
