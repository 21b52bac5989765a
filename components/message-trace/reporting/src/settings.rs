//! The Reporting version's settings, named as the seed named them
//! (`EXCHANGE_REPORTING_API`, `EXCHANGE_REPORTING_SCOPE`), so that an
//! existing deployment switches over without touching its app settings.

use connector_sdk::url::Origin;
use connector_sdk::{
    ConfigError, Endpoint, FetchError, Info, Setting, SettingDoc, SettingKind, settings,
};
use message_trace_core::duration::DAY_MS;
use message_trace_core::settings::{self as shared_settings, About, Limits, Shared};
use message_trace_core::step::Source;
use message_trace_core::urls;

use crate::source::Reporting;

/// Setting: the Reporting Web Service's origin or service URL.
pub const API_BASE: &str = "EXCHANGE_REPORTING_API";
/// Setting: the token scope (audience) for the service.
pub const SCOPE: &str = "EXCHANGE_REPORTING_SCOPE";
/// Default of [`API_BASE`].
pub const DEFAULT_API_BASE: &str = "https://reports.office365.com";
/// Default of [`SCOPE`], as in the seed.
pub const DEFAULT_SCOPE: &str = "https://outlook.office365.com/.default";
/// The service's path below the origin.
pub const SERVICE_PATH: &str = "/ecp/reportingwebservice/reporting.svc";

/// What the `MessageTrace` report accepts: 30 days of history; no width
/// limit is documented, so the 10 days of Graph (and of `Get-MessageTrace`)
/// are used, which also keeps the two versions' windows alike.
pub const LIMITS: Limits = Limits {
    api: "the Reporting Web Service",
    max_span_ms: 10 * DAY_MS,
    history_ms: 30 * DAY_MS,
};

/// The settings of one call, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where and how to ask.
    pub reporting: Reporting,
    /// Min-age and overlap.
    pub shared: Shared,
}

impl Config {
    /// Reads and validates the settings; absent ones take their defaults.
    pub fn from_settings(values: &[Setting]) -> Result<Config, ConfigError> {
        let base = settings::get(values, API_BASE).unwrap_or(DEFAULT_API_BASE);
        let origin = Origin::of_base(API_BASE, base, None)?;
        let scope = settings::get(values, SCOPE).unwrap_or(DEFAULT_SCOPE);
        if settings::authority_of(SCOPE, scope).is_err() || scope.contains(char::is_whitespace) {
            return Err(settings::invalid(
                SCOPE,
                format!(
                    "`{scope}` is not a token scope; give the service's resource URL with or without /.default, such as {DEFAULT_SCOPE}"
                ),
            ));
        }
        Ok(Config {
            reporting: Reporting::new(service_url(base), origin, scope.to_string()),
            shared: Shared::from_settings(values)?,
        })
    }

    /// [`Config::from_settings`] for `plan` and `step`.
    pub fn for_call(values: &[Setting]) -> Result<Config, FetchError> {
        settings::for_call(Config::from_settings(values))
    }
}

/// The service URL the report hangs off: a bare origin gets the service
/// path; a URL with a path is the service URL already (the seed's default
/// spelled it so), less a trailing `/MessageTrace` if the report's own URL
/// was given.
pub fn service_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    let path = urls::base_path(base);
    if path.is_empty() {
        return format!("{base}{SERVICE_PATH}");
    }
    let report = "/messagetrace";
    if path.to_ascii_lowercase().ends_with(report) {
        return base[..base.len() - report.len()].to_string();
    }
    base.to_string()
}

/// The component's self-description for these settings.
pub fn describe(values: &[Setting]) -> Result<Info, ConfigError> {
    let config = Config::from_settings(values)?;
    Ok(shared_settings::info(
        About {
            version: env!("CARGO_PKG_VERSION"),
            summary: "Exchange Online message traces from the Reporting Web Service (legacy, being retired; swap to the Graph version)",
            settings: docs(),
            endpoint: Endpoint {
                authority: config.reporting.origin().authority.clone(),
                audience: Some(config.reporting.scope().to_string()),
                // Microsoft documents no quota for the Reporting Web Service.
                budget: None,
            },
            limits: LIMITS,
        },
        &config.shared,
    ))
}

fn docs() -> Vec<SettingDoc> {
    vec![
        SettingDoc {
            name: API_BASE.into(),
            default_value: Some(DEFAULT_API_BASE.into()),
            kind: SettingKind::ApiBase,
            description: format!(
                "The Reporting Web Service: its origin (the service path {SERVICE_PATH} is \
                 appended) or its full service URL, as the previous version took it."
            ),
        },
        SettingDoc {
            name: SCOPE.into(),
            default_value: Some(DEFAULT_SCOPE.into()),
            kind: SettingKind::Audience,
            description: "Token scope for the Reporting Web Service (with or without /.default): \
                          the Exchange Online resource."
                .into(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use connector_sdk::testkit::settings as set;
    use message_trace_core::duration::{HOUR_MS, MINUTE_MS};

    use super::*;

    #[test]
    fn describe_with_no_settings_uses_the_seeds_defaults() {
        let info = describe(&[]).unwrap();
        assert_eq!(info.name, "message-trace");
        assert_eq!(info.version, "0.1.0");
        assert_eq!(info.endpoints.len(), 1);
        assert_eq!(info.endpoints[0].authority, "reports.office365.com");
        assert_eq!(
            info.endpoints[0].audience.as_deref(),
            Some("https://outlook.office365.com/.default")
        );
        assert_eq!(info.max_window, 10 * DAY_MS - HOUR_MS - MINUTE_MS);
        assert_eq!(info.max_lookback, 30 * DAY_MS - 2 * HOUR_MS);
        assert_eq!(info.min_age, 15 * MINUTE_MS);
        assert_eq!(info.dedup_horizon, 2 * HOUR_MS + 15 * MINUTE_MS);
        assert_eq!(info.event_kinds, ["MessageTrace"]);
        let names: Vec<_> = info.settings.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                API_BASE,
                SCOPE,
                "MESSAGE_TRACES_MIN_AGE",
                "MESSAGE_TRACES_OVERLAP"
            ]
        );
        assert_eq!(info.settings[0].kind, SettingKind::ApiBase);
        assert_eq!(info.settings[1].kind, SettingKind::Audience);
        let config = Config::from_settings(&[]).unwrap();
        assert_eq!(
            config.reporting.service(),
            "https://reports.office365.com/ecp/reportingwebservice/reporting.svc"
        );
    }

    #[test]
    fn the_base_may_be_an_origin_the_seeds_service_url_or_the_report() {
        for (base, service) in [
            (
                "https://reports.office365.com/",
                "https://reports.office365.com/ecp/reportingwebservice/reporting.svc",
            ),
            (
                "https://reports.office365.com/ecp/reportingwebservice/reporting.svc",
                "https://reports.office365.com/ecp/reportingwebservice/reporting.svc",
            ),
            (
                "https://reports.office365.com/ecp/ReportingWebService/Reporting.svc/",
                "https://reports.office365.com/ecp/ReportingWebService/Reporting.svc",
            ),
            (
                "https://reports.office365.com/ecp/reportingwebservice/reporting.svc/MessageTrace",
                "https://reports.office365.com/ecp/reportingwebservice/reporting.svc",
            ),
            (
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080/ecp/reportingwebservice/reporting.svc",
            ),
        ] {
            assert_eq!(service_url(base), service, "{base}");
        }
    }

    #[test]
    fn a_simulator_base_keeps_the_scope_as_audience() {
        let info = describe(&set(&[(API_BASE, "http://127.0.0.1:8080")])).unwrap();
        assert_eq!(info.endpoints[0].authority, "127.0.0.1:8080");
        assert_eq!(
            info.endpoints[0].audience.as_deref(),
            Some("https://outlook.office365.com/.default")
        );
        let info = describe(&set(&[(SCOPE, "https://outlook.office365.com")])).unwrap();
        assert_eq!(
            info.endpoints[0].audience.as_deref(),
            Some("https://outlook.office365.com")
        );
    }

    #[test]
    fn bad_settings_are_refused_naming_them() {
        let err = describe(&set(&[(API_BASE, "reports.office365.com")])).unwrap_err();
        assert_eq!(err.setting, API_BASE);
        for bad in [
            "outlook.office365.com/.default",
            "https://",
            "https://outlook.office365.com/.default x",
        ] {
            let err = describe(&set(&[(SCOPE, bad)])).unwrap_err();
            assert_eq!(err.setting, SCOPE, "{bad}");
            assert!(
                err.message.contains("is not a token scope"),
                "{}",
                err.message
            );
        }
        match Config::for_call(&set(&[("MESSAGE_TRACES_OVERLAP", "3d")])) {
            Err(FetchError::BadRequest(m)) => {
                assert!(m.starts_with("setting MESSAGE_TRACES_OVERLAP: "), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
}
