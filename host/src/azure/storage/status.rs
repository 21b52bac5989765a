//! What a failed Blob or Queue request says: for the callers that branch on
//! it (a blob that is not there, a condition that no longer holds), and, in
//! [`explain`], for the operator who has to fix it. Checkpoints, the
//! registry and the scale-out queue all word a refusal this one way.

use super::BlobAccount;

/// The service of the account a request went to: the role a refusal names
/// and the endpoint it points at differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    /// Blob storage: checkpoints, the component registry, markers.
    Blob,
    /// Queue storage: the scale-out queue.
    Queue,
}

impl Service {
    /// The service's endpoint on `account`, for messages.
    pub(crate) fn endpoint(self, account: &BlobAccount) -> String {
        match self {
            Service::Blob => account.endpoint().to_string(),
            Service::Queue => account
                .queue_endpoint()
                .map_or_else(|| "(no Queue endpoint)".to_string(), ToString::to_string),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Service::Blob => "Blob",
            Service::Queue => "Queue",
        }
    }
}

/// What went wrong with a failed request to `service` of `account`, and the
/// fix: the role to grant when the host signs in with an identity, the
/// setting that holds a key or SAS otherwise, the setting and the network
/// when the service was not reached. A caller that knows a case better (a
/// container or queue deleted while the host ran) says so before asking.
pub(crate) fn explain(account: &BlobAccount, service: Service, e: &azure_core::Error) -> String {
    let endpoint = service.endpoint(account);
    let setting = account.setting();
    let name = service.name();
    match status(e) {
        (Some(403), _) if account.uses_identity() => format!(
            "access denied: give the app's identity the role \"Storage {name} Data Contributor\" on the storage account of {endpoint} ({setting})"
        ),
        (Some(403), code) => format!(
            "access denied ({}): the account key or SAS in {setting} is wrong or expired{}, or this machine's clock is off",
            code.unwrap_or("no code"),
            match service {
                Service::Blob => "",
                Service::Queue => " (a SAS must allow the Queue service)",
            }
        ),
        (Some(status), code) => format!(
            "the {name} service answered {status} {}",
            code.unwrap_or("")
        )
        .trim_end()
        .to_string(),
        (None, _) => {
            format!("{endpoint} could not be reached ({e}); check {setting} and the network")
        }
    }
}

/// The status code and the service's error code of a failed request.
pub(crate) fn status(e: &azure_core::Error) -> (Option<u16>, Option<&str>) {
    match e.kind() {
        azure_core::error::ErrorKind::HttpResponse {
            status, error_code, ..
        } => (Some(u16::from(*status)), error_code.as_deref()),
        _ => (e.http_status().map(u16::from), None),
    }
}

/// Whether the request failed because the blob (or its container) is not
/// there.
pub(crate) fn not_found(e: &azure_core::Error) -> bool {
    status(e).0 == Some(404)
}

/// Whether a conditional request found its condition false: `412`, or
/// `409` for a create of a blob that exists.
pub(crate) fn condition_failed(e: &azure_core::Error) -> bool {
    match status(e) {
        (Some(412), _) => true,
        (Some(409), Some(code)) => code == "BlobAlreadyExists",
        _ => false,
    }
}

/// A failed request as the service answers it, for tests.
#[cfg(test)]
pub(crate) fn refused(status: azure_core::http::StatusCode, code: &str) -> azure_core::Error {
    azure_core::Error::with_message(
        azure_core::error::ErrorKind::HttpResponse {
            status,
            error_code: Some(code.into()),
            raw_response: None,
        },
        "refused",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::SettingsSource;
    use azure_core::http::StatusCode;

    fn identity() -> BlobAccount {
        BlobAccount::from_settings(&SettingsSource::from_pairs(&[(
            super::super::ACCOUNT_NAME_SETTING,
            "acct1",
        )]))
        .unwrap()
        .unwrap()
    }

    fn keyed() -> BlobAccount {
        BlobAccount::from_connection_string("UseDevelopmentStorage=true").unwrap()
    }

    #[test]
    fn a_403_names_the_role_with_an_identity_and_the_key_without() {
        let denied = refused(StatusCode::Forbidden, "AuthorizationPermissionMismatch");
        let blob = explain(&identity(), Service::Blob, &denied);
        assert!(
            blob.contains("\"Storage Blob Data Contributor\"")
                && blob.contains("https://acct1.blob.core.windows.net")
                && blob.contains("AzureWebJobsStorage__accountName"),
            "{blob}"
        );
        let queue = explain(&identity(), Service::Queue, &denied);
        assert!(
            queue.contains("\"Storage Queue Data Contributor\"")
                && queue.contains("https://acct1.queue.core.windows.net"),
            "{queue}"
        );

        let denied = refused(StatusCode::Forbidden, "AuthenticationFailed");
        let blob = explain(&keyed(), Service::Blob, &denied);
        assert!(
            blob.contains("access denied (AuthenticationFailed)")
                && blob.contains("account key or SAS in AzureWebJobsStorage")
                && blob.contains("clock"),
            "{blob}"
        );
        let queue = explain(&keyed(), Service::Queue, &denied);
        assert!(
            queue.contains("a SAS must allow the Queue service"),
            "{queue}"
        );
    }

    #[test]
    fn other_answers_name_status_and_code_and_no_answer_names_the_setting() {
        let busy = refused(StatusCode::ServiceUnavailable, "ServerBusy");
        assert_eq!(
            explain(&keyed(), Service::Blob, &busy),
            "the Blob service answered 503 ServerBusy"
        );
        let unreachable =
            azure_core::Error::with_message(azure_core::error::ErrorKind::Io, "connection refused");
        let text = explain(&keyed(), Service::Blob, &unreachable);
        assert!(
            text.contains("could not be reached (connection refused)")
                && text.contains("check AzureWebJobsStorage and the network"),
            "{text}"
        );
    }

    #[test]
    fn a_lost_condition_is_a_412_or_a_create_of_a_blob_that_exists() {
        assert!(condition_failed(&refused(
            StatusCode::PreconditionFailed,
            "ConditionNotMet"
        )));
        assert!(condition_failed(&refused(
            StatusCode::Conflict,
            "BlobAlreadyExists"
        )));
        assert!(!condition_failed(&refused(
            StatusCode::Conflict,
            "LeaseAlreadyPresent"
        )));
        assert!(not_found(&refused(StatusCode::NotFound, "BlobNotFound")));
        assert_eq!(
            status(&refused(StatusCode::Conflict, "LeaseAlreadyPresent")),
            (Some(409), Some("LeaseAlreadyPresent"))
        );
    }
}
