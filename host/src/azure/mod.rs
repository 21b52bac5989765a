//! What every Azure client of the host shares: the credential it reaches
//! Key Vault, Blob storage and Event Hubs with, the HTTP transport, and the
//! storage account its state lives in ([`storage`]).
//!
//! Never a key in settings: on Azure the app's managed identity (the
//! Functions host sets `IDENTITY_ENDPOINT`; `AZURE_CLIENT_ID` picks a
//! user-assigned identity), elsewhere the developer's own sign-in (`az login`
//! or `azd auth login`). The credential for the Microsoft 365 APIs is a
//! different one (the app registration's, `crate::tokens`).

pub mod storage;
mod transport;

pub use transport::client_options;

use crate::settings::SettingsSource;
use anyhow::Context as _;
use azure_core::credentials::TokenCredential;
use azure_identity::{
    DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId,
};
use std::sync::Arc;

/// Which identity the host uses for Azure resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AzureIdentity {
    /// The app's managed identity; `Some(client id)` for a user-assigned one.
    Managed(Option<String>),
    /// The developer's `az` or `azd` sign-in.
    Developer,
}

impl AzureIdentity {
    /// Managed identity where the platform offers one (`IDENTITY_ENDPOINT`
    /// or `MSI_ENDPOINT` set, as on Functions and App Service), otherwise
    /// the developer's sign-in. `AZURE_CLIENT_ID` names a user-assigned
    /// identity.
    pub fn from_settings(settings: &SettingsSource) -> Self {
        let on_platform =
            settings.get("IDENTITY_ENDPOINT").is_some() || settings.get("MSI_ENDPOINT").is_some();
        if on_platform {
            Self::Managed(settings.get("AZURE_CLIENT_ID"))
        } else {
            Self::Developer
        }
    }

    /// The credential for this identity.
    pub fn credential(&self) -> anyhow::Result<Arc<dyn TokenCredential>> {
        Ok(match self {
            Self::Managed(client_id) => {
                ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                    ..Default::default()
                }))
                .context("the managed identity credential could not be set up")?
            }
            Self::Developer => DeveloperToolsCredential::new(None)
                .context("the developer credential (az / azd sign-in) could not be set up")?,
        })
    }
}
