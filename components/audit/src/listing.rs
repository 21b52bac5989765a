//! The `list-content` step: one page of `subscriptions/content` for a
//! content type and window, turned into one `content-blob` item per listed
//! blob and, if the API says there is more, a `list-content` item for the
//! next page, put after the page's blobs. The host runs a step's follow-up
//! items ahead of other queued work in the order given, so a page chain
//! keeps moving ahead of the other listings (and finishes before it ages
//! out) while at most about one page of blobs waits per chain: the work
//! queue and the checkpoint's outstanding list stay the size of a page, not
//! of a day's listing.
//!
//! Two refusals are handled here rather than passed on:
//! - `AF20055` for a window whose start has aged past the 7-day limit since
//!   it was planned (a long page chain, a resumed item): replaying it would
//!   fail forever, so the step re-plans it as a fresh listing from inside
//!   the limit and counts the span dropped as lost;
//! - a window too small for the API's one-second resolution (an item from
//!   an older version) is not asked for at all.
//!
//! A listing refused for want of a subscription (`AF20022`, `AF20023`) is
//! an error naming the content type and the fix, not an empty success:
//! its window has not been read, so the item must not count as done.

use connector_sdk::api_error::ApiError;
use connector_sdk::counters::Counters;
use connector_sdk::fetch_error::{malformed, network};
use connector_sdk::http::strip_bom;
use connector_sdk::url::Origin;
use connector_sdk::{Context, FetchError, StepOutput};
use serde::Deserialize;

use crate::api::{Api, Level};
use crate::content_type::ContentType;
use crate::counters;
use crate::errors;
use crate::items::{ContentBlob, ListContent};
use crate::settings::Config;
use crate::urls;
use crate::{span, time};

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
    if listing.page.is_none() && span::too_small(listing.start, listing.end) {
        return Ok(StepOutput {
            events: Vec::new(),
            next: Vec::new(),
            counters: Vec::new(),
        });
    }
    let response = api.get(&url).map_err(|e| network(e, &what))?;
    if !response.is_success() {
        let error = ApiError::parse(&response.body, &errors::SHAPE);
        if error.is(errors::BAD_WINDOW)
            && let Some(replanned) = replan_aged(api, ctx, listing)
        {
            return Ok(replanned);
        }
        let failure = errors::from_response(&response, &error, &what, &url);
        if error.is(errors::NO_SUBSCRIPTION) || error.is(errors::SUBSCRIPTION_DISABLED) {
            return Err(no_subscription(failure, content_type));
        }
        return Err(failure);
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
    // The next page comes after this page's blobs (see the module docs).
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

/// The step for a listing the API refused with `AF20055` because its start
/// has aged past the 7-day limit: a fresh first-page listing of the part
/// still inside the limit (none if nothing is), the part dropped counted
/// as lost. None when the start is still inside the limit: then the
/// refusal is about something else and is passed on.
fn replan_aged(api: &mut impl Api, ctx: &Context, listing: &ListContent) -> Option<StepOutput> {
    let oldest = span::oldest_listable(ctx.now);
    if listing.start >= oldest {
        return None;
    }
    let lost_ms = oldest.min(listing.end) - listing.start;
    let lost = (lost_ms as u64).div_ceil(1000);
    let show = |ms: i64| time::api_format(ms).unwrap_or_else(|| format!("{ms} ms"));
    api.log(
        Level::Warn,
        &format!(
            "listing {} from {} was refused as older than 7 days (AF20055); listing again from {} and counting {lost} seconds as lost",
            listing.content_type,
            show(listing.start),
            show(oldest)
        ),
    );
    let mut counters = Counters::default();
    counters.add(counters::LOST_WINDOW_SECONDS, lost);
    let next = span::listings(listing.content_type, oldest, listing.end)
        .iter()
        .map(ListContent::item)
        .collect();
    Some(StepOutput {
        events: Vec::new(),
        next,
        counters: counters.into_vec(),
    })
}

/// The error for a listing refused for want of an enabled subscription,
/// naming the content type and the fix.
fn no_subscription(failure: FetchError, content_type: ContentType) -> FetchError {
    let detail = match failure {
        FetchError::BadRequest(m) => m,
        other => return other,
    };
    FetchError::BadRequest(format!(
        "{detail}; the {content_type} subscription is missing or disabled, so this window of \
         {content_type} was not read. The connector starts it at its next plan (at most every 15 \
         minutes; a disabled one may need a tenant admin, and DLP.All needs \
         ActivityFeed.ReadDlp); retry this item once subscriptions/list shows {content_type} enabled"
    ))
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
    use crate::items::{CONTENT_BLOB, LIST_CONTENT};
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
        // The next page comes after the page's blobs.
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
    fn a_missing_subscription_fails_the_listing_naming_the_type_and_the_fix() {
        for code in ["AF20022", "AF20023"] {
            let (_, out) = run(
                vec![api_error(
                    400,
                    code,
                    "No subscription found for the specified content type",
                )],
                None,
            );
            match out {
                Err(FetchError::BadRequest(m)) => {
                    assert!(m.starts_with("listing Audit.Exchange content ("), "{m}");
                    assert!(m.contains(code), "{m}");
                    assert!(
                        m.contains("the Audit.Exchange subscription is missing or disabled"),
                        "{m}"
                    );
                    assert!(
                        m.contains(
                            "retry this item once subscriptions/list shows Audit.Exchange enabled"
                        ),
                        "{m}"
                    );
                }
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    fn run_at(
        now: i64,
        listing: &ListContent,
        answers: Vec<Result<connector_sdk::http::Response, connector_sdk::http::HttpError>>,
    ) -> (ScriptedApi, Result<StepOutput, FetchError>) {
        let mut api = ScriptedApi::new(answers);
        let c = Config::from_settings(&[]).unwrap();
        let out = list(&mut api, &ctx(now, &[]), &c, listing);
        (api, out)
    }

    #[test]
    fn a_listing_aged_past_seven_days_is_listed_again_from_inside_the_limit() {
        const DAY: i64 = 24 * HOUR;
        let oldest = NOW - 7 * DAY + 15 * 60_000;
        let aged = ListContent {
            content_type: ContentType::DlpAll,
            start: NOW - 7 * DAY - HOUR,
            end: NOW - 7 * DAY + 5 * HOUR,
            page: Some("https://manage.office.com/api/v1.0/t/activity/feed/subscriptions/content?contentType=DLP.All&nextPage=2".into()),
        };
        let refused = || {
            api_error(
                400,
                "AF20055",
                "Start time cannot be more than 7 days in the past.",
            )
        };
        let (api, out) = run_at(NOW, &aged, vec![refused()]);
        let out = out.unwrap();
        assert_eq!(out.next.len(), 1);
        let again: ListContent = crate::items::payload(&out.next[0]).unwrap();
        assert_eq!(
            again,
            ListContent {
                start: oldest,
                page: None,
                ..aged.clone()
            },
            "a fresh first page from inside the limit"
        );
        assert_eq!(counts(&out.counters), [("lost-window-seconds", 75 * 60)]);
        assert!(
            api.logs
                .iter()
                .any(|(_, m)| m.contains("AF20055") && m.contains("DLP.All"))
        );

        // Wholly past the limit: nothing left to list, all of it lost.
        let gone = ListContent {
            end: NOW - 7 * DAY,
            page: None,
            ..aged.clone()
        };
        let (_, out) = run_at(NOW, &gone, vec![refused()]);
        let out = out.unwrap();
        assert!(out.next.is_empty());
        assert_eq!(counts(&out.counters), [("lost-window-seconds", 3600)]);

        // Inside the limit, AF20055 is about something else: passed on.
        let fresh = ListContent {
            start: oldest,
            ..aged
        };
        let (_, out) = run_at(NOW, &fresh, vec![refused()]);
        assert!(matches!(out, Err(FetchError::BadRequest(m)) if m.contains("AF20055")));
    }

    #[test]
    fn a_window_within_one_second_is_not_asked_for() {
        let tiny = ListContent {
            content_type: ContentType::Exchange,
            start: NOW + 100,
            end: NOW + 900,
            page: None,
        };
        let (api, out) = run_at(NOW, &tiny, vec![]);
        let out = out.unwrap();
        assert!(out.next.is_empty() && out.events.is_empty() && out.counters.is_empty());
        assert!(api.requests.is_empty());
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
