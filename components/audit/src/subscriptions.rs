//! The two subscription calls: which content types have an enabled
//! subscription (`GET subscriptions/list`), and starting one
//! (`POST subscriptions/start`).
//!
//! A content type yields no content until it is subscribed. *When* to start
//! (at most every 15 minutes per type) is decided by the callers, `plan`
//! and the `start-subscription` item; this module only speaks to the API.

use connector_sdk::FetchError;
use connector_sdk::api_error::ApiError;
use connector_sdk::fetch_error::{malformed, network};
use connector_sdk::http::strip_bom;
use serde::Deserialize;

use crate::api::{Api, Level};
use crate::content_type::ContentType;
use crate::errors;
use crate::settings::Config;
use crate::urls;

/// One entry of `subscriptions/list`; other fields (`webhook`) are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// What `subscriptions/list` says about the configured content types.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Subscriptions {
    /// Types whose subscription is `enabled`, sorted.
    pub enabled: Vec<ContentType>,
    /// Types listed with another status (`disabled`), sorted.
    pub disabled: Vec<ContentType>,
}

/// Reads `subscriptions/list`. Types the API lists that this connector
/// does not know are ignored; a type listed twice counts as enabled if
/// either entry is.
pub fn list(
    api: &mut impl Api,
    config: &Config,
    tenant: &str,
) -> Result<Subscriptions, FetchError> {
    const WHAT: &str = "listing subscriptions";
    let url = urls::feed(&config.api_base, tenant, "subscriptions/list");
    let response = api.get(&url).map_err(|e| network(e, WHAT))?;
    errors::check(&response, WHAT, &url)?;
    let listed: Vec<Listed> = serde_json::from_slice(strip_bom(&response.body)).map_err(|e| {
        malformed(
            &format!("{WHAT} ({})", urls::short(&url)),
            &format!("the answer is not a JSON array of subscriptions ({e})"),
            &response,
        )
    })?;
    let mut subscriptions = Subscriptions::default();
    for entry in &listed {
        let Some(content_type) = entry.content_type.as_deref().and_then(ContentType::parse) else {
            continue;
        };
        let enabled = entry
            .status
            .as_deref()
            .is_some_and(|st| st.trim().eq_ignore_ascii_case("enabled"));
        if enabled {
            subscriptions.enabled.push(content_type);
        } else {
            subscriptions.disabled.push(content_type);
        }
    }
    subscriptions.enabled.sort();
    subscriptions.enabled.dedup();
    let enabled = subscriptions.enabled.clone();
    subscriptions.disabled.retain(|t| !enabled.contains(t));
    subscriptions.disabled.sort();
    subscriptions.disabled.dedup();
    Ok(subscriptions)
}

/// What `start` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// The subscription was started now.
    Now,
    /// It was already enabled (`AF20024`): started by another instance a
    /// moment ago, or `subscriptions/list` answered from a stale copy. Either
    /// way the type can be listed now.
    Already,
}

/// Starts the subscription of `content_type`.
pub fn start(
    api: &mut impl Api,
    config: &Config,
    tenant: &str,
    content_type: ContentType,
) -> Result<Started, FetchError> {
    let what = format!("starting the {content_type} subscription");
    let url = urls::feed(
        &config.api_base,
        tenant,
        &format!("subscriptions/start?contentType={content_type}"),
    );
    let response = api.post(&url).map_err(|e| network(e, &what))?;
    if response.is_success() {
        api.log(
            Level::Info,
            &format!(
                "started the {content_type} subscription; content may take up to 12 hours to appear"
            ),
        );
        return Ok(Started::Now);
    }
    let error = ApiError::parse(&response.body, &errors::SHAPE);
    if error.is(errors::ALREADY_ENABLED) {
        api.log(
            Level::Info,
            &format!("the {content_type} subscription is already enabled"),
        );
        return Ok(Started::Already);
    }
    Err(errors::from_response(&response, &error, &what, &url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn config() -> Config {
        Config::from_settings(&[]).unwrap()
    }

    #[test]
    fn lists_enabled_and_disabled_types() {
        let mut api = ScriptedApi::new([ok(r#"[
            {"contentType":"Audit.Exchange","status":"enabled","webhook":null},
            {"contentType":"Audit.SharePoint","status":"disabled","webhook":null},
            {"contentType":"Audit.Teams","status":"enabled"},
            {"contentType":"DLP.All","status":"Enabled"},
            {"status":"enabled"}
        ]"#)]);
        let subscriptions = list(&mut api, &config(), TENANT).unwrap();
        assert_eq!(
            subscriptions.enabled,
            [ContentType::Exchange, ContentType::DlpAll]
        );
        assert_eq!(subscriptions.disabled, [ContentType::SharePoint]);
        assert_eq!(
            api.requests,
            [format!(
                "GET {FEED}/subscriptions/list?PublisherIdentifier={TENANT}"
            )]
        );
    }

    #[test]
    fn a_list_that_is_not_an_array_is_fatal() {
        let mut api = ScriptedApi::new([ok(r#"{"value":[]}"#)]);
        match list(&mut api, &config(), TENANT) {
            Err(FetchError::Fatal(m)) => {
                assert!(
                    m.starts_with("listing subscriptions (https://manage.office.com/"),
                    "{m}"
                );
                assert!(m.contains("not a JSON array of subscriptions"), "{m}");
                assert!(m.contains("body starts `{\"value\":[]}`"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn start_posts_for_the_type_and_accepts_already_enabled() {
        let mut api = ScriptedApi::new([
            ok(r#"{"contentType":"DLP.All","status":"enabled","webhook":null}"#),
            api_error(
                400,
                "AF20024",
                "The subscription is already enabled. No property change.",
            ),
            api_error(
                403,
                "AF10001",
                "The permission set does not include ActivityFeed.ReadDlp",
            ),
        ]);
        let c = config();
        assert_eq!(
            start(&mut api, &c, TENANT, ContentType::DlpAll).unwrap(),
            Started::Now
        );
        assert_eq!(
            start(&mut api, &c, TENANT, ContentType::DlpAll).unwrap(),
            Started::Already
        );
        match start(&mut api, &c, TENANT, ContentType::DlpAll) {
            Err(FetchError::Forbidden(m)) => {
                assert!(m.starts_with("starting the DLP.All subscription"), "{m}");
                assert!(m.contains("ActivityFeed.ReadDlp"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            api.requests[0],
            format!(
                "POST {FEED}/subscriptions/start?contentType=DLP.All&PublisherIdentifier={TENANT}"
            )
        );
    }
}
