//! Building request URLs for the Management Activity API, and cutting
//! them for messages.
//!
//! `NextPageUri` and `contentUri` are absolute URLs taken from responses;
//! each is checked against the API base's origin with the SDK's
//! [`Origin::check`](connector_sdk::url::Origin::check) before it is
//! followed (the host would attach the API's token to it). This module
//! adds what only this API needs: the feed URLs and the publisher
//! identifier every call carries.

use connector_sdk::{http, url};

/// How many characters of a URL messages show: enough for a feed URL with
/// its query, short enough for a log line.
pub const SHOWN: usize = 160;

/// `{api_base}/api/v1.0/{tenant}/activity/feed/{tail}` with the publisher
/// appended; `tail` is a path below the feed with its query, for example
/// `subscriptions/list` or `subscriptions/start?contentType=DLP.All`.
pub fn feed(api_base: &str, tenant: &str, tail: &str) -> String {
    let url = format!(
        "{api_base}/api/v1.0/{}/activity/feed/{tail}",
        http::encode(tenant)
    );
    with_publisher(&url, tenant)
}

/// `url` with `PublisherIdentifier={tenant}` appended, unless its query
/// already names one. The API counts throttling quotas per publisher, so
/// every call carries it, including links taken from responses.
pub fn with_publisher(url: &str, tenant: &str) -> String {
    let url = url.split('#').next().unwrap_or_default();
    let (_, query) = url.split_once('?').unwrap_or((url, ""));
    let named = query.split('&').any(|pair| {
        let name = pair.split('=').next().unwrap_or_default();
        name.eq_ignore_ascii_case("PublisherIdentifier")
    });
    if named {
        return url.to_string();
    }
    let separator = if !url.contains('?') {
        "?"
    } else if url.ends_with(['?', '&']) {
        ""
    } else {
        "&"
    };
    format!(
        "{url}{separator}PublisherIdentifier={}",
        http::encode(tenant)
    )
}

/// `url` cut to [`SHOWN`] characters for a log line or an error message.
pub fn short(url: &str) -> String {
    url::short(url, SHOWN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publisher_is_appended_once_whatever_the_query() {
        assert_eq!(
            with_publisher("https://h/a", "t-1"),
            "https://h/a?PublisherIdentifier=t-1"
        );
        assert_eq!(
            with_publisher("https://h/a?x=1", "t-1"),
            "https://h/a?x=1&PublisherIdentifier=t-1"
        );
        assert_eq!(
            with_publisher("https://h/a?", "t"),
            "https://h/a?PublisherIdentifier=t"
        );
        assert_eq!(
            with_publisher("https://h/a?x=1&", "t"),
            "https://h/a?x=1&PublisherIdentifier=t"
        );
        assert_eq!(
            with_publisher("https://h/a?publisheridentifier=other", "t"),
            "https://h/a?publisheridentifier=other"
        );
        assert_eq!(
            with_publisher("https://h/a?x=1#frag", "t"),
            "https://h/a?x=1&PublisherIdentifier=t"
        );
        assert_eq!(
            with_publisher("https://h/a", "a b&c"),
            "https://h/a?PublisherIdentifier=a%20b%26c"
        );
    }

    #[test]
    fn feed_urls_carry_tenant_and_publisher() {
        assert_eq!(
            feed("https://manage.office.com", "t-1", "subscriptions/list"),
            "https://manage.office.com/api/v1.0/t-1/activity/feed/subscriptions/list?PublisherIdentifier=t-1"
        );
        assert_eq!(
            feed(
                "http://127.0.0.1:8080",
                "t-1",
                "subscriptions/start?contentType=DLP.All"
            ),
            "http://127.0.0.1:8080/api/v1.0/t-1/activity/feed/subscriptions/start?contentType=DLP.All&PublisherIdentifier=t-1"
        );
    }

    #[test]
    fn long_urls_are_shortened() {
        let long = format!("https://h/{}", "x".repeat(300));
        assert_eq!(short(&long), format!("{}…", &long[..160]));
        assert_eq!(short("https://h/a"), "https://h/a");
    }
}
