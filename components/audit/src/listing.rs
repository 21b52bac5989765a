//! The `list-content` step: one page of `subscriptions/content` for a
//! content type and window, turned into one `content-blob` item per listed
//! blob and, if the API says there is more, a `list-content` item for the
//! next page.
//!
//! A listing refused for want of a subscription (`AF20022`, `AF20023`) is
//! not an error of the window: nothing can be listed until the subscription
//! exists, so the step succeeds empty and asks for a `start-subscription`.

use connector_sdk::api_error::ApiError;
use connector_sdk::counters::Counters;
use connector_sdk::fetch_error::{malformed, network};
use connector_sdk::http::strip_bom;
use connector_sdk::url::Origin;
use connector_sdk::{Context, FetchError, StepOutput};
use serde::Deserialize;

use crate::api::{Api, Level};
use crate::counters;
use crate::errors;
use crate::items::{ContentBlob, ListContent, StartSubscription};
use crate::settings::Config;
use crate::time;
use crate::urls;

/// The response header that names the next page.
pub const NEXT_PAGE_HEADER: &str = "NextPageUri";

/// One entry of a listing page, read leniently so that the error can say
/// which field is missing.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    #[serde(default)]
    content_uri: Option<String>,
    #[serde(default)]
    content_id: Option<String>,
    #[serde(default)]
    content_created: Option<String>,
    #[serde(default)]
    content_expiration: Option<String>,
}

/// Runs one `list-content` item.
pub fn list(
    api: &mut impl Api,
    ctx: &Context,
    config: &Config,
    listing: &ListContent,
) -> Result<StepOutput, FetchError> {
    let content_type = listing.content_type;
    let what = format!("listing {content_type} content");
    let url = match &listing.page {
        // Checked again although it was checked when listed: the API base
        // may have changed since (a simulator swapped for the real API).
        Some(page) => {
            refuse_foreign(&config.origin, page)?;
            urls::with_publisher(page, &ctx.tenant)
        }
        None => first_page_url(config, &ctx.tenant, listing)?,
    };
    let response = api.get(&url).map_err(|e| network(e, &what))?;
    if !response.is_success() {
        let error = ApiError::parse(&response.body, &errors::SHAPE);
        if error.is(errors::NO_SUBSCRIPTION) || error.is(errors::SUBSCRIPTION_DISABLED) {
            api.log(
                Level::Warn,
                &format!(
                    "{what}: the API says there is no enabled subscription ({}); asking to start it",
                    error.code.as_deref().unwrap_or_default()
                ),
            );
            let mut counters = Counters::default();
            counters.add(counters::SUBSCRIPTIONS_MISSING, 1);
            return Ok(StepOutput {
                events: Vec::new(),
                next: vec![StartSubscription { content_type }.item(ctx.now)],
                counters: counters.into_vec(),
            });
        }
        return Err(errors::from_response(&response, &error, &what, &url));
    }
    let page = format!("{what} ({})", urls::short(&url));
    let entries: Vec<Listed> = serde_json::from_slice(strip_bom(&response.body)).map_err(|e| {
        malformed(
            &page,
            &format!("the answer is not a JSON array of content blobs ({e})"),
            &response,
        )
    })?;
    let mut next = Vec::with_capacity(entries.len() + 1);
    for (index, entry) in entries.into_iter().enumerate() {
        let missing =
            |field: &str| FetchError::Fatal(format!("{page}: entry {index} has no {field}"));
        let blob = ContentBlob {
            content_uri: entry
                .content_uri
                .filter(|u| !u.trim().is_empty())
                .ok_or_else(|| missing("contentUri"))?,
            content_id: entry
                .content_id
                .filter(|i| !i.trim().is_empty())
                .ok_or_else(|| missing("contentId"))?,
            content_type,
            content_created: entry.content_created,
            content_expiration: entry.content_expiration,
        };
        next.push(blob.item());
    }
    if let Some(page_url) = next_page(&config.origin, response.header(NEXT_PAGE_HEADER))? {
        if urls::with_publisher(&page_url, &ctx.tenant) == url {
            return Err(FetchError::Fatal(format!(
                "{page}: NextPageUri names the page just fetched; refusing to loop"
            )));
        }
        let following = ListContent {
            page: Some(page_url),
            ..listing.clone()
        };
        next.push(following.item());
    }
    let mut counters = Counters::default();
    counters.add(counters::PAGES, 1);
    Ok(StepOutput {
        events: Vec::new(),
        next,
        counters: counters.into_vec(),
    })
}

fn first_page_url(
    config: &Config,
    tenant: &str,
    listing: &ListContent,
) -> Result<String, FetchError> {
    let format = |ms: i64| {
        time::api_format(ms).ok_or_else(|| {
            FetchError::Fatal(format!(
                "list-content item for {}: window bound {ms} ms lies outside the years 1-9999",
                listing.content_type
            ))
        })
    };
    let tail = format!(
        "subscriptions/content?contentType={}&startTime={}&endTime={}",
        listing.content_type,
        format(listing.start)?,
        format(listing.end)?
    );
    Ok(urls::feed(&config.api_base, tenant, &tail))
}

/// Decides whether to follow a `NextPageUri`: none when the header is
/// absent or blank; the URL when it is on the API's origin; `fatal`, naming
/// the foreign host, when it points anywhere else (the host would attach
/// the API's token to it).
pub fn next_page(api: &Origin, header: Option<&str>) -> Result<Option<String>, FetchError> {
    let Some(link) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    refuse_foreign(api, link)?;
    Ok(Some(link.to_string()))
}

fn refuse_foreign(api: &Origin, link: &str) -> Result<(), FetchError> {
    api.check(link, urls::SHOWN).map_err(|foreign| {
        FetchError::Fatal(format!(
            "NextPageUri points at {foreign}; refusing to follow it"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_type::ContentType;
    use crate::items::{CONTENT_BLOB, LIST_CONTENT, START_SUBSCRIPTION};
    use crate::testing::*;

    const HOUR: i64 = 3_600_000;

    fn listing(page: Option<&str>) -> ListContent {
        ListContent {
            content_type: ContentType::Exchange,
            start: NOW - HOUR,
            end: NOW,
            page: page.map(str::to_string),
        }
    }

    fn run(
        answers: Vec<Result<connector_sdk::http::Response, connector_sdk::http::HttpError>>,
        page: Option<&str>,
    ) -> (ScriptedApi, Result<StepOutput, FetchError>) {
        let mut api = ScriptedApi::new(answers);
        let c = Config::from_settings(&[]).unwrap();
        let out = list(&mut api, &ctx(NOW, &[]), &c, &listing(page));
        (api, out)
    }

    fn fatal(result: Result<StepOutput, FetchError>) -> String {
        match result {
            Err(FetchError::Fatal(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    const TWO_BLOBS: &str = r#"[
        {"contentType":"Audit.Exchange","contentId":"20240501073500.1$a","contentUri":"https://manage.office.com/api/v1.0/t/activity/feed/audit/20240501073500.1$a","contentCreated":"2024-05-01T07:35:00.000Z","contentExpiration":"2024-05-08T07:35:00.000Z"},
        {"contentType":"Audit.Exchange","contentId":"20240501074000.2$b","contentUri":"https://manage.office.com/api/v1.0/t/activity/feed/audit/20240501074000.2$b"}
    ]"#;

    #[test]
    fn the_first_page_asks_for_the_window_in_api_format() {
        let (api, out) = run(vec![ok("[]")], None);
        let out = out.unwrap();
        assert_eq!(
            api.requests,
            [format!(
                "GET {FEED}/subscriptions/content?contentType=Audit.Exchange&startTime=2024-05-01T07:00:00&endTime=2024-05-01T08:00:00&PublisherIdentifier={TENANT}"
            )]
        );
        assert!(out.next.is_empty() && out.events.is_empty());
        assert_eq!(counts(&out.counters), [("pages", 1)]);
    }

    #[test]
    fn listed_blobs_become_items_and_the_next_page_follows() {
        let next = "https://manage.office.com/api/v1.0/t/activity/feed/subscriptions/content?contentType=Audit.Exchange&startTime=2024-05-01T07:00:00&endTime=2024-05-01T08:00:00&nextPage=2024050107R0001";
        let (_, out) = run(vec![answer(200, &[("NextPageUri", next)], TWO_BLOBS)], None);
        let out = out.unwrap();
        assert_eq!(out.next.len(), 3);
        let blob = &out.next[0];
        assert_eq!(
            (blob.kind.as_str(), blob.key.as_str()),
            (CONTENT_BLOB, "20240501073500.1$a")
        );
        assert_eq!(blob.remember_for, Some(8 * 24 * HOUR as u64));
        let payload: ContentBlob = crate::items::payload(blob).unwrap();
        assert_eq!(payload.content_type, ContentType::Exchange);
        assert_eq!(
            payload.content_expiration.as_deref(),
            Some("2024-05-08T07:35:00.000Z")
        );
        let second: ContentBlob = crate::items::payload(&out.next[1]).unwrap();
        assert_eq!(
            (second.content_created, second.content_expiration),
            (None, None)
        );
        let page = &out.next[2];
        assert_eq!(page.kind, LIST_CONTENT);
        assert_eq!(
            page.key,
            format!("list:Audit.Exchange:{}:{NOW}:{next}", NOW - HOUR)
        );
        assert_eq!(page.remember_for, None);
        let following: ListContent = crate::items::payload(page).unwrap();
        assert_eq!(following, listing(Some(next)));
        assert_eq!(counts(&out.counters), [("pages", 1)]);
    }

    #[test]
    fn a_next_page_is_fetched_as_given_with_the_publisher() {
        let next = "https://manage.office.com/api/v1.0/t/activity/feed/subscriptions/content?contentType=Audit.Exchange&nextPage=2";
        let (api, out) = run(vec![ok("[]")], Some(next));
        assert!(out.unwrap().next.is_empty());
        assert_eq!(
            api.requests,
            [format!("GET {next}&PublisherIdentifier={TENANT}")]
        );
    }

    #[test]
    fn a_next_page_on_another_host_is_refused() {
        let (_, out) = run(
            vec![answer(
                200,
                &[(
                    "NextPageUri",
                    "https://collector.evil.example/steal?nextPage=2",
                )],
                TWO_BLOBS,
            )],
            None,
        );
        assert_eq!(
            fatal(out),
            "NextPageUri points at collector.evil.example, not manage.office.com; refusing to follow it"
        );
    }

    #[test]
    fn next_page_decision() {
        let api = Origin::of_base("X", "https://manage.office.com", None).unwrap();
        assert_eq!(next_page(&api, None).unwrap(), None);
        assert_eq!(next_page(&api, Some("  ")).unwrap(), None);
        assert_eq!(
            next_page(
                &api,
                Some(" https://manage.office.com/api/v1.0/t/x?nextPage=3 ")
            )
            .unwrap()
            .as_deref(),
            Some("https://manage.office.com/api/v1.0/t/x?nextPage=3")
        );
        let refused = |link: &str| match next_page(&api, Some(link)) {
            Err(FetchError::Fatal(m)) => m,
            other => panic!("{link}: {other:?}"),
        };
        assert_eq!(
            refused("https://evil.example/x"),
            "NextPageUri points at evil.example, not manage.office.com; refusing to follow it"
        );
        assert!(
            refused("http://manage.office.com/x")
                .contains("http://manage.office.com, not https://manage.office.com")
        );
        assert!(
            refused("https://manage.office.com.evil.example/x")
                .contains("at manage.office.com.evil.example,")
        );
        assert!(refused("/api/v1.0/t/x").contains("unusable URL"));
    }

    #[test]
    fn a_stored_page_off_the_api_is_not_fetched() {
        let (api, out) = run(
            vec![],
            Some("http://127.0.0.1:8080/api/v1.0/t/x?nextPage=2"),
        );
        assert_eq!(
            fatal(out),
            "NextPageUri points at 127.0.0.1:8080, not manage.office.com; refusing to follow it"
        );
        assert!(api.requests.is_empty());
    }

    #[test]
    fn a_next_page_equal_to_this_one_is_refused() {
        let here = "https://manage.office.com/api/v1.0/t/x?nextPage=3";
        let (_, out) = run(
            vec![answer(200, &[("NextPageUri", here)], "[]")],
            Some(here),
        );
        assert!(fatal(out).contains("names the page just fetched"));
    }

    #[test]
    fn a_missing_subscription_asks_for_a_start_instead_of_failing() {
        for code in ["AF20022", "AF20023"] {
            let (api, out) = run(
                vec![api_error(
                    400,
                    code,
                    "No subscription found for the specified content type",
                )],
                None,
            );
            let out = out.unwrap();
            assert!(out.events.is_empty());
            assert_eq!(out.next.len(), 1);
            let start = &out.next[0];
            assert_eq!(start.kind, START_SUBSCRIPTION);
            assert_eq!(start.key, format!("start:Audit.Exchange:{NOW}"));
            assert_eq!(start.remember_for, Some(15 * 60_000));
            assert_eq!(start.payload, r#"{"contentType":"Audit.Exchange"}"#);
            assert_eq!(counts(&out.counters), [("subscriptions-missing", 1)]);
            assert!(api.logs.iter().any(|(_, m)| m.contains(code)));
        }
    }

    #[test]
    fn api_errors_on_a_listing_are_mapped() {
        let (_, out) = run(
            vec![answer(
                403,
                &[("Retry-After", "2")],
                r#"{"error":{"code":"AF429","message":"Too many requests."}}"#,
            )],
            None,
        );
        match out {
            Err(FetchError::Throttled(t)) => {
                assert_eq!(t.retry_after, Some(2_000));
                assert!(
                    t.message
                        .starts_with("listing Audit.Exchange content (https://manage.office.com/"),
                    "{}",
                    t.message
                );
            }
            other => panic!("{other:?}"),
        }
        let (_, out) = run(
            vec![api_error(
                400,
                "AF20055",
                "Start time cannot be more than 7 days in the past.",
            )],
            None,
        );
        assert!(matches!(out, Err(FetchError::BadRequest(m)) if m.contains("AF20055: Start time")));
        let (_, out) = run(vec![answer(502, &[], "Bad Gateway")], None);
        assert!(matches!(out, Err(FetchError::Transient(_))));
        let (_, out) = run(
            vec![Err(connector_sdk::http::HttpError::Transport(
                "timed out".into(),
            ))],
            None,
        );
        assert!(
            matches!(out, Err(FetchError::Transient(m)) if m == "listing Audit.Exchange content: network error: timed out")
        );
    }

    #[test]
    fn malformed_listings_are_fatal_naming_the_problem() {
        let (_, out) = run(vec![ok(r#"{"value":"nope"}"#)], None);
        let m = fatal(out);
        assert!(
            m.starts_with("listing Audit.Exchange content (https://manage.office.com/"),
            "{m}"
        );
        assert!(
            m.contains("not a JSON array of content blobs")
                && m.contains("body starts `{\"value\":\"nope\"}`"),
            "{m}"
        );
        let (_, out) = run(vec![ok("")], None);
        assert!(fatal(out).ends_with("(empty body)"));
        let (_, out) = run(
            vec![ok(r#"[{"contentUri":"https://manage.office.com/x"}]"#)],
            None,
        );
        assert!(fatal(out).ends_with("entry 0 has no contentId"));
        let (_, out) = run(
            vec![ok(
                r#"[{"contentId":"c1","contentUri":"https://manage.office.com/x"},{"contentId":"c2","contentUri":" "}]"#,
            )],
            None,
        );
        assert!(fatal(out).ends_with("entry 1 has no contentUri"));
        let (_, out) = run(vec![ok("[1]")], None);
        assert!(fatal(out).contains("not a JSON array of content blobs"));
    }
}
