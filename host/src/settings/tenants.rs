//! Several tenants in one deployment.
//!
//! `O365_TENANTS=contoso,fabrikam` lists tenant keys; each tenant's own
//! values are `O365_TENANT_<KEY>__<NAME>` (for example
//! `O365_TENANT_CONTOSO__ENTRA_TENANT_ID`), and a `<NAME>` without prefix
//! is shared by every tenant that does not set its own. Keys are letters,
//! digits and single `_`, because Function App settings on Linux allow only
//! letters, digits, `_` and `.` in names (no `-`, so a tenant id cannot be
//! the key). Without `O365_TENANTS` the deployment has one tenant, read
//! from the unprefixed settings exactly as the JavaScript version did.

use super::SettingsSource;
use super::check::Problem;

/// The setting listing tenant keys.
pub const TENANTS_SETTING: &str = "O365_TENANTS";

/// The prefix of every per-tenant setting.
pub const TENANT_PREFIX: &str = "O365_TENANT_";

/// The prefix of the settings of tenant `key`.
pub fn prefix(key: &str) -> String {
    format!("{TENANT_PREFIX}{}__", key.to_ascii_uppercase())
}

/// One tenant of the deployment and its view of the settings.
#[derive(Clone, Debug)]
pub struct TenantSettings {
    /// The key in `O365_TENANTS`; `None` for the single unprefixed tenant.
    pub key: Option<String>,
    /// Its settings: its own values first, then the shared ones.
    pub settings: SettingsSource,
}

impl TenantSettings {
    /// The tenant (directory) id, `ENTRA_TENANT_ID` in its view.
    pub fn id(&self) -> Option<String> {
        self.settings
            .get("ENTRA_TENANT_ID")
            .map(|id| id.trim().to_string())
    }

    /// How logs and reports name it: the key, or the id for a single tenant.
    pub fn label(&self) -> String {
        match (&self.key, self.id()) {
            (Some(key), _) => key.clone(),
            (None, Some(id)) => id,
            (None, None) => "(no tenant)".into(),
        }
    }
}

/// The tenants `settings` describe, or what is wrong with `O365_TENANTS`.
pub fn tenants(settings: &SettingsSource) -> Result<Vec<TenantSettings>, Vec<Problem>> {
    let Some(list) = settings.get(TENANTS_SETTING) else {
        return Ok(vec![TenantSettings {
            key: None,
            settings: settings.clone(),
        }]);
    };
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for key in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        if !valid_key(key) {
            problems.push(Problem::new(
                TENANTS_SETTING,
                format!(
                    "`{key}` is not a tenant key: use letters, digits and single `_` (Function App \
                     setting names allow no `-`), for example `contoso` or `fabrikam_eu`"
                ),
            ));
            continue;
        }
        if !seen.insert(key.to_ascii_uppercase()) {
            problems.push(Problem::new(
                TENANTS_SETTING,
                format!("`{key}` is listed twice (keys are not case-sensitive)"),
            ));
            continue;
        }
        out.push(TenantSettings {
            key: Some(key.to_string()),
            settings: settings.for_tenant(key),
        });
    }
    if out.is_empty() && problems.is_empty() {
        problems.push(Problem::new(
            TENANTS_SETTING,
            "is set but names no tenant: list tenant keys, comma-separated, or remove it for a \
             single tenant",
        ));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && !key.contains("__")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_list_is_one_tenant_from_the_plain_settings() {
        let s = SettingsSource::from_pairs(&[("ENTRA_TENANT_ID", "t1")]);
        let t = tenants(&s).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].key, None);
        assert_eq!(t[0].id().as_deref(), Some("t1"));
    }

    #[test]
    fn each_listed_tenant_reads_its_own_values() {
        let s = SettingsSource::from_pairs(&[
            ("O365_TENANTS", "contoso, fabrikam_eu"),
            ("O365_TENANT_CONTOSO__ENTRA_TENANT_ID", "a"),
            ("O365_TENANT_FABRIKAM_EU__ENTRA_TENANT_ID", "b"),
        ]);
        let t = tenants(&s).unwrap();
        let ids: Vec<_> = t.iter().map(|t| t.id().unwrap()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(t[1].label(), "fabrikam_eu");
    }

    #[test]
    fn bad_keys_are_named() {
        let s = SettingsSource::from_pairs(&[("O365_TENANTS", "contoso,con-toso,a__b,Contoso")]);
        let problems = tenants(&s).unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 3, "{text:?}");
        assert!(text[0].contains("`con-toso`"));
        assert!(text[1].contains("`a__b`"));
        assert!(text[2].contains("listed twice"));
    }
}
