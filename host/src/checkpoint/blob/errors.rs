//! Blob storage errors as [`CheckpointError`]s that say what to fix: a
//! missing role, a wrong key, an unreachable endpoint.

use crate::azure::storage::{BlobAccount, status};
use crate::checkpoint::CheckpointError;

/// A failed request of checkpoint `name`, with the fix in the message.
pub(super) fn storage(
    account: &BlobAccount,
    name: &str,
    action: String,
    source: azure_core::Error,
) -> CheckpointError {
    let endpoint = account.endpoint();
    let setting = account.setting();
    let message = match status(&source) {
        (Some(403), _) if account.uses_identity() => format!(
            "access denied: give the app's identity the role \"Storage Blob Data Contributor\" on the storage account of {endpoint} ({setting})"
        ),
        (Some(403), code) => format!(
            "access denied ({}): the account key or SAS in {setting} is wrong or expired, or this machine's clock is off",
            code.unwrap_or("no code")
        ),
        (Some(404), Some("ContainerNotFound")) => format!(
            "the checkpoint container is gone from {endpoint}; it is created at start, so restart the host (O365_CHECKPOINT_CONTAINER names it)"
        ),
        (Some(status), code) => format!(
            "the storage service answered {status} {}",
            code.unwrap_or("")
        ),
        (None, _) => {
            format!("{endpoint} could not be reached ({source}); check {setting} and the network")
        }
    };
    CheckpointError::Storage {
        name: name.to_string(),
        action,
        message,
        source: Box::new(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::storage::refused;
    use crate::settings::SettingsSource;
    use azure_core::http::StatusCode;

    #[test]
    fn a_403_names_the_role_with_an_identity_and_the_key_without() {
        let identity = BlobAccount::from_settings(&SettingsSource::from_pairs(&[(
            crate::azure::storage::ACCOUNT_NAME_SETTING,
            "acct1",
        )]))
        .unwrap()
        .unwrap();
        let err = storage(
            &identity,
            "audit/t1",
            "writing".into(),
            refused(StatusCode::Forbidden, "AuthorizationPermissionMismatch"),
        )
        .to_string();
        assert!(
            err.contains("Storage Blob Data Contributor")
                && err.contains("AzureWebJobsStorage__accountName"),
            "{err}"
        );

        let keyed = BlobAccount::from_connection_string("UseDevelopmentStorage=true").unwrap();
        let err = storage(
            &keyed,
            "audit/t1",
            "writing".into(),
            refused(StatusCode::Forbidden, "AuthenticationFailed"),
        )
        .to_string();
        assert!(
            err.contains("account key or SAS in AzureWebJobsStorage"),
            "{err}"
        );
    }
}
