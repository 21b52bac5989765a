//! Which checkpoint store a deployment uses, from its settings: Blob storage
//! when the Function App's storage settings are present (as they always are
//! on Azure Functions), else the local directory.

use super::blob::{BlobStore, DEFAULT_CONTAINER, DEFAULT_LEASE};
use super::{CheckpointStore, LocalStore};
use crate::azure::storage::BlobAccount;
use crate::settings::{SettingsSource, parse_duration};
use anyhow::{Context as _, bail};
use std::path::Path;
use std::sync::Arc;

/// The container setting.
pub const CONTAINER_SETTING: &str = "O365_CHECKPOINT_CONTAINER";
/// The lease duration setting.
pub const LEASE_SETTING: &str = "O365_CHECKPOINT_LEASE";

/// The store the settings select: Blob storage when `AzureWebJobsStorage`
/// (a connection string) or `AzureWebJobsStorage__accountName` /
/// `__blobServiceUri` (the app's identity) is set, with the container
/// `O365_CHECKPOINT_CONTAINER` created if missing; otherwise `state_dir`.
/// Errors name the setting and the fix.
pub async fn store_from_settings(
    settings: &SettingsSource,
    state_dir: &Path,
) -> anyhow::Result<Arc<dyn CheckpointStore>> {
    let Some(account) = BlobAccount::from_settings(settings)? else {
        return Ok(Arc::new(LocalStore::new(state_dir)));
    };
    let container = settings
        .get(CONTAINER_SETTING)
        .unwrap_or_else(|| DEFAULT_CONTAINER.to_string());
    let container = container.trim();
    if !valid_storage_name(container) {
        bail!(
            "{CONTAINER_SETTING} = `{container}` is not a container name: 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit"
        );
    }
    let lease = match settings.get(LEASE_SETTING) {
        None => DEFAULT_LEASE,
        Some(text) => {
            let lease = parse_duration(&text)
                .map_err(|e| anyhow::anyhow!("{LEASE_SETTING} = `{text}`: {e}"))?;
            if !(15..=60).contains(&lease.as_secs()) {
                bail!("{LEASE_SETTING} = `{text}`: a blob lease lasts 15 to 60 seconds");
            }
            lease
        }
    };
    let store = BlobStore::new(Arc::new(account), container).with_lease_duration(lease);
    store.ensure_container().await.with_context(|| {
        format!(
            "checkpoints in Blob storage ({}, container {container})",
            store.account().setting()
        )
    })?;
    tracing::info!(location = %store.location(), "checkpoints in Blob storage");
    Ok(Arc::new(store))
}

/// Azure Storage's naming rule for containers and queues (3-63 lowercase
/// letters, digits and single hyphens, not at either end).
pub(crate) fn valid_storage_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_storage_setting_means_the_local_directory() {
        let store = store_from_settings(&SettingsSource::from_pairs(&[]), Path::new("/tmp/x"))
            .await
            .unwrap();
        assert_eq!(store.location(), "the local directory /tmp/x");
    }

    #[tokio::test]
    async fn bad_settings_name_themselves() {
        let dev = "UseDevelopmentStorage=true";
        for (pairs, says) in [
            (
                vec![
                    ("AzureWebJobsStorage", dev),
                    (CONTAINER_SETTING, "Bad_Name"),
                ],
                CONTAINER_SETTING,
            ),
            (
                vec![("AzureWebJobsStorage", dev), (LEASE_SETTING, "5s")],
                "15 to 60",
            ),
            (
                vec![("AzureWebJobsStorage", dev), (LEASE_SETTING, "soon")],
                LEASE_SETTING,
            ),
            (vec![("AzureWebJobsStorage", "AccountName=x")], "AccountKey"),
        ] {
            let settings = SettingsSource::from_pairs(&pairs);
            let err = store_from_settings(&settings, Path::new("/tmp/x"))
                .await
                .err()
                .unwrap();
            assert!(format!("{err:#}").contains(says), "{pairs:?}: {err:#}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_account_is_reported_with_the_setting() {
        // A port nothing listens on: the container check at start fails.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let settings = SettingsSource::from_pairs(&[(
            "AzureWebJobsStorage",
            &format!(
                "UseDevelopmentStorage=true;BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1"
            ),
        )]);
        let err = store_from_settings(&settings, Path::new("/tmp/x"))
            .await
            .err()
            .unwrap();
        let text = format!("{err:#}");
        assert!(
            text.contains("AzureWebJobsStorage") && text.contains("could not be reached"),
            "{text}"
        );
    }
}
