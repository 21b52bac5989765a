//! The APIs the host can grant, and the operator settings that say where
//! each one is, which token audience it takes and how fast it may be called.
//!
//! The setting names are the ones the components read too (one name means
//! one thing everywhere), but here they are read by the host, from the
//! operator's settings only: whatever a component declares, these decide.

use super::cloud::Cloud;
use crate::gate::Rate;
use crate::settings::SettingsSource;
use std::time::Duration;

/// An API a source may be granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    /// The Office 365 Management Activity API (audit logs).
    ManagementActivity,
    /// Microsoft Graph, for message traces.
    GraphMessageTraces,
    /// The legacy Exchange Reporting Web Service, for message traces.
    ExchangeReporting,
}

/// A host default request budget and the setting that changes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetSetting {
    /// The setting: requests per `per`; `0` turns pacing off.
    pub setting: &'static str,
    /// Requests per `per` when the setting is absent: the documented quota.
    pub default_requests: u32,
    /// The span the setting counts in.
    pub per: Duration,
}

impl Api {
    /// Every API, in the order they are listed to operators.
    pub const ALL: [Api; 3] = [
        Api::ManagementActivity,
        Api::GraphMessageTraces,
        Api::ExchangeReporting,
    ];

    /// The API's name for people.
    pub fn name(self) -> &'static str {
        match self {
            Api::ManagementActivity => "the Management Activity API",
            Api::GraphMessageTraces => "Microsoft Graph (message traces)",
            Api::ExchangeReporting => "the Exchange Reporting Web Service",
        }
    }

    /// The setting holding the API's base URL. Its authority is what the
    /// grant lets a component reach.
    pub fn base_setting(self) -> &'static str {
        match self {
            Api::ManagementActivity => "O365_MANAGEMENT_API",
            Api::GraphMessageTraces => "MESSAGE_TRACES_GRAPH_API",
            Api::ExchangeReporting => "EXCHANGE_REPORTING_API",
        }
    }

    /// The setting holding the token audience, for APIs whose audience is
    /// not their base URL's origin.
    pub fn audience_setting(self) -> Option<&'static str> {
        match self {
            Api::ExchangeReporting => Some("EXCHANGE_REPORTING_SCOPE"),
            _ => None,
        }
    }

    /// The host's default budget for the API, if Microsoft documents a quota.
    pub fn budget(self) -> Option<BudgetSetting> {
        match self {
            Api::ManagementActivity => Some(BudgetSetting {
                setting: "O365_REQUESTS_PER_MINUTE",
                default_requests: 2000,
                per: Duration::from_secs(60),
            }),
            Api::GraphMessageTraces => Some(BudgetSetting {
                setting: "MESSAGE_TRACES_REQUESTS_PER_5_MINUTES",
                default_requests: 100,
                per: Duration::from_secs(300),
            }),
            Api::ExchangeReporting => None,
        }
    }

    /// The API's base URL in `cloud` when the operator sets none; none when
    /// that cloud has no documented endpoint for it.
    pub fn default_base(self, cloud: Cloud) -> Option<&'static str> {
        let e = cloud.endpoints();
        match self {
            Api::ManagementActivity => Some(e.management_api),
            Api::GraphMessageTraces => Some(e.graph_api),
            Api::ExchangeReporting => e.exchange_reporting.map(|(base, _)| base),
        }
    }

    /// The default of [`Api::audience_setting`] in `cloud`.
    pub fn default_audience(self, cloud: Cloud) -> Option<&'static str> {
        match self {
            Api::ExchangeReporting => cloud.endpoints().exchange_reporting.map(|(_, s)| s),
            _ => None,
        }
    }

    /// Whether `audience` is this API's audience in any cloud (to name the
    /// setting that would grant it when a component asks for it).
    pub fn is_known_audience(self, audience: &str) -> bool {
        let wanted = super::audience_key(audience);
        Cloud::names()
            .iter()
            .filter_map(|n| Cloud::parse(n))
            .any(|cloud| {
                self.default_audience(cloud)
                    .or(self.default_base(cloud))
                    .is_some_and(|a| super::audience_key(a) == wanted)
            })
    }
}

/// Sets every API setting the operator left unset to `cloud`'s default, so
/// the components are told the same bases the grant is made from.
pub fn apply_cloud_defaults(settings: &mut SettingsSource, cloud: Cloud) {
    for api in Api::ALL {
        for (setting, default) in [
            (Some(api.base_setting()), api.default_base(cloud)),
            (api.audience_setting(), api.default_audience(cloud)),
        ] {
            if let (Some(setting), Some(default)) = (setting, default)
                && settings.get(setting).is_none()
            {
                settings.set(setting, default);
            }
        }
    }
}

/// Points every API at `url` (a simulator, `--api`): the operator's choice,
/// so it grants that authority for the audiences these settings give it.
pub fn apply_api_override(settings: &mut SettingsSource, url: &str) {
    for api in Api::ALL {
        settings.set(api.base_setting(), url);
    }
}

/// The budget the operator's settings give `api`: the documented quota
/// unless its setting says otherwise (`0`: no pacing).
pub fn budget_from(settings: &SettingsSource, api: Api) -> Result<Option<Rate>, super::GrantError> {
    let Some(budget) = api.budget() else {
        return Ok(None);
    };
    let requests = match settings.get(budget.setting) {
        None => budget.default_requests,
        Some(text) => text
            .trim()
            .parse::<u32>()
            .map_err(|_| super::GrantError::BadBudget {
                setting: budget.setting,
                value: text.clone(),
            })?,
    };
    Ok((requests > 0).then_some(Rate {
        requests,
        per: budget.per,
    }))
}
