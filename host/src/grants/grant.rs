//! What the operator grants one source: the authorities its component may
//! reach, the token audience for each and the pace, all from the operator's
//! settings. A component's `describe` never adds to it.

use super::api::{Api, budget_from};
use super::cloud::Cloud;
use crate::gate::{Rate, normalize_authority};
use crate::settings::SettingsSource;

/// One authority granted to a source, with the token it gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantedEndpoint {
    /// The API this entry is for; its settings are what granted it.
    pub api: Api,
    /// `host` or `host:port`, lower case, default port removed.
    pub authority: String,
    /// The token audience requests to this authority may carry, as the
    /// operator wrote it (a scope ending in `/.default` is kept as such).
    /// None: requests go without a token.
    pub audience: Option<String>,
    /// The host's budget for the API: the loosest a component may run at.
    pub budget: Option<Rate>,
}

impl GrantedEndpoint {
    /// The setting that put this entry in the grant.
    pub fn granted_by(&self) -> &'static str {
        self.api.base_setting()
    }
}

/// What one source's component may reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    source: String,
    endpoints: Vec<GrantedEndpoint>,
}

/// A setting that cannot make a grant.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GrantError {
    /// `O365_CLOUD` names no cloud this host knows.
    #[error("O365_CLOUD = `{value}` is not a cloud this host knows; use one of {accepted}")]
    UnknownCloud {
        /// The value given.
        value: String,
        /// The names accepted.
        accepted: String,
    },
    /// An API base is not an `http(s)` URL with a host.
    #[error(
        "{setting} = `{value}` is not an API base: {reason}; give scheme and host, such as {example}"
    )]
    BadBase {
        /// The setting.
        setting: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
        /// A value to copy.
        example: &'static str,
    },
    /// A token audience or scope is not a URL.
    #[error(
        "{setting} = `{value}` is not a token audience; give the resource URL with or without /.default, such as https://outlook.office365.com/.default"
    )]
    BadAudience {
        /// The setting.
        setting: &'static str,
        /// Its value.
        value: String,
    },
    /// A budget setting is not a whole number.
    #[error("{setting} = `{value}` is not a whole number of requests (0 turns pacing off)")]
    BadBudget {
        /// The setting.
        setting: &'static str,
        /// Its value.
        value: String,
    },
}

impl Grant {
    /// A grant of exactly `endpoints` to `source`: for hosts that decide
    /// grants another way than by settings, and for tests. Still the host's
    /// decision, never the component's.
    pub fn new(source: &str, endpoints: Vec<GrantedEndpoint>) -> Self {
        Self {
            source: source.to_string(),
            endpoints: endpoints
                .into_iter()
                .map(|mut e| {
                    e.authority = normalize_authority("https", &e.authority);
                    e
                })
                .collect(),
        }
    }

    /// The grant of `apis` to `source` from the operator's settings: each
    /// API's base setting (or the `O365_CLOUD` default) gives the authority,
    /// its origin (or, for the Reporting Web Service,
    /// `EXCHANGE_REPORTING_SCOPE`) the audience, its budget setting the pace.
    /// An API with no base in the chosen cloud and none set is not granted.
    pub fn from_settings(
        source: &str,
        apis: &[Api],
        settings: &SettingsSource,
    ) -> Result<Self, GrantError> {
        let cloud = Cloud::from_settings(settings)?;
        let mut endpoints = Vec::new();
        for &api in apis {
            let setting = api.base_setting();
            let Some(base) = settings
                .get(setting)
                .or_else(|| api.default_base(cloud).map(str::to_string))
            else {
                continue;
            };
            let example = api.default_base(Cloud::Public).unwrap_or_default();
            let (scheme, authority) = origin_of(&base).map_err(|reason| GrantError::BadBase {
                setting,
                value: base.clone(),
                reason,
                example,
            })?;
            let audience = match api.audience_setting() {
                None => format!("{scheme}://{authority}"),
                Some(audience_setting) => {
                    let Some(value) = settings
                        .get(audience_setting)
                        .or_else(|| api.default_audience(cloud).map(str::to_string))
                    else {
                        continue;
                    };
                    if origin_of(&value).is_err() || value.contains(char::is_whitespace) {
                        return Err(GrantError::BadAudience {
                            setting: audience_setting,
                            value,
                        });
                    }
                    value.trim().to_string()
                }
            };
            endpoints.push(GrantedEndpoint {
                api,
                authority,
                audience: Some(audience),
                budget: budget_from(settings, api)?,
            });
        }
        Ok(Self::new(source, endpoints))
    }

    /// The source the grant is for.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Everything granted.
    pub fn endpoints(&self) -> &[GrantedEndpoint] {
        &self.endpoints
    }

    /// The entries for `authority` (any case, default port or not).
    pub fn at(&self, authority: &str) -> impl Iterator<Item = &GrantedEndpoint> {
        let wanted = normalize_authority("https", authority);
        self.endpoints.iter().filter(move |e| e.authority == wanted)
    }
}

/// Scheme and normalized authority of an `http(s)` URL.
fn origin_of(text: &str) -> Result<(String, String), String> {
    let url = url::Url::parse(text.trim()).map_err(|e| e.to_string())?;
    let scheme = url.scheme().to_string();
    if scheme != "https" && scheme != "http" {
        return Err(format!("the scheme is `{scheme}`, not https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it carries credentials".into());
    }
    let host = url.host_str().ok_or("it has no host")?;
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    Ok((scheme, authority.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn with(pairs: &[(&str, &str)]) -> SettingsSource {
        SettingsSource::from_pairs(pairs)
    }

    fn summary(grant: &Grant) -> Vec<(String, Option<String>)> {
        grant
            .endpoints()
            .iter()
            .map(|e| (e.authority.clone(), e.audience.clone()))
            .collect()
    }

    #[test]
    fn the_public_cloud_by_default_with_the_documented_quotas() {
        let grant = Grant::from_settings("any", &Api::ALL, &with(&[])).unwrap();
        assert_eq!(
            summary(&grant),
            [
                (
                    "manage.office.com".into(),
                    Some("https://manage.office.com".into())
                ),
                (
                    "graph.microsoft.com".into(),
                    Some("https://graph.microsoft.com".into())
                ),
                (
                    "reports.office365.com".into(),
                    Some("https://outlook.office365.com/.default".into())
                ),
            ]
        );
        assert_eq!(
            grant.endpoints()[0].budget,
            Some(Rate {
                requests: 2000,
                per: Duration::from_secs(60)
            })
        );
        assert_eq!(
            grant.endpoints()[1].budget,
            Some(Rate {
                requests: 100,
                per: Duration::from_secs(300)
            })
        );
        assert_eq!(grant.endpoints()[2].budget, None);
    }

    #[test]
    fn a_sovereign_cloud_moves_the_defaults_and_explicit_settings_still_win() {
        let grant = Grant::from_settings(
            "audit",
            &Api::ALL,
            &with(&[("O365_CLOUD", "gcchigh"), ("O365_REQUESTS_PER_MINUTE", "0")]),
        )
        .unwrap();
        // No documented Reporting Web Service there: not granted unless set.
        assert_eq!(
            summary(&grant),
            [
                (
                    "manage.office365.us".into(),
                    Some("https://manage.office365.us".into())
                ),
                (
                    "graph.microsoft.us".into(),
                    Some("https://graph.microsoft.us".into())
                ),
            ]
        );
        assert_eq!(grant.endpoints()[0].budget, None);
        let grant = Grant::from_settings(
            "audit",
            &[Api::ManagementActivity],
            &with(&[
                ("O365_CLOUD", "dod"),
                ("O365_MANAGEMENT_API", "http://127.0.0.1:8080/"),
            ]),
        )
        .unwrap();
        assert_eq!(
            summary(&grant),
            [(
                "127.0.0.1:8080".into(),
                Some("http://127.0.0.1:8080".into())
            )]
        );
    }

    #[test]
    fn only_the_sources_apis_are_granted() {
        let grant = Grant::from_settings("audit", &[Api::ManagementActivity], &with(&[])).unwrap();
        assert_eq!(grant.endpoints().len(), 1);
        assert_eq!(grant.at("MANAGE.office.com:443").count(), 1);
        assert_eq!(grant.at("graph.microsoft.com").count(), 0);
    }

    #[test]
    fn bad_settings_are_named() {
        let err = Grant::from_settings(
            "audit",
            &[Api::ManagementActivity],
            &with(&[("O365_MANAGEMENT_API", "manage.office.com")]),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                GrantError::BadBase {
                    setting: "O365_MANAGEMENT_API",
                    ..
                }
            ),
            "{err}"
        );
        let err = Grant::from_settings(
            "m",
            &[Api::ExchangeReporting],
            &with(&[("EXCHANGE_REPORTING_SCOPE", "outlook")]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("EXCHANGE_REPORTING_SCOPE = `outlook`"),
            "{err}"
        );
        let err = Grant::from_settings(
            "m",
            &[Api::GraphMessageTraces],
            &with(&[("MESSAGE_TRACES_REQUESTS_PER_5_MINUTES", "lots")]),
        )
        .unwrap_err();
        assert_eq!(
            err,
            GrantError::BadBudget {
                setting: "MESSAGE_TRACES_REQUESTS_PER_5_MINUTES",
                value: "lots".into()
            }
        );
    }
}
