//! Blob storage errors as [`CheckpointError`]s that say what to fix: a
//! missing role, a wrong key, an unreachable endpoint.

use crate::azure::storage::{BlobAccount, Service, explain, status};
use crate::checkpoint::CheckpointError;

/// A failed request of checkpoint `name`, with the fix in the message.
pub(super) fn storage(
    account: &BlobAccount,
    name: &str,
    action: String,
    source: azure_core::Error,
) -> CheckpointError {
    let message = match status(&source) {
        (Some(404), Some("ContainerNotFound")) => format!(
            "the checkpoint container is gone from {}; it is created at start, so restart the host (O365_CHECKPOINT_CONTAINER names it)",
            account.endpoint()
        ),
        _ => explain(account, Service::Blob, &source),
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
    use azure_core::http::StatusCode;

    #[test]
    fn a_deleted_container_says_restart_and_anything_else_is_the_shared_wording() {
        let account = BlobAccount::from_connection_string("UseDevelopmentStorage=true").unwrap();
        let gone = storage(
            &account,
            "audit/t1",
            "writing".into(),
            refused(StatusCode::NotFound, "ContainerNotFound"),
        )
        .to_string();
        assert!(
            gone.contains("audit/t1")
                && gone.contains("restart the host")
                && gone.contains("O365_CHECKPOINT_CONTAINER"),
            "{gone}"
        );
        let refusal = refused(StatusCode::Forbidden, "AuthenticationFailed");
        let denied = storage(&account, "audit/t1", "writing".into(), refusal).to_string();
        let refusal = refused(StatusCode::Forbidden, "AuthenticationFailed");
        assert!(
            denied.contains(&explain(&account, Service::Blob, &refusal)),
            "{denied}"
        );
    }
}
