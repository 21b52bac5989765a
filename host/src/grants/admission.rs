//! Checking a component's request against the grant, once, at load: every
//! endpoint it declares must fall inside what the operator granted its
//! source, and every limit inside its range. What passes is an
//! [`Admission`], the only thing a gate policy can be built from.

use super::grant::{Grant, GrantedEndpoint};
use super::{api::Api, audience_key, limits};
use crate::gate::{AllowedEndpoint, Rate, normalize_authority};
use crate::runtime::{Endpoint, Info};
use std::time::Duration;

/// A component's endpoints as the grant admits them: the granted audience
/// for each, and the stricter of its budget and the host's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    component: String,
    source: String,
    endpoints: Vec<AllowedEndpoint>,
}

impl Admission {
    /// The component admitted.
    pub fn component(&self) -> &str {
        &self.component
    }

    /// The source it runs as.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// What it may reach.
    pub fn endpoints(&self) -> &[AllowedEndpoint] {
        &self.endpoints
    }
}

/// Why a component is refused at load.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    /// It declares an endpoint the grant does not cover.
    #[error(
        "component `{component}` is refused: it asks for {endpoint}, which the operator's settings \
         do not grant to source `{source_name}`: {reason}. Setting that would grant it: {setting}"
    )]
    EndpointNotGranted {
        /// The component.
        component: String,
        /// The source it was to run as.
        source_name: String,
        /// The endpoint, for people: authority and token audience.
        endpoint: String,
        /// Why not.
        reason: String,
        /// The setting that would grant it (and what to set it to).
        setting: String,
    },
    /// It declares a limit outside the range the host accepts.
    #[error(
        "component `{component}` is refused: it declares {field} = {value}, outside what the host \
         accepts ({accepted})"
    )]
    LimitOutOfRange {
        /// The component.
        component: String,
        /// The field of `info`.
        field: String,
        /// The value declared.
        value: String,
        /// The accepted range.
        accepted: String,
    },
}

/// How an endpoint reads in messages: `` `evil.example` with a token for
/// https://manage.office.com``.
pub fn describe_endpoint(endpoint: &Endpoint) -> String {
    match &endpoint.audience {
        Some(a) => format!("`{}` with a token for {a}", endpoint.authority),
        None => format!("`{}` without a token", endpoint.authority),
    }
}

impl Grant {
    /// Checks what `info` asks for against this grant.
    pub fn admit(&self, info: &Info) -> Result<Admission, Refusal> {
        limits::check(info).map_err(|e| Refusal::LimitOutOfRange {
            component: info.name.clone(),
            field: e.field,
            value: e.value,
            accepted: e.accepted,
        })?;
        let endpoints = info
            .endpoints
            .iter()
            .map(|endpoint| self.admit_endpoint(&info.name, endpoint))
            .collect::<Result<_, _>>()?;
        Ok(Admission {
            component: info.name.clone(),
            source: self.source().to_string(),
            endpoints,
        })
    }

    /// One endpoint: a granted authority, with a granted audience or none.
    pub fn admit_endpoint(
        &self,
        component: &str,
        endpoint: &Endpoint,
    ) -> Result<AllowedEndpoint, Refusal> {
        let at: Vec<&GrantedEndpoint> = self.at(&endpoint.authority).collect();
        let matched = match &endpoint.audience {
            None => at.first().copied().map(|g| (g, None)),
            Some(asked) => at
                .iter()
                .find(|g| {
                    g.audience
                        .as_deref()
                        .is_some_and(|a| audience_key(a) == audience_key(asked))
                })
                .map(|g| (*g, g.audience.clone())),
        };
        let Some((granted, audience)) = matched else {
            let (reason, setting) = self.why_not(endpoint, &at);
            return Err(Refusal::EndpointNotGranted {
                component: component.to_string(),
                source_name: self.source().to_string(),
                endpoint: describe_endpoint(endpoint),
                reason,
                setting,
            });
        };
        // Without a token any entry at the authority fits; pace by the
        // strictest of them.
        let host_budget = if audience.is_none() {
            at.iter().map(|g| g.budget).reduce(stricter).flatten()
        } else {
            granted.budget
        };
        let asked = endpoint.budget.map(|b| Rate {
            requests: b.requests,
            per: Duration::from_millis(b.per),
        });
        Ok(AllowedEndpoint {
            authority: normalize_authority("https", &endpoint.authority),
            audience,
            budget: stricter(asked, host_budget),
        })
    }

    /// Why `endpoint` is not granted, and the setting that would grant it.
    fn why_not(&self, endpoint: &Endpoint, at: &[&GrantedEndpoint]) -> (String, String) {
        let authority = &endpoint.authority;
        if let Some(asked) = &endpoint.audience {
            let key = audience_key(asked);
            if let Some(g) = self.endpoints().iter().find(|g| {
                g.audience
                    .as_deref()
                    .is_some_and(|a| audience_key(a) == key)
            }) {
                return (
                    format!(
                        "tokens for {asked} go only to `{}`, where {} points",
                        g.authority,
                        g.granted_by()
                    ),
                    format!(
                        "{} (an API base on `{authority}` moves {asked} tokens there; do it only if \
                         that host is the API)",
                        g.granted_by()
                    ),
                );
            }
            if let Some(api) = Api::ALL.iter().find(|api| api.is_known_audience(asked)) {
                return (
                    format!(
                        "{asked} is the audience of {}, which is not granted to this source",
                        api.name()
                    ),
                    format!(
                        "none for this source: {} grants {} only to the sources that use it",
                        api.base_setting(),
                        api.name()
                    ),
                );
            }
            if !at.is_empty() {
                let granted: Vec<String> = at.iter().filter_map(|g| g.audience.clone()).collect();
                return (
                    format!(
                        "`{authority}` is granted only with a token for {}",
                        granted.join(" or ")
                    ),
                    at.iter()
                        .map(|g| g.api.audience_setting().unwrap_or(g.granted_by()))
                        .collect::<Vec<_>>()
                        .join(" or "),
                );
            }
        }
        let settings: Vec<&str> = self.endpoints().iter().map(|g| g.granted_by()).collect();
        let settings = if settings.is_empty() {
            "none: no API is granted to this source".to_string()
        } else {
            format!(
                "{} (an API base on `{authority}`; do it only if that host is the API)",
                settings.join(" or ")
            )
        };
        (format!("`{authority}` is not granted"), settings)
    }
}

/// The stricter of two budgets; none means no pacing, so any budget is
/// stricter than none.
pub fn stricter(a: Option<Rate>, b: Option<Rate>) -> Option<Rate> {
    match (a, b) {
        (Some(a), Some(b)) => {
            // a is stricter when a.requests / a.per < b.requests / b.per.
            let left = u128::from(a.requests) * b.per.as_millis();
            let right = u128::from(b.requests) * a.per.as_millis();
            Some(if left <= right { a } else { b })
        }
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::RequestBudget;

    fn grant() -> Grant {
        Grant::new(
            "audit",
            vec![GrantedEndpoint {
                api: Api::ManagementActivity,
                authority: "manage.office.com".into(),
                audience: Some("https://manage.office.com".into()),
                budget: Some(Rate {
                    requests: 2000,
                    per: Duration::from_secs(60),
                }),
            }],
        )
    }

    fn endpoint(authority: &str, audience: Option<&str>) -> Endpoint {
        Endpoint {
            authority: authority.into(),
            audience: audience.map(str::to_string),
            budget: None,
        }
    }

    fn info(endpoints: Vec<Endpoint>) -> Info {
        Info {
            name: "hostile".into(),
            version: "1".into(),
            summary: String::new(),
            settings: vec![],
            endpoints,
            max_window: 3_600_000,
            max_lookback: 86_400_000,
            min_age: 0,
            dedup_horizon: 0,
            event_kinds: vec![],
        }
    }

    #[test]
    fn a_granted_endpoint_gets_the_granted_audience_and_the_host_budget() {
        let admission = grant()
            .admit(&info(vec![endpoint(
                "Manage.Office.com:443",
                Some("https://manage.office.com/.default"),
            )]))
            .unwrap();
        assert_eq!(admission.component(), "hostile");
        assert_eq!(
            admission.endpoints(),
            [AllowedEndpoint {
                authority: "manage.office.com".into(),
                audience: Some("https://manage.office.com".into()),
                budget: Some(Rate {
                    requests: 2000,
                    per: Duration::from_secs(60)
                }),
            }]
        );
    }

    #[test]
    fn a_foreign_authority_with_the_management_audience_is_refused_naming_the_setting() {
        let err = grant()
            .admit(&info(vec![endpoint(
                "evil.example",
                Some("https://manage.office.com"),
            )]))
            .unwrap_err();
        let Refusal::EndpointNotGranted {
            component,
            endpoint,
            setting,
            ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(component, "hostile");
        assert_eq!(
            endpoint,
            "`evil.example` with a token for https://manage.office.com"
        );
        assert!(setting.starts_with("O365_MANAGEMENT_API"), "{setting}");
        let text = err.to_string();
        assert!(text.contains("source `audit`"), "{text}");
        assert!(text.contains("go only to `manage.office.com`"), "{text}");
    }

    #[test]
    fn another_audience_on_a_granted_authority_is_refused() {
        let err = grant()
            .admit(&info(vec![endpoint(
                "manage.office.com",
                Some("https://graph.microsoft.com"),
            )]))
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("audience of Microsoft Graph (message traces)"),
            "{text}"
        );
        assert!(text.contains("MESSAGE_TRACES_GRAPH_API"), "{text}");
        let err = grant()
            .admit(&info(vec![endpoint(
                "manage.office.com",
                Some("https://vault.azure.net"),
            )]))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("granted only with a token for https://manage.office.com"),
            "{err}"
        );
    }

    #[test]
    fn no_audience_on_a_granted_authority_is_fine_and_an_ungranted_one_is_not() {
        let admission = grant()
            .admit(&info(vec![endpoint("manage.office.com", None)]))
            .unwrap();
        assert_eq!(admission.endpoints()[0].audience, None);
        assert!(admission.endpoints()[0].budget.is_some());
        let err = grant()
            .admit(&info(vec![endpoint("evil.example", None)]))
            .unwrap_err();
        assert!(
            err.to_string().contains("`evil.example` is not granted"),
            "{err}"
        );
    }

    #[test]
    fn a_component_may_tighten_its_budget_but_never_loosen_it() {
        let mut asked = endpoint("manage.office.com", Some("https://manage.office.com"));
        asked.budget = Some(RequestBudget {
            requests: 10_000,
            per: 60_000,
        });
        let loose = grant().admit(&info(vec![asked.clone()])).unwrap();
        assert_eq!(loose.endpoints()[0].budget.unwrap().requests, 2000);
        asked.budget = Some(RequestBudget {
            requests: 10,
            per: 1000,
        });
        let tight = grant().admit(&info(vec![asked])).unwrap();
        assert_eq!(
            tight.endpoints()[0].budget,
            Some(Rate {
                requests: 10,
                per: Duration::from_secs(1)
            })
        );
    }

    #[test]
    fn limits_are_checked_before_endpoints() {
        let mut i = info(vec![endpoint("evil.example", None)]);
        i.max_window = 0;
        let err = grant().admit(&i).unwrap_err();
        assert!(
            matches!(&err, Refusal::LimitOutOfRange { field, .. } if field == "max-window"),
            "{err:?}"
        );
        assert!(err.to_string().contains("(1s to 31d)"), "{err}");
    }
}
