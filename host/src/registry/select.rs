//! Which registry a host uses, from `O365_COMPONENT_REGISTRY`:
//!
//! - unset: the Blob container `components` when checkpoints are in a
//!   storage account (a Function App), else the directory
//!   `.o365-components`;
//! - `blob` or `blob:<container>`: that container of the checkpoint
//!   storage account (`AzureWebJobsStorage…`);
//! - `none`: no registry; components come from the settings and the
//!   embedded versions only;
//! - anything else: a directory.

use super::{BlobRegistry, DEFAULT_CONTAINER, Registry};
use crate::azure::storage::BlobAccount;
use crate::settings::SettingsSource;
use anyhow::bail;
use std::path::PathBuf;
use std::sync::Arc;

/// The setting.
pub const REGISTRY_SETTING: &str = "O365_COMPONENT_REGISTRY";

/// The directory used when nothing is set and there is no storage account.
pub const DEFAULT_DIRECTORY: &str = ".o365-components";

/// The registry the settings choose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryChoice {
    /// None.
    Off,
    /// A local directory.
    Directory(PathBuf),
    /// A container of the checkpoint storage account.
    Blob(String),
}

impl RegistryChoice {
    /// Reads the choice; `blob_account` says whether a storage account is
    /// configured (the default depends on it).
    pub fn from_settings(settings: &SettingsSource, blob_account: bool) -> anyhow::Result<Self> {
        let Some(value) = settings.get(REGISTRY_SETTING) else {
            return Ok(if blob_account {
                Self::Blob(DEFAULT_CONTAINER.into())
            } else {
                Self::Directory(DEFAULT_DIRECTORY.into())
            });
        };
        let value = value.trim();
        Ok(match value {
            "" => bail!(
                "{REGISTRY_SETTING} is empty; give a directory, `blob`, `blob:<container>` or `none`"
            ),
            "none" | "off" => Self::Off,
            "blob" => Self::Blob(DEFAULT_CONTAINER.into()),
            _ => match value.strip_prefix("blob:") {
                Some(container) => {
                    if !crate::checkpoint::valid_storage_name(container) {
                        bail!(
                            "{REGISTRY_SETTING} = `{value}`: `{container}` is not a Blob container name (3-63 lowercase letters, digits and single hyphens, not at either end)"
                        );
                    }
                    Self::Blob(container.into())
                }
                None => Self::Directory(value.into()),
            },
        })
    }
}

/// The registry the settings choose, or `None` when it is off.
pub fn registry_from_settings(settings: &SettingsSource) -> anyhow::Result<Option<Registry>> {
    let account = BlobAccount::from_settings(settings)?;
    let choice = RegistryChoice::from_settings(settings, account.is_some())?;
    Ok(match choice {
        RegistryChoice::Off => None,
        RegistryChoice::Directory(dir) => Some(Registry::local(dir)),
        RegistryChoice::Blob(container) => {
            let Some(account) = account else {
                bail!(
                    "{REGISTRY_SETTING} chooses a Blob container, but no storage account is configured: set AzureWebJobsStorage (or AzureWebJobsStorage__accountName), or use a directory"
                );
            };
            Some(Registry::new(Arc::new(BlobRegistry::new(
                Arc::new(account),
                &container,
            ))))
        }
    })
}
