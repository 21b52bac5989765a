//! Step one of the gate: may this request leave at all? Its authority must
//! be one the component was admitted to reach, and plain `http` may go to
//! this machine only. Pure: no I/O, so every refusal is testable alone.

use super::policy::{AllowedEndpoint, GatePolicy, Incident, is_loopback};

/// A request that passed the check, with the admitted endpoint it goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The full URL, for sending and for logs.
    pub url: String,
    /// The endpoint it matched: its granted audience and budget.
    pub endpoint: AllowedEndpoint,
}

/// Checks `uri` against `policy`.
pub fn check(policy: &GatePolicy, uri: &http::Uri) -> Result<Checked, Incident> {
    let url = uri.to_string();
    let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    let Some(endpoint) = policy.find(&scheme, authority) else {
        return Err(Incident::HostNotAllowed { url });
    };
    if scheme != "https" && !is_loopback(authority) {
        return Err(Incident::InsecureScheme { url });
    }
    Ok(Checked {
        url,
        endpoint: endpoint.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> GatePolicy {
        GatePolicy::for_tests(vec![
            AllowedEndpoint {
                authority: "manage.office.com".into(),
                audience: Some("https://manage.office.com".into()),
                budget: None,
            },
            AllowedEndpoint {
                authority: "api.example.com".into(),
                audience: None,
                budget: None,
            },
            AllowedEndpoint {
                authority: "127.0.0.1:8080".into(),
                audience: None,
                budget: None,
            },
        ])
    }

    fn uri(text: &str) -> http::Uri {
        text.parse().unwrap()
    }

    #[test]
    fn an_admitted_authority_passes_with_its_endpoint() {
        let checked = check(&policy(), &uri("https://Manage.Office.com:443/api/v1.0/x")).unwrap();
        assert_eq!(
            checked.endpoint.audience.as_deref(),
            Some("https://manage.office.com")
        );
        assert!(check(&policy(), &uri("http://127.0.0.1:8080/x")).is_ok());
    }

    #[test]
    fn an_authority_outside_the_admission_is_refused() {
        for url in [
            "https://evil.example/steal",
            "https://manage.office.com.evil.example/",
            "https://manage.office.com:8443/",
        ] {
            assert_eq!(
                check(&policy(), &uri(url)),
                Err(Incident::HostNotAllowed { url: url.into() })
            );
        }
    }

    #[test]
    fn plain_http_off_this_machine_is_refused() {
        assert_eq!(
            check(&policy(), &uri("http://api.example.com/data")),
            Err(Incident::InsecureScheme {
                url: "http://api.example.com/data".into()
            })
        );
    }
}
