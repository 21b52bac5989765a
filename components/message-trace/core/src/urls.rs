//! URLs as the message trace APIs need them: the path of a base, links
//! made absolute against the page they were found on, and URLs cut for
//! messages.
//!
//! `@odata.nextLink` and `__next` come from responses, and the Reporting
//! Web Service writes relative ones. Each is made absolute here, then
//! checked against the API base's origin with the SDK's
//! [`Origin::check`](connector_sdk::url::Origin::check) before it is
//! followed (the host would attach the API's token to it): the same rule
//! the audit component applies to `NextPageUri` and `contentUri`.

use connector_sdk::url::{self, Origin};

/// How many characters of a URL messages show: long enough for the
/// first-page and next-page URLs of both APIs.
pub const SHOWN: usize = 500;

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

/// `url` cut to [`SHOWN`] characters for a log line or an error message.
pub fn short(url: &str) -> String {
    url::short(url, SHOWN)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(short(&long), format!("{}…", &long[..500]));
        assert_eq!(short(&long[..510]), format!("{}…", &long[..500]));
        assert_eq!(short(&long[..500]), &long[..500]);
    }
}
