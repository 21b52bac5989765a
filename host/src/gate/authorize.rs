//! Step two of the gate: which credential a checked request carries. The
//! token for an audience is attached only when the request's authority was
//! admitted with that audience, which the grant allows only where the
//! operator pointed that API; every other request leaves without one.
//! Whatever `Authorization` a request came with is removed first.

use super::check::Checked;
use super::policy::Incident;
use crate::tokens::TokenProvider;
use http::header::{AUTHORIZATION, HOST, PROXY_AUTHORIZATION};
use http::{HeaderMap, HeaderValue};

/// The request's headers without any credential or `Host` of the guest's.
pub fn strip_credentials(mut headers: HeaderMap) -> HeaderMap {
    for name in [AUTHORIZATION, PROXY_AUTHORIZATION, HOST] {
        headers.remove(name);
    }
    headers
}

/// The `Authorization` value for `checked`, if its endpoint has a granted
/// audience (none when replaying offline: no token is needed).
pub async fn authorize(
    checked: &Checked,
    tenant: &str,
    tokens: &dyn TokenProvider,
    offline: bool,
) -> Result<Option<HeaderValue>, Incident> {
    let Some(audience) = &checked.endpoint.audience else {
        return Ok(None);
    };
    if offline {
        return Ok(None);
    }
    let unavailable = |error: String| Incident::TokenUnavailable {
        audience: audience.clone(),
        error,
    };
    let token = tokens
        .token(tenant, audience)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.value.expose()))
        .map_err(|_| unavailable("the token is not a valid header value".into()))?;
    value.set_sensitive(true);
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::AllowedEndpoint;
    use crate::tokens::{NoTokens, StaticToken};

    fn checked(audience: Option<&str>) -> Checked {
        Checked {
            url: "https://manage.office.com/x".into(),
            endpoint: AllowedEndpoint {
                authority: "manage.office.com".into(),
                audience: audience.map(str::to_string),
                budget: None,
            },
        }
    }

    #[tokio::test]
    async fn a_granted_audience_gets_its_bearer_token() {
        let value = authorize(
            &checked(Some("https://manage.office.com")),
            "t",
            &StaticToken::new("tok"),
            false,
        )
        .await
        .unwrap();
        assert_eq!(value.unwrap().to_str().unwrap(), "Bearer tok");
    }

    #[tokio::test]
    async fn no_audience_or_offline_means_no_token() {
        let tokens = StaticToken::new("tok");
        assert_eq!(
            authorize(&checked(None), "t", &tokens, false).await,
            Ok(None)
        );
        assert_eq!(
            authorize(
                &checked(Some("https://manage.office.com")),
                "t",
                &tokens,
                true
            )
            .await,
            Ok(None)
        );
    }

    #[tokio::test]
    async fn a_missing_token_is_an_incident_naming_the_audience() {
        let err = authorize(
            &checked(Some("https://manage.office.com")),
            "t",
            &NoTokens,
            false,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Incident::TokenUnavailable { audience, .. } if audience == "https://manage.office.com"),
            "{err:?}"
        );
    }

    #[test]
    fn guest_credentials_and_host_are_stripped() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer stolen"));
        headers.insert(PROXY_AUTHORIZATION, HeaderValue::from_static("x"));
        headers.insert(HOST, HeaderValue::from_static("evil.example"));
        headers.insert("accept", HeaderValue::from_static("application/json"));
        let kept = strip_credentials(headers);
        assert_eq!(kept.len(), 1);
        assert!(kept.contains_key("accept"));
    }
}
