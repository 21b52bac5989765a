//! The connector's settings: what `describe` documents, and their parsing
//! into a [`Config`] that every call builds from `ctx.settings`.
//!
//! Names and defaults are the seed's (`O365_MANAGEMENT_API`,
//! `O365_EVENT_TYPES`, `O365_IGNORED_SOURCES`), so an existing deployment
//! switches over without touching its app settings. Every setting has a
//! default, so `describe(&[])` succeeds.

use connector_sdk::url::Origin;
use connector_sdk::{
    ConfigError, Endpoint, FetchError, Info, Setting, SettingDoc, SettingKind, duration, settings,
};

use crate::content_type::ContentType;

/// Setting: base URL of the Management Activity API.
pub const API_BASE: &str = "O365_MANAGEMENT_API";
/// Setting: the content types to collect.
pub const EVENT_TYPES: &str = "O365_EVENT_TYPES";
/// Setting: values of a record's `Source` whose records are dropped.
pub const IGNORED_SOURCES: &str = "O365_IGNORED_SOURCES";

/// Default of [`API_BASE`]: the commercial cloud.
pub const DEFAULT_API_BASE: &str = "https://manage.office.com";
/// Default of [`IGNORED_SOURCES`], as in the seed.
pub const DEFAULT_IGNORED_SOURCES: &str = "Cloud App Security";
/// Setting: how far before its window each listing starts.
pub const LISTING_OVERLAP: &str = "O365_LISTING_OVERLAP";
/// Default of [`LISTING_OVERLAP`]. Blobs can become listable minutes after
/// their `contentCreated`, and the host's clock can run ahead of
/// Microsoft's: a window that ended at "now" may miss both. Ten minutes
/// covers either with room to spare, and costs no request in the steady
/// state, one listing per content type per full-day slice in a catch-up
/// (see `docs/checkpoints.md`).
pub const DEFAULT_LISTING_OVERLAP: &str = "10m";
/// The largest overlap accepted: more would only re-list more.
pub const MAX_LISTING_OVERLAP_MS: u64 = HOUR_MS;
/// Setting: how long after starting a subscription its type is re-listed.
pub const SUBSCRIPTION_WARMUP: &str = "O365_SUBSCRIPTION_WARMUP";
/// Default of [`SUBSCRIPTION_WARMUP`]: a new subscription may take up to 12
/// hours to produce content, and listings stay empty meanwhile.
pub const DEFAULT_SUBSCRIPTION_WARMUP: &str = "12h";

const HOUR_MS: u64 = 3_600_000;
/// The widest window `subscriptions/content` accepts.
pub const MAX_WINDOW_MS: u64 = 24 * HOUR_MS;
/// How far back `subscriptions/content` can list.
pub const MAX_LOOKBACK_MS: u64 = 7 * 24 * HOUR_MS;

/// The settings of one call, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The API base without a trailing slash, for building request URLs.
    pub api_base: String,
    /// Scheme and authority of the API base: the only place requests and
    /// followed links may go.
    pub origin: Origin,
    /// The content types to collect, without duplicates, in setting order.
    pub content_types: Vec<ContentType>,
    /// `Source` values whose records are dropped (compared ignoring case).
    pub ignored_sources: Vec<String>,
    /// How far before its window each listing starts, ms.
    pub overlap_ms: i64,
    /// How long after the connector started a subscription that type's
    /// window stays open and is re-listed, ms.
    pub warmup_ms: i64,
}

impl Config {
    /// Reads and validates the settings; absent ones take their defaults.
    pub fn from_settings(values: &[Setting]) -> Result<Config, ConfigError> {
        let base = settings::get(values, API_BASE).unwrap_or(DEFAULT_API_BASE);
        let origin = Origin::of_base(API_BASE, base, Some(DEFAULT_API_BASE))?;
        let content_types = parse_content_types(settings::get(values, EVENT_TYPES))?;
        let ignored_sources = settings::list(
            settings::get(values, IGNORED_SOURCES).unwrap_or(DEFAULT_IGNORED_SOURCES),
        );
        let overlap_ms = duration::parse(
            LISTING_OVERLAP,
            settings::get(values, LISTING_OVERLAP).unwrap_or(DEFAULT_LISTING_OVERLAP),
        )?;
        if overlap_ms > MAX_LISTING_OVERLAP_MS {
            return Err(settings::invalid(
                LISTING_OVERLAP,
                format!(
                    "{} is more than the 1h this connector accepts; a few minutes catch late-listed blobs",
                    duration::show(overlap_ms)
                ),
            ));
        }
        let warmup_ms = duration::parse(
            SUBSCRIPTION_WARMUP,
            settings::get(values, SUBSCRIPTION_WARMUP).unwrap_or(DEFAULT_SUBSCRIPTION_WARMUP),
        )?;
        if warmup_ms > MAX_LOOKBACK_MS {
            return Err(settings::invalid(
                SUBSCRIPTION_WARMUP,
                format!(
                    "{} is more than the 7 days the API keeps content",
                    duration::show(warmup_ms)
                ),
            ));
        }
        Ok(Config {
            api_base: base.trim_end_matches('/').to_string(),
            origin,
            content_types,
            ignored_sources,
            overlap_ms: overlap_ms as i64,
            warmup_ms: warmup_ms as i64,
        })
    }

    /// [`Config::from_settings`] for `plan` and `step`, where a bad setting
    /// is a request that cannot work.
    pub fn for_call(values: &[Setting]) -> Result<Config, FetchError> {
        settings::for_call(Config::from_settings(values))
    }

    /// Whether records with this `Source` are dropped.
    pub fn is_ignored_source(&self, source: &str) -> bool {
        let source = source.trim();
        self.ignored_sources
            .iter()
            .any(|s| s.eq_ignore_ascii_case(source))
    }
}

fn parse_content_types(value: Option<&str>) -> Result<Vec<ContentType>, ConfigError> {
    let Some(value) = value else {
        return Ok(ContentType::ALL.to_vec());
    };
    let mut types = Vec::new();
    for name in settings::list(value) {
        let t = ContentType::parse(&name).ok_or_else(|| {
            settings::invalid(
                EVENT_TYPES,
                format!(
                    "unknown content type `{name}`; valid ones are {}",
                    ContentType::valid_names()
                ),
            )
        })?;
        if !types.contains(&t) {
            types.push(t);
        }
    }
    if types.is_empty() {
        return Err(settings::invalid(
            EVENT_TYPES,
            format!(
                "`{value}` names no content type; give one or more of {}",
                ContentType::valid_names()
            ),
        ));
    }
    Ok(types)
}

/// The request quota per tenant, per minute.
pub const REQUESTS_PER_MINUTE: &str = "O365_REQUESTS_PER_MINUTE";

/// The connector's self-description for these settings.
pub fn describe(values: &[Setting]) -> Result<Info, ConfigError> {
    let config = Config::from_settings(values)?;
    Ok(Info {
        name: "audit".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        summary: "Office 365 audit logs from the Management Activity API".into(),
        settings: docs(),
        endpoints: vec![Endpoint {
            authority: config.origin.authority.clone(),
            audience: Some(config.origin.to_string()),
            budget: settings::budget(values, REQUESTS_PER_MINUTE, 2000, 60_000)?,
        }],
        max_window: MAX_WINDOW_MS,
        max_lookback: MAX_LOOKBACK_MS,
        // Late-listed blobs are caught by the overlap instead of a holdback,
        // so events are not delayed: content ids are remembered, so what
        // the overlap lists again is not fetched again.
        min_age: 0,
        dedup_horizon: 0,
        event_kinds: ContentType::ALL
            .iter()
            .map(|t| t.as_str().to_string())
            .collect(),
    })
}

fn docs() -> Vec<SettingDoc> {
    let all_types = ContentType::valid_names().replace(", ", ",");
    vec![
        SettingDoc {
            name: API_BASE.into(),
            default_value: Some(DEFAULT_API_BASE.into()),
            kind: SettingKind::ApiBase,
            description: "Base URL of the Office 365 Management Activity API; also the token \
                          audience. Government clouds use manage.office365.us or \
                          manage.protection.apps.mil."
                .into(),
        },
        SettingDoc {
            name: EVENT_TYPES.into(),
            default_value: Some(all_types),
            kind: SettingKind::List,
            description: format!(
                "Content types to collect, comma-separated: any of {}. DLP.All needs the \
                 ActivityFeed.ReadDlp permission.",
                ContentType::valid_names()
            ),
        },
        SettingDoc {
            name: IGNORED_SOURCES.into(),
            default_value: Some(DEFAULT_IGNORED_SOURCES.into()),
            kind: SettingKind::List,
            description: "Records whose `Source` is one of these (comma-separated, any case) \
                          are dropped. A value naming nothing, such as `,`, keeps every record."
                .into(),
        },
        SettingDoc {
            name: LISTING_OVERLAP.into(),
            default_value: Some(DEFAULT_LISTING_OVERLAP.into()),
            kind: SettingKind::Duration,
            description: "How far before its window each content listing starts (at most 1h), \
                          so that blobs listed late or a clock ahead of Microsoft's lose \
                          nothing. Blobs listed again are not fetched again."
                .into(),
        },
        SettingDoc {
            name: SUBSCRIPTION_WARMUP.into(),
            default_value: Some(DEFAULT_SUBSCRIPTION_WARMUP.into()),
            kind: SettingKind::Duration,
            description: "After starting a subscription, how long its content type is \
                          reported behind and re-listed from where it fell behind (a new \
                          subscription may take up to 12 hours to produce content)."
                .into(),
        },
        settings::budget_doc(
            REQUESTS_PER_MINUTE,
            2000,
            "minute",
            "the Management Activity API",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use connector_sdk::testkit::settings as set;

    use super::*;

    #[test]
    fn describe_with_no_settings_uses_the_defaults() {
        let info = describe(&[]).unwrap();
        assert_eq!(info.name, "audit");
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(info.endpoints.len(), 1);
        assert_eq!(info.endpoints[0].authority, "manage.office.com");
        assert_eq!(
            info.endpoints[0].audience.as_deref(),
            Some("https://manage.office.com")
        );
        assert_eq!(info.max_window, 86_400_000);
        assert_eq!(info.max_lookback, 7 * 86_400_000);
        assert_eq!(info.min_age, 0);
        assert_eq!(
            info.event_kinds,
            [
                "Audit.AzureActiveDirectory",
                "Audit.Exchange",
                "Audit.SharePoint",
                "Audit.General",
                "DLP.All"
            ]
        );
        let names: Vec<_> = info.settings.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                API_BASE,
                EVENT_TYPES,
                IGNORED_SOURCES,
                LISTING_OVERLAP,
                SUBSCRIPTION_WARMUP,
                REQUESTS_PER_MINUTE
            ]
        );
        assert!(info.settings.iter().all(|s| s.default_value.is_some()));
        // The documented quota: 2,000 requests a minute per tenant.
        let budget = info.endpoints[0].budget.expect("a budget");
        assert_eq!((budget.requests, budget.per), (2000, 60_000));
        let off = describe(&set(&[(REQUESTS_PER_MINUTE, "0")])).unwrap();
        assert!(off.endpoints[0].budget.is_none());
        assert!(describe(&set(&[(REQUESTS_PER_MINUTE, "lots")])).is_err());
        // The documented default of the list parses back to all five types.
        let default_types = info.settings[1].default_value.clone().unwrap();
        let config = Config::from_settings(&set(&[(EVENT_TYPES, &default_types)])).unwrap();
        assert_eq!(config.content_types, ContentType::ALL);
    }

    #[test]
    fn a_simulator_base_gives_its_origin_as_audience() {
        let info = describe(&set(&[(API_BASE, "http://127.0.0.1:8080/")])).unwrap();
        assert_eq!(info.endpoints[0].authority, "127.0.0.1:8080");
        assert_eq!(
            info.endpoints[0].audience.as_deref(),
            Some("http://127.0.0.1:8080")
        );
        let config = Config::from_settings(&set(&[(API_BASE, "http://127.0.0.1:8080/")])).unwrap();
        assert_eq!(config.api_base, "http://127.0.0.1:8080");
    }

    #[test]
    fn a_base_that_is_not_an_http_url_is_refused() {
        for bad in [
            "manage.office.com",
            "ftp://manage.office.com",
            "https://",
            "https://u:p@h",
        ] {
            let err = describe(&set(&[(API_BASE, bad)])).unwrap_err();
            assert_eq!(err.setting, API_BASE, "{bad}");
            assert!(err.message.contains(bad), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn unknown_content_types_are_refused_with_the_valid_ones() {
        let err = describe(&set(&[(EVENT_TYPES, "Audit.Exchange, Audit.Teams")])).unwrap_err();
        assert_eq!(err.setting, EVENT_TYPES);
        assert!(err.message.contains("`Audit.Teams`"), "{}", err.message);
        assert!(
            err.message
                .contains("Audit.SharePoint, Audit.General, DLP.All")
        );
        let err = describe(&set(&[(EVENT_TYPES, " , ")])).unwrap_err();
        assert!(
            err.message.contains("names no content type"),
            "{}",
            err.message
        );
    }

    #[test]
    fn content_types_are_canonical_and_deduplicated() {
        let config = Config::from_settings(&set(&[(
            EVENT_TYPES,
            "dlp.all,Audit.Exchange , AUDIT.EXCHANGE",
        )]))
        .unwrap();
        assert_eq!(
            config.content_types,
            [ContentType::DlpAll, ContentType::Exchange]
        );
    }

    #[test]
    fn ignored_sources_default_and_compare_ignoring_case() {
        let config = Config::from_settings(&[]).unwrap();
        assert!(config.is_ignored_source("Cloud App Security"));
        assert!(config.is_ignored_source(" cloud app security "));
        assert!(!config.is_ignored_source("Exchange"));
        let config = Config::from_settings(&set(&[(IGNORED_SOURCES, ",")])).unwrap();
        assert!(!config.is_ignored_source("Cloud App Security"));
    }

    #[test]
    fn overlap_and_warmup_are_durations_within_bounds() {
        let config = Config::from_settings(&[]).unwrap();
        assert_eq!(
            (config.overlap_ms, config.warmup_ms),
            (600_000, 12 * 3_600_000)
        );
        let config = Config::from_settings(&set(&[
            (LISTING_OVERLAP, "0"),
            (SUBSCRIPTION_WARMUP, "90s"),
        ]))
        .unwrap();
        assert_eq!((config.overlap_ms, config.warmup_ms), (0, 90_000));
        let err = describe(&set(&[(LISTING_OVERLAP, "2h")])).unwrap_err();
        assert_eq!(err.setting, LISTING_OVERLAP);
        assert!(err.message.contains("more than the 1h"), "{}", err.message);
        let err = describe(&set(&[(SUBSCRIPTION_WARMUP, "8d")])).unwrap_err();
        assert!(err.message.contains("7 days"), "{}", err.message);
        let err = describe(&set(&[(LISTING_OVERLAP, "soon")])).unwrap_err();
        assert!(err.message.contains("not a duration"), "{}", err.message);
    }

    #[test]
    fn a_bad_setting_in_a_call_is_a_bad_request_naming_it() {
        match Config::for_call(&set(&[(EVENT_TYPES, "nope")])) {
            Err(FetchError::BadRequest(m)) => {
                assert!(m.starts_with("setting O365_EVENT_TYPES:"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
}
