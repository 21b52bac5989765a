//! The sovereign clouds and where their APIs live: one table, so that every
//! default base URL and the Entra ID authority host for a cloud are written
//! once (the Azure deployment work builds on the same table).
//!
//! The operator picks the cloud with `O365_CLOUD`; an explicit API setting
//! (`O365_MANAGEMENT_API`, ...) still wins over the cloud's default.

use super::GrantError;
use crate::settings::SettingsSource;

/// Setting: which Microsoft cloud the tenant lives in.
pub const CLOUD_SETTING: &str = "O365_CLOUD";

/// A Microsoft 365 cloud.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cloud {
    /// The commercial (worldwide) cloud, also GCC.
    #[default]
    Public,
    /// US Government Community Cloud High.
    GccHigh,
    /// US Department of Defense.
    Dod,
    /// Microsoft 365 operated by 21Vianet (China).
    China,
}

/// Where one cloud's services are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloudEndpoints {
    /// The Office 365 Management Activity API base (also its token audience).
    pub management_api: &'static str,
    /// The Microsoft Graph base (also its token audience).
    pub graph_api: &'static str,
    /// The legacy Exchange Reporting Web Service and its token scope, where
    /// Microsoft documents one. Elsewhere the operator sets
    /// `EXCHANGE_REPORTING_API` and `EXCHANGE_REPORTING_SCOPE` explicitly,
    /// and nothing is granted until they do.
    pub exchange_reporting: Option<(&'static str, &'static str)>,
    /// The Entra ID authority host tokens come from.
    pub entra_authority: &'static str,
    /// The DNS suffix of Key Vault: a vault named `kv` is
    /// `https://kv.<suffix>` (the app's certificate lives there).
    pub key_vault_suffix: &'static str,
}

/// The table: every cloud with the names operators write and its services.
const CLOUDS: [(Cloud, &str, CloudEndpoints); 4] = [
    (
        Cloud::Public,
        "public",
        CloudEndpoints {
            management_api: "https://manage.office.com",
            graph_api: "https://graph.microsoft.com",
            exchange_reporting: Some((
                "https://reports.office365.com",
                "https://outlook.office365.com/.default",
            )),
            entra_authority: "https://login.microsoftonline.com",
            key_vault_suffix: "vault.azure.net",
        },
    ),
    (
        Cloud::GccHigh,
        "gcchigh",
        CloudEndpoints {
            management_api: "https://manage.office365.us",
            graph_api: "https://graph.microsoft.us",
            exchange_reporting: None,
            entra_authority: "https://login.microsoftonline.us",
            key_vault_suffix: "vault.usgovcloudapi.net",
        },
    ),
    (
        Cloud::Dod,
        "dod",
        CloudEndpoints {
            management_api: "https://manage.protection.apps.mil",
            graph_api: "https://dod-graph.microsoft.us",
            exchange_reporting: None,
            entra_authority: "https://login.microsoftonline.us",
            key_vault_suffix: "vault.usgovcloudapi.net",
        },
    ),
    (
        Cloud::China,
        "china",
        CloudEndpoints {
            management_api: "https://manage.office.partner.outlook.cn",
            graph_api: "https://microsoftgraph.chinacloudapi.cn",
            exchange_reporting: None,
            entra_authority: "https://login.chinacloudapi.cn",
            key_vault_suffix: "vault.azure.cn",
        },
    ),
];

impl Cloud {
    /// The cloud `O365_CLOUD` names (`public` when unset).
    pub fn from_settings(settings: &SettingsSource) -> Result<Cloud, GrantError> {
        match settings.get(CLOUD_SETTING) {
            None => Ok(Cloud::Public),
            Some(value) => Cloud::parse(&value).ok_or_else(|| GrantError::UnknownCloud {
                value,
                accepted: Cloud::names().join(", "),
            }),
        }
    }

    /// The cloud called `name` (any case), if there is one.
    pub fn parse(name: &str) -> Option<Cloud> {
        let name = name.trim();
        CLOUDS
            .iter()
            .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
            .map(|(c, _, _)| *c)
    }

    /// Every cloud.
    pub fn all() -> [Cloud; 4] {
        CLOUDS.map(|(c, _, _)| c)
    }

    /// The names `O365_CLOUD` accepts.
    pub fn names() -> Vec<&'static str> {
        CLOUDS.iter().map(|(_, n, _)| *n).collect()
    }

    /// The name operators write.
    pub fn name(self) -> &'static str {
        self.row().0
    }

    /// Where this cloud's services are.
    pub fn endpoints(self) -> &'static CloudEndpoints {
        self.row().1
    }

    fn row(self) -> (&'static str, &'static CloudEndpoints) {
        let (_, name, endpoints) = CLOUDS
            .iter()
            .find(|(c, _, _)| *c == self)
            .unwrap_or(&CLOUDS[0]);
        (name, endpoints)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> SettingsSource {
        SettingsSource::from_pairs(pairs)
    }

    #[test]
    fn every_cloud_is_named_and_found_again() {
        for name in Cloud::names() {
            let cloud = Cloud::parse(name).unwrap();
            assert_eq!(cloud.name(), name);
        }
        assert_eq!(Cloud::parse(" GCCHigh "), Some(Cloud::GccHigh));
        assert_eq!(Cloud::from_settings(&with(&[])).unwrap(), Cloud::Public);
        assert_eq!(
            Cloud::Dod.endpoints().management_api,
            "https://manage.protection.apps.mil"
        );
        assert_eq!(
            Cloud::China.endpoints().entra_authority,
            "https://login.chinacloudapi.cn"
        );
    }

    #[test]
    fn an_unknown_cloud_names_the_setting_and_the_accepted_values() {
        let err = Cloud::from_settings(&with(&[(CLOUD_SETTING, "mars")])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("O365_CLOUD"), "{text}");
        assert!(text.contains("`mars`"), "{text}");
        assert!(text.contains("public, gcchigh, dod, china"), "{text}");
    }
}
