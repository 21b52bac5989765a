//! `step`: runs one work item by its kind. Each kind's work lives in its
//! own module; this one only reads the payload and dispatches.

use connector_sdk::counters::Counters;
use connector_sdk::{Context, FetchError, StepOutput, WorkItem};

use crate::api::Api;
use crate::counters;
use crate::items::{self, ContentBlob, ListContent, StartSubscription};
use crate::settings::Config;
use crate::subscriptions::{self, Started};
use crate::{blob, listing};

/// Runs `item`; an unknown kind is `fatal`.
pub fn step(
    api: &mut impl Api,
    ctx: &Context,
    config: &Config,
    item: &WorkItem,
) -> Result<StepOutput, FetchError> {
    match item.kind.as_str() {
        items::LIST_CONTENT => {
            listing::list(api, ctx, config, &items::payload::<ListContent>(item)?)
        }
        items::CONTENT_BLOB => blob::fetch(api, ctx, config, &items::payload::<ContentBlob>(item)?),
        items::START_SUBSCRIPTION => {
            let start: StartSubscription = items::payload(item)?;
            let mut counters = Counters::default();
            if subscriptions::start(api, config, &ctx.tenant, start.content_type)? == Started::Now {
                counters.add(counters::SUBSCRIPTIONS_STARTED, 1);
            }
            Ok(StepOutput {
                events: Vec::new(),
                next: Vec::new(),
                counters: counters.into_vec(),
            })
        }
        other => Err(FetchError::Fatal(format!(
            "unknown work item kind `{other}` (key `{}`); this connector runs {}, {} and {}",
            item.key,
            items::LIST_CONTENT,
            items::CONTENT_BLOB,
            items::START_SUBSCRIPTION
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    /// Runs an item of `kind` with `payload` at [`NOW`] with default settings.
    fn run(api: &mut ScriptedApi, kind: &str, payload: &str) -> Result<StepOutput, FetchError> {
        let item = WorkItem {
            kind: kind.into(),
            key: "k1".into(),
            payload: payload.into(),
            remember_for: None,
        };
        let cx = ctx(NOW, &[]);
        step(
            api,
            &cx,
            &Config::from_settings(&cx.settings).unwrap(),
            &item,
        )
    }

    #[test]
    fn start_subscription_items_start_the_type() {
        let general = r#"{"contentType":"Audit.General"}"#;
        let mut api =
            ScriptedApi::new([ok(r#"{"contentType":"Audit.General","status":"enabled"}"#)]);
        let out = run(&mut api, "start-subscription", general).unwrap();
        assert_eq!(
            api.requests,
            [format!(
                "POST {FEED}/subscriptions/start?contentType=Audit.General&PublisherIdentifier={TENANT}"
            )]
        );
        assert_eq!(counts(&out.counters), [("subscriptions-started", 1)]);
        let mut api = ScriptedApi::new([api_error(400, "AF20024", "already enabled")]);
        let out = run(&mut api, "start-subscription", general).unwrap();
        assert!(out.counters.is_empty());
    }

    #[test]
    fn kinds_are_dispatched_to_their_work() {
        let mut api = ScriptedApi::new([ok("[]"), ok(r#"[{"Id":"e"}]"#)]);
        let listing =
            r#"{"contentType":"Audit.Exchange","start":1714546800000,"end":1714550400000}"#;
        let out = run(&mut api, "list-content", listing).unwrap();
        assert_eq!(counts(&out.counters), [("pages", 1)]);
        let blob = format!(
            r#"{{"contentUri":"{FEED}/audit/c1","contentId":"c1","contentType":"Audit.Exchange"}}"#
        );
        let out = run(&mut api, "content-blob", &blob).unwrap();
        assert_eq!(out.events.len(), 1);
        assert!(api.requests[0].contains("/subscriptions/content?contentType=Audit.Exchange&"));
        assert!(api.requests[1].starts_with(&format!("GET {FEED}/audit/c1?")));
    }

    #[test]
    fn unknown_kinds_and_payloads_are_fatal() {
        let mut api = ScriptedApi::default();
        match run(&mut api, "page", "{}") {
            Err(FetchError::Fatal(m)) => assert_eq!(
                m,
                "unknown work item kind `page` (key `k1`); this connector runs list-content, content-blob and start-subscription"
            ),
            other => panic!("{other:?}"),
        }
        match run(
            &mut api,
            "list-content",
            r#"{"contentType":"Audit.Teams","start":0,"end":1}"#,
        ) {
            Err(FetchError::Fatal(m)) => {
                assert!(m.contains("unknown content type `Audit.Teams`"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        match run(&mut api, "content-blob", "not json") {
            Err(FetchError::Fatal(m)) => {
                assert!(
                    m.starts_with("content-blob item `k1` has an unreadable payload"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(api.requests.is_empty());
    }
}
