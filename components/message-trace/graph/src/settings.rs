//! The Graph version's settings: what `describe` documents, and their
//! parsing into a [`Config`] that every call builds from `ctx.settings`.

use connector_sdk::url::Origin;
use connector_sdk::{
    ConfigError, Endpoint, FetchError, Info, Setting, SettingDoc, SettingKind, settings,
};
use message_trace_core::duration::DAY_MS;
use message_trace_core::settings::{self as shared_settings, About, Limits, Shared};
use message_trace_core::step::Source;
use message_trace_core::urls;

use crate::source::Graph;

/// Setting: base URL of Microsoft Graph.
pub const API_BASE: &str = "MESSAGE_TRACES_GRAPH_API";
/// Setting: how many records one page asks for (`$top`).
pub const PAGE_SIZE: &str = "MESSAGE_TRACES_PAGE_SIZE";
/// Default of [`API_BASE`].
pub const DEFAULT_API_BASE: &str = "https://graph.microsoft.com";
/// Default of [`PAGE_SIZE`]: the most Graph returns per page, so the fewest
/// requests count against the 100 per 5 minutes.
pub const DEFAULT_PAGE_SIZE: u32 = 5000;

/// What `messageTraces` accepts: at most 10 days per query, 90 days back.
pub const LIMITS: Limits = Limits {
    api: "Microsoft Graph messageTraces",
    max_span_ms: 10 * DAY_MS,
    history_ms: 90 * DAY_MS,
};

/// The settings of one call, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where and how to ask.
    pub graph: Graph,
    /// Min-age and overlap.
    pub shared: Shared,
}

impl Config {
    /// Reads and validates the settings; absent ones take their defaults.
    pub fn from_settings(values: &[Setting]) -> Result<Config, ConfigError> {
        let base = settings::get(values, API_BASE).unwrap_or(DEFAULT_API_BASE);
        let origin = Origin::of_base(API_BASE, base, None)?;
        let page_size = shared_settings::number(values, PAGE_SIZE, DEFAULT_PAGE_SIZE, 1..=5000)?;
        Ok(Config {
            graph: Graph::new(version_root(base), origin, page_size),
            shared: Shared::from_settings(values)?,
        })
    }

    /// [`Config::from_settings`] for `plan` and `step`.
    pub fn for_call(values: &[Setting]) -> Result<Config, FetchError> {
        settings::for_call(Config::from_settings(values))
    }
}

/// The URL the API paths hang off: the base with `/v1.0` appended, unless
/// its path already ends in a Graph version (`/v1.0` or `/beta`).
fn version_root(base: &str) -> String {
    let base = base.trim_end_matches('/');
    let path = urls::base_path(base).to_ascii_lowercase();
    if path.ends_with("/v1.0") || path.ends_with("/beta") {
        base.to_string()
    } else {
        format!("{base}/v1.0")
    }
}

/// The component's self-description for these settings.
pub fn describe(values: &[Setting]) -> Result<Info, ConfigError> {
    let config = Config::from_settings(values)?;
    let origin = config.graph.origin().clone();
    Ok(shared_settings::info(
        About {
            version: env!("CARGO_PKG_VERSION"),
            summary: "Exchange Online message traces from Microsoft Graph (messageTraces)",
            settings: docs(),
            endpoint: Endpoint {
                authority: origin.authority.clone(),
                audience: Some(origin.to_string()),
                budget: connector_sdk::settings::budget(
                    values,
                    REQUESTS_PER_5_MINUTES,
                    100,
                    300_000,
                )?,
            },
            limits: LIMITS,
        },
        &config.shared,
    ))
}

/// The request quota per tenant, per 5 minutes.
pub const REQUESTS_PER_5_MINUTES: &str = "MESSAGE_TRACES_REQUESTS_PER_5_MINUTES";

fn docs() -> Vec<SettingDoc> {
    vec![
        SettingDoc {
            name: API_BASE.into(),
            default_value: Some(DEFAULT_API_BASE.into()),
            kind: SettingKind::ApiBase,
            description: "Base URL of Microsoft Graph (`/v1.0` is appended unless the path ends \
                          in `/v1.0` or `/beta`); its origin is also the token audience. \
                          messageTraces exists only in the global service."
                .into(),
        },
        SettingDoc {
            name: PAGE_SIZE.into(),
            default_value: Some(DEFAULT_PAGE_SIZE.to_string()),
            kind: SettingKind::Number,
            description: "Message traces per page (`$top`), 1 to 5000. Graph allows about 100 \
                          requests per 5 minutes per tenant, so large pages are best."
                .into(),
        },
        connector_sdk::settings::budget_doc(
            REQUESTS_PER_5_MINUTES,
            100,
            "5 minutes",
            "Graph messageTraces",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use connector_sdk::testkit::settings as set;
    use message_trace_core::duration::{HOUR_MS, MINUTE_MS};

    use super::*;

    #[test]
    fn describe_with_no_settings_uses_the_defaults() {
        let info = describe(&[]).unwrap();
        assert_eq!(info.name, "message-trace");
        assert_eq!(info.version, "0.2.0");
        assert_eq!(info.endpoints.len(), 1);
        assert_eq!(info.endpoints[0].authority, "graph.microsoft.com");
        assert_eq!(
            info.endpoints[0].audience.as_deref(),
            Some("https://graph.microsoft.com")
        );
        assert_eq!(info.max_window, 10 * DAY_MS - HOUR_MS - MINUTE_MS);
        assert_eq!(info.max_lookback, 90 * DAY_MS - 2 * HOUR_MS);
        assert_eq!(info.min_age, 15 * MINUTE_MS);
        assert_eq!(info.dedup_horizon, 2 * HOUR_MS + 15 * MINUTE_MS);
        assert_eq!(info.event_kinds, ["MessageTrace"]);
        // The documented quota: 100 requests per 5 minutes per tenant.
        let budget = info.endpoints[0].budget.expect("a budget");
        assert_eq!((budget.requests, budget.per), (100, 300_000));
        let names: Vec<_> = info.settings.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                API_BASE,
                PAGE_SIZE,
                REQUESTS_PER_5_MINUTES,
                "MESSAGE_TRACES_MIN_AGE",
                "MESSAGE_TRACES_OVERLAP"
            ]
        );
        assert!(info.settings.iter().all(|s| s.default_value.is_some()));
        assert_eq!(info.settings[0].kind, SettingKind::ApiBase);
        assert_eq!(info.settings[1].kind, SettingKind::Number);
        // Every documented default reads back.
        let defaults: Vec<_> = info
            .settings
            .iter()
            .map(|s| (s.name.as_str(), s.default_value.clone().unwrap()))
            .collect();
        let pairs: Vec<_> = defaults.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert_eq!(
            Config::from_settings(&set(&pairs)).unwrap(),
            Config::from_settings(&[]).unwrap()
        );
    }

    #[test]
    fn a_simulator_base_gives_its_origin_as_audience() {
        let values = set(&[(API_BASE, "http://127.0.0.1:8080/")]);
        let info = describe(&values).unwrap();
        assert_eq!(info.endpoints[0].authority, "127.0.0.1:8080");
        assert_eq!(
            info.endpoints[0].audience.as_deref(),
            Some("http://127.0.0.1:8080")
        );
        let config = Config::from_settings(&values).unwrap();
        assert_eq!(config.graph.root(), "http://127.0.0.1:8080/v1.0");
    }

    #[test]
    fn a_version_in_the_base_is_kept() {
        let root = |b: &str| {
            Config::from_settings(&set(&[(API_BASE, b)]))
                .unwrap()
                .graph
                .root()
                .to_string()
        };
        assert_eq!(
            root("https://graph.microsoft.com/v1.0/"),
            "https://graph.microsoft.com/v1.0"
        );
        assert_eq!(
            root("https://graph.microsoft.com/beta"),
            "https://graph.microsoft.com/beta"
        );
        assert_eq!(
            root("https://proxy.contoso.com/graph"),
            "https://proxy.contoso.com/graph/v1.0"
        );
    }

    #[test]
    fn bad_settings_are_refused_naming_them() {
        let err = describe(&set(&[(API_BASE, "graph.microsoft.com")])).unwrap_err();
        assert_eq!(err.setting, API_BASE);
        assert!(
            err.message
                .contains("`graph.microsoft.com` is not an http(s) URL"),
            "{}",
            err.message
        );
        for bad in ["0", "5001", "lots"] {
            let err = describe(&set(&[(PAGE_SIZE, bad)])).unwrap_err();
            assert_eq!(err.setting, PAGE_SIZE);
            assert_eq!(
                err.message,
                format!("`{bad}` is not a whole number from 1 to 5000")
            );
        }
        let err = describe(&set(&[("MESSAGE_TRACES_MIN_AGE", "15")])).unwrap_err();
        assert_eq!(err.setting, "MESSAGE_TRACES_MIN_AGE");
        match Config::for_call(&set(&[(PAGE_SIZE, "0")])) {
            Err(FetchError::BadRequest(m)) => {
                assert!(m.starts_with("setting MESSAGE_TRACES_PAGE_SIZE: "), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
}
