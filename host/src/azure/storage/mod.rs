//! The storage account the host keeps its state in: checkpoints
//! (`crate::checkpoint::blob`), the component registry
//! (`crate::registry::blob`) and, when the deployment scales out, the queue
//! and markers of `crate::scale`. One account, found from the settings a
//! Function App already has for its own storage, and one way to authorize
//! requests to it (an account key signed into short-lived SAS tokens, a
//! SAS, or an Entra ID token), shared by every user.

mod account;
mod sas;
mod status;

pub use account::{
    ACCOUNT_NAME_SETTING, BlobAccount, CONNECTION_SETTING, QUEUE_SERVICE_URI_SETTING,
    SERVICE_URI_SETTING,
};
#[cfg(test)]
pub(crate) use status::refused;
pub(crate) use status::{Service, condition_failed, explain, not_found, status};
