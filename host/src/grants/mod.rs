//! Grants: what the operator lets each source's component reach, and the
//! check of a component's request against it.
//!
//! The operator decides; the component asks. A component's `describe` lists
//! the endpoints it wants (authority, token audience, budget) and its
//! limits, but the host grants authorities and tokens only from the
//! operator's settings ([`Grant::from_settings`]: the API base settings, the
//! reporting scope, the budget settings and the `O365_CLOUD` choice). At
//! load every declared endpoint must fall inside the grant and every limit
//! inside its range, or the component is refused before any call
//! ([`Grant::admit`]). The gate's policy is built from the resulting
//! [`Admission`] only, so a token for an audience goes only to an authority
//! the operator granted for that audience, whatever a component declares or
//! a response links to.
//!
//! This is the model of Spin's and wasmCloud's manifests, where the
//! outbound allow-list belongs to the deployment, not to the component:
//! with components arriving from a registry, a compromised or careless one
//! must not be able to point the tenant's tokens at a host of its choosing.

mod admission;
mod api;
mod cloud;
mod grant;
pub mod limits;

pub use admission::{Admission, Refusal, describe_endpoint, stricter};
pub use api::{Api, BudgetSetting, apply_api_override, apply_cloud_defaults, budget_from};
pub use cloud::{CLOUD_SETTING, Cloud, CloudEndpoints};
pub use grant::{Grant, GrantError, GrantedEndpoint};

/// An audience compared the way Entra ID resolves it: case-insensitive,
/// without a trailing `/` or `/.default` (a v2 scope names the same
/// resource) and without the default `https` port.
pub fn audience_key(audience: &str) -> String {
    let mut key = audience.trim().to_ascii_lowercase();
    if let Some(stripped) = key.strip_suffix("/.default") {
        key = stripped.to_string();
    }
    let key = key.trim_end_matches('/');
    match key.strip_prefix("https://") {
        Some(rest) => format!("https://{}", rest.strip_suffix(":443").unwrap_or(rest)),
        None => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::audience_key;

    #[test]
    fn audiences_compare_as_entra_resolves_them() {
        let same = [
            "https://outlook.office365.com",
            "https://Outlook.Office365.com/",
            "https://outlook.office365.com/.default",
            "https://outlook.office365.com:443",
        ];
        for a in same {
            assert_eq!(audience_key(a), "https://outlook.office365.com", "{a}");
        }
        assert_ne!(
            audience_key("https://outlook.office365.com.evil.example"),
            audience_key("https://outlook.office365.com")
        );
        assert_ne!(
            audience_key("http://manage.office.com"),
            audience_key("https://manage.office.com")
        );
    }
}
