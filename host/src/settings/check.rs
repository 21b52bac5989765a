//! Judging a whole configuration at once, before any network call: every
//! wrong or missing setting is named with its fix, not only the first.
//! `config check` prints the result; `once`, `run` and `serve` refuse to
//! start on any error.

use super::SettingsSource;
use super::catalog::{self, SETTINGS, Scope};
use super::tenants::{self, TENANT_PREFIX, TENANTS_SETTING, TenantSettings};
use crate::tokens::CredentialSettings;
use std::fmt;

/// Something wrong with one setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The setting, as the operator would write it.
    pub setting: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Problem {
    /// A problem with `setting`.
    pub fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.setting, self.message)
    }
}

/// The verdict on a configuration.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// The tenants it describes (empty if `O365_TENANTS` is wrong).
    pub tenants: Vec<TenantSettings>,
    /// What stops a start.
    pub errors: Vec<Problem>,
    /// What is probably a mistake (an unknown setting that looks like ours).
    pub warnings: Vec<Problem>,
}

impl CheckReport {
    /// The errors, one per line, for an error message.
    pub fn error_text(&self) -> String {
        self.errors
            .iter()
            .map(|p| format!("  - {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Checks `settings`. `component_settings` are the names the components
/// declare: known, so not reported as misspelled; `None` skips the search
/// for misspelled names.
pub fn check(settings: &SettingsSource, component_settings: Option<&[String]>) -> CheckReport {
    let mut report = CheckReport::default();
    match tenants::tenants(settings) {
        Ok(t) => report.tenants = t,
        Err(problems) => report.errors.extend(problems),
    }
    for spec in SETTINGS.iter().filter(|s| s.scope == Scope::Host) {
        if let Some(value) = settings.get(spec.name)
            && let Err(message) = spec.kind.check(spec.name, &value)
        {
            report
                .errors
                .push(value_problem(spec.name, &value, &message));
        }
    }
    let multi = report.tenants.iter().any(|t| t.key.is_some());
    if multi && settings.get("ENTRA_TENANT_ID").is_some() {
        report.errors.push(Problem::new(
            "ENTRA_TENANT_ID",
            format!(
                "is set together with {TENANTS_SETTING}: give each tenant its own \
                 O365_TENANT_<KEY>__ENTRA_TENANT_ID and remove the shared one"
            ),
        ));
    }
    let mut ids = std::collections::BTreeMap::new();
    for tenant in &report.tenants {
        check_tenant(tenant, &mut report.errors);
        if let Some(id) = tenant.id()
            && let Some(other) = ids.insert(id.to_ascii_lowercase(), tenant.label())
        {
            report.errors.push(Problem::new(
                name_in(tenant, "ENTRA_TENANT_ID"),
                format!("is the same tenant as `{other}`: each tenant may be listed once"),
            ));
        }
    }
    if let Some(known) = component_settings {
        report.warnings = misspelled(settings, &report.tenants, known);
    }
    report
}

/// How an operator writes `name` for `tenant`.
fn name_in(tenant: &TenantSettings, name: &str) -> String {
    match &tenant.key {
        Some(key) => format!("{}{name}", tenants::prefix(key)),
        None => name.to_string(),
    }
}

fn value_problem(name: &str, value: &str, message: &str) -> Problem {
    let shown = catalog::display(catalog::find(name), value);
    Problem::new(name, format!("= `{shown}` {message}"))
}

fn check_tenant(tenant: &TenantSettings, errors: &mut Vec<Problem>) {
    let s = &tenant.settings;
    for spec in SETTINGS.iter().filter(|s| s.scope == Scope::Tenant) {
        if let Some(value) = s.get(spec.name)
            && let Err(message) = spec.kind.check(spec.name, &value)
        {
            let name = match s.origin(spec.name) {
                Some(super::Origin::Tenant(prefixed)) => prefixed,
                _ => spec.name.to_string(),
            };
            errors.push(value_problem(&name, &value, &message));
        }
    }
    if tenant.id().is_none() {
        errors.push(Problem::new(
            name_in(tenant, "ENTRA_TENANT_ID"),
            "is not set: give the tenant (directory) id to collect from (Entra admin center, \
             Overview)",
        ));
    }
    if let Some(sources) = s.get("O365_SOURCES") {
        for name in sources.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if !crate::cli::KNOWN_SOURCES.iter().any(|k| k.name == name) {
                errors.push(Problem::new(
                    name_in(tenant, "O365_SOURCES"),
                    format!(
                        "names `{name}`; known sources: {}",
                        crate::cli::KNOWN_SOURCES
                            .iter()
                            .map(|k| k.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    }
    check_credentials(tenant, errors);
}

/// Exactly one way to get tokens, complete: the rule of
/// [`CredentialSettings::from_settings`], which the start uses too, plus
/// that a deployment has one at all. A setting whose value is already
/// reported wrong is not reported twice.
fn check_credentials(tenant: &TenantSettings, errors: &mut Vec<Problem>) {
    let s = &tenant.settings;
    // An unknown cloud is reported with O365_CLOUD's value; the credential
    // rule is judged as for the public cloud meanwhile.
    let cloud = crate::grants::Cloud::from_settings(s).unwrap_or(crate::grants::Cloud::Public);
    match CredentialSettings::from_settings(s, cloud) {
        Err(e) => {
            let setting = name_in(tenant, e.setting);
            let reported = errors
                .iter()
                .any(|p| p.setting == setting || p.setting == e.setting);
            if !reported {
                errors.push(Problem::new(setting, e.problem));
            }
        }
        Ok(chosen) if chosen.static_token.is_none() && chosen.app.is_none() => {
            errors.push(Problem::new(
                name_in(tenant, "ENTRA_APP_CLIENT_ID"),
                "and a credential are not set: set ENTRA_APP_CLIENT_ID and the app's certificate \
                 (ENTRA_APP_CLIENT_CERTIFICATE_KEYVAULT_NAME + ENTRA_APP_CLIENT_CERTIFICATE_NAME, or \
                 ENTRA_APP_CLIENT_CERTIFICATE_PATH) or ENTRA_APP_CLIENT_SECRET",
            ));
        }
        Ok(_) => {}
    }
}

/// Names that look like settings of ours but are not read by anything.
fn misspelled(
    settings: &SettingsSource,
    tenants: &[TenantSettings],
    component_settings: &[String],
) -> Vec<Problem> {
    let known =
        |name: &str| catalog::find(name).is_some() || component_settings.iter().any(|c| c == name);
    let ours = |name: &str| {
        [
            "O365_",
            "ENTRA_",
            "AUDIT_LOGS_",
            "MESSAGE_TRACES_",
            "EXCHANGE_",
        ]
        .iter()
        .any(|p| name.starts_with(p))
    };
    let mut warnings = Vec::new();
    for name in settings.names() {
        if let Some(rest) = name.strip_prefix(TENANT_PREFIX)
            && let Some((key, inner)) = rest.split_once("__")
        {
            if !tenants.iter().any(|t| {
                t.key
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case(key))
            }) {
                warnings.push(Problem::new(
                    &name,
                    format!("is for tenant `{key}`, which {TENANTS_SETTING} does not list"),
                ));
            } else if !known(inner) {
                warnings.push(unknown(&name, inner, component_settings));
            }
            continue;
        }
        if ours(&name) && !known(&name) {
            warnings.push(unknown(&name, &name, component_settings));
        }
    }
    warnings
}

fn unknown(full: &str, name: &str, component_settings: &[String]) -> Problem {
    let candidates = SETTINGS
        .iter()
        .map(|s| s.name)
        .chain(component_settings.iter().map(String::as_str));
    let best = candidates
        .map(|c| (distance(name, c), c))
        .min()
        .filter(|(d, _)| *d <= 3);
    Problem::new(
        full,
        match best {
            Some((_, c)) => format!("is not a setting anything reads; did you mean {c}?"),
            None => "is not a setting anything reads".into(),
        },
    )
}

/// Levenshtein distance, for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const T2: &str = "0b3f1c2d-1111-2222-3333-444455556666";
    const APP: &str = "11111111-2222-3333-4444-555555555555";

    fn errors(pairs: &[(&str, &str)]) -> Vec<String> {
        check(&SettingsSource::from_pairs(pairs), None)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_complete_single_tenant_passes() {
        let e = errors(&[
            ("ENTRA_TENANT_ID", T1),
            ("ENTRA_APP_CLIENT_ID", APP),
            ("ENTRA_APP_CLIENT_SECRET", "s"),
        ]);
        assert!(e.is_empty(), "{e:?}");
    }

    #[test]
    fn every_wrong_setting_is_named_at_once() {
        let e = errors(&[
            ("ENTRA_TENANT_ID", "contoso.onmicrosoft.com"),
            ("ENTRA_APP_CLIENT_SECRET", "s"),
            ("O365_CLOUD", "mars"),
            ("AUDIT_LOGS_EVENT_HUB_NAME", "bad hub"),
            ("AUDIT_LOGS_INDEXER_SCHEDULE", "*/5 * * * *"),
        ]);
        let joined = e.join("\n");
        for expected in [
            "ENTRA_TENANT_ID = `contoso.onmicrosoft.com` is not a GUID",
            "O365_CLOUD = `mars` is not a cloud",
            "AUDIT_LOGS_EVENT_HUB_NAME = `bad hub` is not a name Event Hubs accepts",
            "AUDIT_LOGS_INDEXER_SCHEDULE = `*/5 * * * *`",
            "ENTRA_APP_CLIENT_ID is not set but ENTRA_APP_CLIENT_SECRET is",
        ] {
            assert!(
                joined.contains(expected),
                "missing {expected:?} in\n{joined}"
            );
        }
        assert_eq!(e.len(), 5, "{joined}");
        assert!(!joined.contains("= `s`"), "a secret was printed: {joined}");
    }

    #[test]
    fn credentials_are_exactly_one_way() {
        let e = errors(&[
            ("ENTRA_TENANT_ID", T1),
            ("ENTRA_APP_CLIENT_ID", APP),
            ("ENTRA_APP_CLIENT_SECRET", "s"),
            ("ENTRA_APP_CLIENT_CERTIFICATE_PATH", "/x.pem"),
        ]);
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("both set"), "{e:?}");
        let e = errors(&[
            ("ENTRA_TENANT_ID", T1),
            ("ENTRA_APP_CLIENT_ID", APP),
            ("ENTRA_APP_CLIENT_CERTIFICATE_KEYVAULT_NAME", "kv-prod"),
        ]);
        assert!(
            e[0].starts_with("ENTRA_APP_CLIENT_CERTIFICATE_NAME is not set"),
            "{e:?}"
        );
        let e = errors(&[("ENTRA_TENANT_ID", T1)]);
        assert!(e[0].contains("and a credential are not set"), "{e:?}");
        let e = errors(&[("ENTRA_TENANT_ID", T1), ("ENTRA_APP_CLIENT_ID", APP)]);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("ENTRA_APP_CLIENT_ID is set but no credential"),
            "{e:?}"
        );
        let e = errors(&[
            ("ENTRA_TENANT_ID", T1),
            ("O365_STATIC_TOKEN", "t"),
            ("ENTRA_APP_CLIENT_ID", APP),
            ("ENTRA_APP_CLIENT_SECRET", "s"),
        ]);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("O365_STATIC_TOKEN and ENTRA_APP_CLIENT_SECRET are both set"),
            "{e:?}"
        );
    }

    #[test]
    fn a_wrong_vault_name_is_reported_once() {
        let e = errors(&[
            ("ENTRA_TENANT_ID", T1),
            ("ENTRA_APP_CLIENT_ID", APP),
            ("ENTRA_APP_CLIENT_CERTIFICATE_KEYVAULT_NAME", "-bad--name"),
            ("ENTRA_APP_CLIENT_CERTIFICATE_NAME", "app-cert"),
        ]);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(
                "ENTRA_APP_CLIENT_CERTIFICATE_KEYVAULT_NAME = `-bad--name` is not a Key Vault name"
            ),
            "{e:?}"
        );
        let e = errors(&[
            ("O365_TENANTS", "a"),
            ("O365_TENANT_A__ENTRA_TENANT_ID", T1),
            ("ENTRA_APP_CLIENT_ID", APP),
            (
                "O365_TENANT_A__ENTRA_APP_CLIENT_CERTIFICATE_KEYVAULT_NAME",
                "x",
            ),
            (
                "O365_TENANT_A__ENTRA_APP_CLIENT_CERTIFICATE_NAME",
                "app-cert",
            ),
        ]);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("O365_TENANT_A__ENTRA_APP_CLIENT_CERTIFICATE_KEYVAULT_NAME = `x`"),
            "{e:?}"
        );
    }

    #[test]
    fn tenants_are_checked_in_their_own_names() {
        let e = errors(&[
            ("O365_TENANTS", "contoso,fabrikam"),
            ("ENTRA_APP_CLIENT_ID", APP),
            ("ENTRA_APP_CLIENT_SECRET", "s"),
            ("O365_TENANT_CONTOSO__ENTRA_TENANT_ID", T1),
            ("O365_TENANT_FABRIKAM__ENTRA_TENANT_ID", "nope"),
            ("O365_TENANT_FABRIKAM__MESSAGE_TRACES_EVENT_HUB_NAME", "-x"),
        ]);
        let joined = e.join("\n");
        assert!(
            joined.contains("O365_TENANT_FABRIKAM__ENTRA_TENANT_ID = `nope` is not a GUID"),
            "{joined}"
        );
        assert!(
            joined.contains("O365_TENANT_FABRIKAM__MESSAGE_TRACES_EVENT_HUB_NAME = `-x`"),
            "{joined}"
        );
        assert_eq!(e.len(), 2, "{joined}");
        let e = errors(&[
            ("O365_TENANTS", "a,b"),
            ("ENTRA_APP_CLIENT_ID", APP),
            ("ENTRA_APP_CLIENT_SECRET", "s"),
            ("O365_TENANT_A__ENTRA_TENANT_ID", T2),
            ("O365_TENANT_B__ENTRA_TENANT_ID", T2),
        ]);
        assert!(e.join("\n").contains("is the same tenant as `a`"), "{e:?}");
    }

    #[test]
    fn misspelled_settings_are_warned_about_with_a_suggestion() {
        let s = SettingsSource::from_pairs(&[
            ("ENTRA_TENANT_ID", T1),
            ("O365_STATIC_TOKEN", "t"),
            ("AUDIT_LOGS_EVENT_HUB_NAM", "x"),
            ("O365_EVENT_TYPE", "Audit.Exchange"),
            ("PATH", "/usr/bin"),
        ]);
        let report = check(&s, Some(&["O365_EVENT_TYPES".to_string()]));
        let w: Vec<String> = report.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("did you mean AUDIT_LOGS_EVENT_HUB_NAME"),
            "{w:?}"
        );
        assert!(w[1].contains("did you mean O365_EVENT_TYPES"), "{w:?}");
    }
}
