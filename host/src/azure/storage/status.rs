//! What a failed Blob or Queue request says, for the callers that branch on
//! it (a blob that is not there, a condition that no longer holds).

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
    use azure_core::http::StatusCode;

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
