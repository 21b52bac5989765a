//! Operator settings: where they come from (the environment, as Function App
//! settings arrive; `--set NAME=VALUE` overrides), which ones each component
//! receives, and the host's own knobs.
//!
//! A component declares the settings it reads (`describe`); the host passes
//! exactly those, as data. Components never read the environment.
//!
//! One deployment may serve several tenants (`O365_TENANTS`, see
//! [`tenants`]): each tenant reads its settings through its own view, in
//! which `O365_TENANT_<KEY>__<NAME>` wins over the shared `<NAME>`.

pub mod catalog;
pub mod check;
mod duration;
pub mod tenants;

pub use duration::{DurationError, parse_duration};

use crate::runtime::{Info, Setting};
use std::collections::BTreeMap;

/// Setting values from the environment and explicit overrides.
#[derive(Clone, Debug, Default)]
pub struct SettingsSource {
    overrides: BTreeMap<String, String>,
    use_environment: bool,
    /// `O365_TENANT_<KEY>__` in a tenant's view: names with it win.
    tenant_prefix: Option<String>,
}

impl SettingsSource {
    /// Settings from the process environment, with `overrides` taking
    /// precedence.
    pub fn from_environment(overrides: BTreeMap<String, String>) -> Self {
        Self {
            overrides,
            use_environment: true,
            tenant_prefix: None,
        }
    }

    /// Only the given values; the environment is not consulted (tests,
    /// embedded defaults).
    pub fn only(values: BTreeMap<String, String>) -> Self {
        Self {
            overrides: values,
            use_environment: false,
            tenant_prefix: None,
        }
    }

    /// Only the given `NAME`, `VALUE` pairs (tests, tools).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self::only(
            pairs
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        )
    }

    /// Adds or replaces one value.
    pub fn set(&mut self, name: &str, value: &str) {
        self.overrides.insert(name.to_string(), value.to_string());
    }

    /// The value of `name`, if set and not blank: in a tenant's view the
    /// tenant's own `O365_TENANT_<KEY>__<name>` first, then the shared one.
    pub fn get(&self, name: &str) -> Option<String> {
        if let Some(prefix) = &self.tenant_prefix
            && let Some(value) = self.raw(&format!("{prefix}{name}"))
        {
            return Some(value);
        }
        self.raw(name)
    }

    /// Where the value of `name` comes from, for `config check`.
    pub fn origin(&self, name: &str) -> Option<Origin> {
        if let Some(prefix) = &self.tenant_prefix
            && self.raw(&format!("{prefix}{name}")).is_some()
        {
            return Some(Origin::Tenant(format!("{prefix}{name}")));
        }
        if self
            .overrides
            .get(name)
            .is_some_and(|v| !v.trim().is_empty())
        {
            return Some(Origin::Explicit);
        }
        self.raw(name).map(|_| Origin::Environment)
    }

    /// The view of one tenant's settings: `O365_TENANT_<key>__<NAME>` wins
    /// over `<NAME>` (the key as written in `O365_TENANTS`, upper-cased).
    pub fn for_tenant(&self, key: &str) -> Self {
        Self {
            tenant_prefix: Some(tenants::prefix(key)),
            ..self.clone()
        }
    }

    /// Every name set, explicitly or in the environment (for spotting
    /// misspelled settings).
    pub fn names(&self) -> std::collections::BTreeSet<String> {
        let mut names: std::collections::BTreeSet<String> =
            self.overrides.keys().cloned().collect();
        if self.use_environment {
            names.extend(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()));
        }
        names
    }

    fn raw(&self, name: &str) -> Option<String> {
        let value = self.overrides.get(name).cloned().or_else(|| {
            self.use_environment
                .then(|| std::env::var(name).ok())
                .flatten()
        })?;
        (!value.trim().is_empty()).then_some(value)
    }

    /// The settings a component declared, with the values that are set.
    pub fn for_component(&self, info: &Info) -> Vec<Setting> {
        info.settings
            .iter()
            .filter_map(|doc| {
                self.get(&doc.name).map(|value| Setting {
                    name: doc.name.clone(),
                    value,
                })
            })
            .collect()
    }
}

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `--set` or a flag.
    Explicit,
    /// The process environment (Function App settings).
    Environment,
    /// The tenant's own `O365_TENANT_<KEY>__<NAME>`.
    Tenant(String),
}

/// Parses `NAME=VALUE` (for `--set`).
pub fn parse_assignment(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("`{text}` has no setting name before `=`"));
    }
    Ok((name.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_and_blank_counts_as_unset() {
        let mut s = SettingsSource::only(BTreeMap::new());
        s.set("A", "1");
        s.set("B", "   ");
        assert_eq!(s.get("A").as_deref(), Some("1"));
        assert_eq!(s.get("B"), None);
        assert_eq!(s.get("C"), None);
    }

    #[test]
    fn a_tenant_view_prefers_the_tenant_value_and_falls_back_to_the_shared_one() {
        let s = SettingsSource::from_pairs(&[
            ("O365_EVENT_TYPES", "Audit.Exchange"),
            ("O365_TENANT_CONTOSO__O365_EVENT_TYPES", "DLP.All"),
            ("O365_CLOUD", "public"),
        ]);
        let contoso = s.for_tenant("contoso");
        assert_eq!(contoso.get("O365_EVENT_TYPES").as_deref(), Some("DLP.All"));
        assert_eq!(contoso.get("O365_CLOUD").as_deref(), Some("public"));
        assert_eq!(
            contoso.origin("O365_EVENT_TYPES"),
            Some(Origin::Tenant(
                "O365_TENANT_CONTOSO__O365_EVENT_TYPES".into()
            ))
        );
        let fabrikam = s.for_tenant("fabrikam");
        assert_eq!(
            fabrikam.get("O365_EVENT_TYPES").as_deref(),
            Some("Audit.Exchange")
        );
        assert_eq!(s.get("O365_EVENT_TYPES").as_deref(), Some("Audit.Exchange"));
    }

    #[test]
    fn assignments() {
        assert_eq!(
            parse_assignment("O365_EVENT_TYPES=Audit.Exchange,DLP.All"),
            Ok(("O365_EVENT_TYPES".into(), "Audit.Exchange,DLP.All".into()))
        );
        assert_eq!(parse_assignment("X=a=b"), Ok(("X".into(), "a=b".into())));
        assert!(parse_assignment("novalue").is_err());
        assert!(parse_assignment("=v").is_err());
    }
}
