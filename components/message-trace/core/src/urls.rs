//! Where requests may go, and whether a link handed over by a response may
//! be followed.
//!
//! `@odata.nextLink` and `__next` come from responses. The host attaches the
//! API's bearer token to whatever the component asks for on an allowed
//! authority, so following a link anywhere else (another host, or plain
//! `http` when the API is `https`) could leak the token or feed us foreign
//! data. Every link is checked against the API base's origin here, in one
//! pure function, before it is followed. The audit component applies the
//! same rule to `NextPageUri` and `contentUri`.

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
    /// a plain `http(s)://host[:port][/path]` (no credentials, query,
    /// fragment or blanks, which would end up inside every request URL).
    pub fn of_base(setting: &str, base: &str) -> Result<Origin, ConfigError> {
        let authority = settings::authority_of(setting, base)?;
        if base.contains(['?', '#']) || base.chars().any(char::is_whitespace) {
            return Err(settings::invalid(
                setting,
                format!(
                    "`{base}` has a query, fragment or blank; give only scheme, host and optional path"
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
    /// `https://graph.microsoft.com`: also the Graph token audience.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.authority)
    }
}

/// A link that leads away from the API: where it points, and where it
/// should have pointed. Displays as `evil.example, not graph.microsoft.com`.
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

/// The path of a base URL without trailing slashes: `""` for
/// `https://reports.office365.com/`, `/ecp/reportingwebservice/reporting.svc`
/// for the seed's form. The base is assumed checked by [`Origin::of_base`].
pub fn base_path(base: &str) -> &str {
    let rest = base.split_once("://").map_or(base, |(_, rest)| rest);
    rest.find('/')
        .map_or("", |slash| &rest[slash..])
        .trim_end_matches('/')
}

/// `link` made absolute against `page`, the URL it was found on. Absolute
/// links are kept; `/path` takes the page's origin; anything else is
/// resolved against the page's directory, with `.` and `..` segments
/// removed (the Reporting Web Service has been seen to answer with
/// `../../reportingwebservice/reporting.svc/MessageTrace?...`). None when
/// `page` is not an absolute URL.
pub fn resolve(page: &str, link: &str) -> Option<String> {
    let link = link.trim();
    if link.starts_with("https://") || link.starts_with("http://") {
        return Some(link.to_string());
    }
    let origin = Origin::of_url(page)?;
    if link.starts_with("//") {
        return None;
    }
    let path_start = page.find("://")? + 3;
    let after = &page[path_start..];
    let page_path = after
        .find('/')
        .map_or("/", |i| &after[i..])
        .split(['?', '#'])
        .next()
        .unwrap_or("/");
    let (link_path, query) = match link.find(['?', '#']) {
        Some(i) => (&link[..i], &link[i..]),
        None => (link, ""),
    };
    let merged = if link_path.starts_with('/') {
        link_path.to_string()
    } else if link_path.is_empty() {
        page_path.to_string()
    } else {
        let dir = &page_path[..page_path.rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{link_path}")
    };
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = merged.split('/').skip(1).collect();
    for (i, segment) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        match *segment {
            "." => {
                if last {
                    segments.push("");
                }
            }
            ".." => {
                segments.pop();
                if last {
                    segments.push("");
                }
            }
            other => segments.push(other),
        }
    }
    Some(format!("{origin}/{}{query}", segments.join("/")))
}

/// A URL cut to a length that fits a log line or an error message, long
/// enough for the first-page and next-page URLs of both APIs.
pub fn short(url: &str) -> String {
    const MAX: usize = 500;
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

    fn graph() -> Origin {
        Origin::of_base("X", "https://graph.microsoft.com").unwrap()
    }

    #[test]
    fn links_on_the_api_origin_pass() {
        let o = graph();
        assert_eq!(o.to_string(), "https://graph.microsoft.com");
        assert!(
            o.check(
                "https://graph.microsoft.com/v1.0/admin/exchange/tracing/messageTraces?$skiptoken=x"
            )
            .is_ok()
        );
        assert!(o.check("https://GRAPH.microsoft.com/v1.0").is_ok());
    }

    #[test]
    fn links_elsewhere_are_refused_naming_both_hosts() {
        let o = graph();
        let err = o.check("https://evil.example/v1.0/x").unwrap_err();
        assert_eq!(err.to_string(), "evil.example, not graph.microsoft.com");
        let err = o
            .check("https://graph.microsoft.com@evil.example/x")
            .unwrap_err();
        assert_eq!(err.theirs, "graph.microsoft.com@evil.example");
        assert!(o.check("https://graph.microsoft.com:8443/x").is_err());
        let err = o.check("http://graph.microsoft.com/x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "http://graph.microsoft.com, not https://graph.microsoft.com"
        );
        let err = o.check("../x").unwrap_err();
        assert!(err.theirs.contains("unusable URL `../x`"), "{err}");
    }

    #[test]
    fn bases_are_plain_urls() {
        assert!(Origin::of_base("X", "http://127.0.0.1:8080/").is_ok());
        for bad in [
            "graph.microsoft.com",
            "ftp://h",
            "https://",
            "https://u:p@h",
            "https://h/?a=1",
            "https://h/a b",
        ] {
            let err = Origin::of_base("X", bad).unwrap_err();
            assert_eq!(err.setting, "X");
            assert!(err.message.contains(bad), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn base_paths_lose_their_trailing_slash() {
        assert_eq!(base_path("https://reports.office365.com"), "");
        assert_eq!(base_path("https://reports.office365.com/"), "");
        assert_eq!(
            base_path("https://reports.office365.com/ecp/reportingwebservice/reporting.svc/"),
            "/ecp/reportingwebservice/reporting.svc"
        );
    }

    #[test]
    fn relative_links_resolve_against_the_page() {
        let page = "https://reports.office365.com/ecp/reportingwebservice/reporting.svc/MessageTrace?$format=Json&$filter=x";
        assert_eq!(
            resolve(
                page,
                "../../reportingwebservice/reporting.svc/MessageTrace?$skiptoken=2000"
            )
            .unwrap(),
            "https://reports.office365.com/ecp/reportingwebservice/reporting.svc/MessageTrace?$skiptoken=2000"
        );
        assert_eq!(
            resolve(page, "MessageTrace?$skiptoken=1").unwrap(),
            "https://reports.office365.com/ecp/reportingwebservice/reporting.svc/MessageTrace?$skiptoken=1"
        );
        assert_eq!(
            resolve(page, "/ecp/x?y=1").unwrap(),
            "https://reports.office365.com/ecp/x?y=1"
        );
        assert_eq!(
            resolve(page, "../../../../../x").unwrap(),
            "https://reports.office365.com/x"
        );
        assert_eq!(
            resolve(page, " https://evil.example/a ").unwrap(),
            "https://evil.example/a"
        );
        assert_eq!(resolve(page, "//evil.example/a"), None);
        assert_eq!(resolve("not a url", "a"), None);
    }

    #[test]
    fn long_urls_are_shortened() {
        let long = format!("https://h/{}", "x".repeat(600));
        let s = short(&long);
        assert_eq!(s.chars().count(), 501);
        assert!(s.ends_with('…'));
        assert_eq!(short("https://h/a"), "https://h/a");
    }
}
