//! Building request URLs, and deciding whether a URL handed over by a
//! response may be followed.
//!
//! `NextPageUri` and `contentUri` are absolute URLs taken from responses. The
//! host attaches the API's bearer token to whatever the component asks for
//! on an allowed authority, so following a link to any other place (another
//! host, or plain `http` when the API is `https`) could leak the token or
//! feed us foreign data. Every link is checked against the API base's
//! origin here, in one pure function, before it is followed.

use std::fmt;

use connector_sdk::{ConfigError, http, settings};

/// Scheme and authority of a URL: where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `https` (true) or `http` (false).
    pub https: bool,
    /// `host` or `host:port`, lower case.
    pub authority: String,
}

impl Origin {
    /// The origin of the API base given in `setting`, refusing anything but
    /// a plain `http(s)://host[:port][/path]` (no credentials, query or
    /// fragment, which would end up inside every request URL).
    pub fn of_base(setting: &str, base: &str) -> Result<Origin, ConfigError> {
        let authority = settings::authority_of(setting, base)?;
        if base.contains(['?', '#']) || base.chars().any(char::is_whitespace) {
            return Err(settings::invalid(
                setting,
                format!(
                    "`{base}` has a query, fragment or blank; give only scheme, host and optional path, such as https://manage.office.com"
                ),
            ));
        }
        Ok(Origin {
            https: base.starts_with("https://"),
            authority,
        })
    }

    /// The origin of an absolute `http(s)` URL, or none if it is not one.
    pub fn of_url(url: &str) -> Option<Origin> {
        let https = if url.starts_with("https://") {
            true
        } else if url.starts_with("http://") {
            false
        } else {
            return None;
        };
        let authority = http::authority(url)?;
        Some(Origin { https, authority })
    }

    /// Whether `url` may be requested with this origin's token: same scheme,
    /// same authority (compared exactly, as the host's allow-list does, so
    /// `host:443` is not `host`).
    pub fn check(&self, url: &str) -> Result<(), Foreign> {
        match Origin::of_url(url) {
            Some(theirs) if theirs == *self => Ok(()),
            Some(theirs) if theirs.authority == self.authority => Err(Foreign {
                theirs: theirs.to_string(),
                ours: self.to_string(),
            }),
            Some(theirs) => Err(Foreign {
                theirs: theirs.authority,
                ours: self.authority.clone(),
            }),
            None => Err(Foreign {
                theirs: format!("an unusable URL `{}`", short(url)),
                ours: self.authority.clone(),
            }),
        }
    }
}

impl fmt::Display for Origin {
    /// `https://manage.office.com`: also the token audience.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.authority)
    }
}

/// A link that leads away from the API: where it points, and where it
/// should have pointed. Displays as `evil.example, not manage.office.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foreign {
    /// Where the link points.
    pub theirs: String,
    /// The API's host (or origin, when only the scheme differs).
    pub ours: String,
}

impl fmt::Display for Foreign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, not {}", self.theirs, self.ours)
    }
}

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

/// A URL cut to a length that fits a log line or an error message.
pub fn short(url: &str) -> String {
    const MAX: usize = 160;
    if url.chars().count() <= MAX {
        return url.to_string();
    }
    let mut cut: String = url.chars().take(MAX).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> Origin {
        Origin::of_base("X", "https://manage.office.com").unwrap()
    }

    #[test]
    fn links_on_the_api_origin_pass() {
        let o = api();
        assert_eq!(o.to_string(), "https://manage.office.com");
        assert!(
            o.check("https://manage.office.com/api/v1.0/t/activity/feed/x?nextPage=1")
                .is_ok()
        );
        assert!(o.check("https://MANAGE.office.com/api").is_ok());
    }

    #[test]
    fn links_elsewhere_are_refused_naming_both_hosts() {
        let o = api();
        let err = o
            .check("https://evil.example/api/v1.0/t/activity/feed")
            .unwrap_err();
        assert_eq!(err.to_string(), "evil.example, not manage.office.com");
        // Credentials in front of our host name do not make it ours.
        let err = o
            .check("https://manage.office.com@evil.example/x")
            .unwrap_err();
        assert_eq!(err.theirs, "manage.office.com@evil.example");
        // An explicit port is another authority, as for the host's allow-list.
        assert!(o.check("https://manage.office.com:8443/x").is_err());
        // A downgrade to plain http would send the token in clear.
        let err = o.check("http://manage.office.com/x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "http://manage.office.com, not https://manage.office.com"
        );
        let err = o.check("/relative/path").unwrap_err();
        assert!(
            err.theirs.contains("unusable URL `/relative/path`"),
            "{err}"
        );
    }

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
        let s = short(&long);
        assert_eq!(s.chars().count(), 161);
        assert!(s.ends_with('…'));
        assert_eq!(short("https://h/a"), "https://h/a");
    }
}
