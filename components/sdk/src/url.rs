//! Where requests may go, and whether a link handed over by a response may
//! be followed.
//!
//! Every API the connectors call hands out absolute links to follow: next
//! pages (`NextPageUri`, `@odata.nextLink`, `__next`) and content
//! (`contentUri`). The host attaches the API's bearer token to whatever a
//! component asks for on an allowed authority, so following a link anywhere
//! else (another host, or plain `http` when the API is `https`) could leak
//! the token or feed the component foreign data. Each component checks
//! every link against its API base's [`Origin`] with one pure function,
//! [`Origin::check`], before following it; keeping that function here means
//! every component applies the same rule.

use std::fmt;

use crate::{ConfigError, http, settings};

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
    /// a plain `http(s)://host[:port][/path]` (no credentials, query,
    /// fragment or blanks, which would end up inside every request URL).
    /// `example`, when given, is offered in the message as a base to copy.
    pub fn of_base(
        setting: &str,
        base: &str,
        example: Option<&str>,
    ) -> Result<Origin, ConfigError> {
        let authority = settings::authority_of(setting, base)?;
        if base.contains(['?', '#']) || base.chars().any(char::is_whitespace) {
            let such_as = example.map_or_else(String::new, |e| format!(", such as {e}"));
            return Err(settings::invalid(
                setting,
                format!(
                    "`{base}` has a query, fragment or blank; give only scheme, host and optional path{such_as}"
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
    /// `host:443` is not `host`). A URL that is not absolute is shown in the
    /// refusal cut to `shown` characters (see [`short`]).
    pub fn check(&self, url: &str, shown: usize) -> Result<(), Foreign> {
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
                theirs: format!("an unusable URL `{}`", short(url, shown)),
                ours: self.authority.clone(),
            }),
        }
    }
}

impl fmt::Display for Origin {
    /// `https://manage.office.com`: also the usual token audience.
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

/// `url` cut to `max` characters, with `…` when cut: short enough for a log
/// line or an error message. Each component picks the length that fits its
/// APIs' URLs.
pub fn short(url: &str, max: usize) -> String {
    if url.chars().count() <= max {
        return url.to_string();
    }
    let mut cut: String = url.chars().take(max).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> Origin {
        Origin::of_base("X", "https://manage.office.com", None).unwrap()
    }

    #[test]
    fn links_on_the_api_origin_pass() {
        let o = api();
        assert_eq!(o.to_string(), "https://manage.office.com");
        assert!(
            o.check(
                "https://manage.office.com/api/v1.0/t/activity/feed/x?nextPage=1",
                160
            )
            .is_ok()
        );
        assert!(o.check("https://MANAGE.office.com/api", 160).is_ok());
        let graph = Origin::of_base("X", "https://graph.microsoft.com", None).unwrap();
        assert!(
            graph
                .check(
                    "https://graph.microsoft.com/v1.0/admin/exchange/tracing/messageTraces?$skiptoken=x",
                    500
                )
                .is_ok()
        );
    }

    #[test]
    fn links_elsewhere_are_refused_naming_both_hosts() {
        let o = api();
        let err = o
            .check("https://evil.example/api/v1.0/t/activity/feed", 160)
            .unwrap_err();
        assert_eq!(err.to_string(), "evil.example, not manage.office.com");
        // Credentials in front of our host name do not make it ours.
        let err = o
            .check("https://manage.office.com@evil.example/x", 160)
            .unwrap_err();
        assert_eq!(err.theirs, "manage.office.com@evil.example");
        // An explicit port is another authority, as for the host's allow-list.
        assert!(o.check("https://manage.office.com:8443/x", 160).is_err());
        // A downgrade to plain http would send the token in clear.
        let err = o.check("http://manage.office.com/x", 160).unwrap_err();
        assert_eq!(
            err.to_string(),
            "http://manage.office.com, not https://manage.office.com"
        );
        for relative in ["/relative/path", "../x"] {
            let err = o.check(relative, 160).unwrap_err();
            assert!(
                err.theirs.contains(&format!("unusable URL `{relative}`")),
                "{err}"
            );
        }
    }

    #[test]
    fn unusable_links_are_shown_cut_to_the_given_length() {
        let link = format!("x/{}", "y".repeat(600));
        let theirs = |shown| api().check(&link, shown).unwrap_err().theirs;
        assert_eq!(theirs(160), format!("an unusable URL `{}…`", &link[..160]));
        assert_eq!(theirs(500), format!("an unusable URL `{}…`", &link[..500]));
    }

    #[test]
    fn bases_are_plain_urls() {
        assert!(Origin::of_base("X", "http://127.0.0.1:8080/", None).is_ok());
        for bad in [
            "graph.microsoft.com",
            "ftp://h",
            "https://",
            "https://u:p@h",
            "https://h/?a=1",
            "https://h/a b",
        ] {
            let err = Origin::of_base("X", bad, None).unwrap_err();
            assert_eq!(err.setting, "X");
            assert!(err.message.contains(bad), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn a_refused_base_names_the_example_when_there_is_one() {
        let message = |example| {
            Origin::of_base("X", "https://h/?a=1", example)
                .unwrap_err()
                .message
        };
        assert_eq!(
            message(None),
            "`https://h/?a=1` has a query, fragment or blank; give only scheme, host and optional path"
        );
        assert_eq!(
            message(Some("https://manage.office.com")),
            "`https://h/?a=1` has a query, fragment or blank; give only scheme, host and optional path, such as https://manage.office.com"
        );
    }

    #[test]
    fn long_urls_are_shortened() {
        let long = format!("https://h/{}", "x".repeat(600));
        for max in [160, 500] {
            let s = short(&long, max);
            assert_eq!(s.chars().count(), max + 1);
            assert!(s.ends_with('…'));
        }
        assert_eq!(short("https://h/a", 160), "https://h/a");
        let exact = "é".repeat(160);
        assert_eq!(short(&exact, 160), exact);
    }
}
