//! Operator settings: where they come from (the environment, as Function App
//! settings arrive; `--set NAME=VALUE` overrides), which ones each component
//! receives, and the host's own knobs.
//!
//! A component declares the settings it reads (`describe`); the host passes
//! exactly those, as data. Components never read the environment.

mod duration;

pub use duration::{DurationError, parse_duration};

use crate::runtime::{Info, Setting};
use std::collections::BTreeMap;

/// Setting values from the environment and explicit overrides.
#[derive(Clone, Debug, Default)]
pub struct SettingsSource {
    overrides: BTreeMap<String, String>,
    use_environment: bool,
}

impl SettingsSource {
    /// Settings from the process environment, with `overrides` taking
    /// precedence.
    pub fn from_environment(overrides: BTreeMap<String, String>) -> Self {
        Self {
            overrides,
            use_environment: true,
        }
    }

    /// Only the given values; the environment is not consulted (tests,
    /// embedded defaults).
    pub fn only(values: BTreeMap<String, String>) -> Self {
        Self {
            overrides: values,
            use_environment: false,
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

    /// The value of `name`, if set and not blank.
    pub fn get(&self, name: &str) -> Option<String> {
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
