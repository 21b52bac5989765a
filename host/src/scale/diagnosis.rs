//! The fix for a failing tenant, from the cause its last attempt reported.
//! Entra ID's `AADSTS` codes say precisely what is wrong with a tenant's
//! access (<https://learn.microsoft.com/entra/identity-platform/reference-error-codes>);
//! what is not recognized gets the generic advice.

/// What an operator does about `cause`, a failure of a cycle of `tenant`.
pub fn fix_for(cause: &str, tenant: &str) -> String {
    let has = |needle: &str| cause.contains(needle);
    let retry = "then `o365-host poison retry` re-queues it";
    if has("AADSTS65001") || has("consent") {
        format!(
            "admin consent for the app is missing or was revoked in tenant {tenant}: a Global Administrator of that tenant grants it again \
             (Entra ID > Enterprise applications > the app > Permissions > Grant admin consent); {retry}"
        )
    } else if has("AADSTS700016") || has("was not found in the directory") {
        format!(
            "the app is not known in tenant {tenant} (the app registration was deleted, or its service principal was removed from the tenant): \
             re-create it or have the tenant's administrator consent to it again, or remove the tenant from O365_TENANTS; {retry}"
        )
    } else if has("AADSTS7000229") || has("service principal") {
        format!(
            "the app has no service principal in tenant {tenant}: admin consent in that tenant creates it; {retry}"
        )
    } else if has("AADSTS90002") || has("AADSTS90072") {
        format!(
            "tenant {tenant} does not exist or does not accept the app: check its ENTRA_TENANT_ID, or remove it from O365_TENANTS; {retry}"
        )
    } else if has("AADSTS7000215") || has("AADSTS7000222") || has("client secret") {
        format!(
            "the tenant's client secret is wrong or expired: set a new one (ENTRA_APP_CLIENT_SECRET, or O365_TENANT_<KEY>__ENTRA_APP_CLIENT_SECRET), restart, {retry}"
        )
    } else if has("AADSTS700027") || has("certificate") {
        format!(
            "the tenant's certificate is not registered on the app or has expired: upload the current certificate to the app registration; {retry}"
        )
    } else if has("401") || has("403") || has("Unauthorized") || has("Forbidden") {
        format!(
            "the API refused the app in tenant {tenant}: check that the app has the API permissions this source needs \
             (ActivityFeed.Read for audit, ReportingWebService.Read.All or Graph's message-trace permission) and that they are consented; {retry}"
        )
    } else {
        format!("look at the cause and `o365-host config check`; fix it, {retry}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_codes_get_their_fix() {
        let t = "00000000-0000-0000-0000-000000000009";
        for (cause, says) in [
            (
                "token endpoint answered 400 invalid_grant: AADSTS65001: The user or administrator has not consented",
                "admin consent",
            ),
            (
                "AADSTS700016: Application with identifier 'x' was not found in the directory",
                "app registration was deleted",
            ),
            (
                "AADSTS7000229: The client application is missing service principal",
                "no service principal",
            ),
            (
                "AADSTS7000215: Invalid client secret provided.",
                "client secret is wrong",
            ),
            ("API answered 403 Forbidden", "API permissions"),
            ("the sink refused", "config check"),
        ] {
            let fix = fix_for(cause, t);
            assert!(fix.contains(says), "{cause}: {fix}");
            assert!(fix.contains("o365-host poison retry"), "{fix}");
        }
    }
}
