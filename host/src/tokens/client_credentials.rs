//! Entra ID v2 client-credentials tokens, cached per tenant and audience.

use super::{AccessToken, Secret, TokenError, TokenProvider};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// How to reach Entra ID and who we are.
#[derive(Clone, Debug)]
pub struct ClientCredentialsOptions {
    /// The authority host, `https://login.microsoftonline.com` in the public
    /// cloud (`https://login.microsoftonline.us` for US Government), or a
    /// simulator's URL.
    pub authority: String,
    /// The app (client) id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: Secret,
    /// Refresh a cached token this long before it expires.
    pub refresh_margin: Duration,
}

impl ClientCredentialsOptions {
    /// Options for the public cloud with a client secret.
    pub fn with_secret(client_id: impl Into<String>, client_secret: Secret) -> Self {
        Self {
            authority: "https://login.microsoftonline.com".into(),
            client_id: client_id.into(),
            client_secret,
            refresh_margin: Duration::from_secs(300),
        }
    }
}

/// Fetches tokens with `grant_type=client_credentials` and caches them.
pub struct ClientCredentials {
    options: ClientCredentialsOptions,
    http: reqwest::Client,
    /// Tokens by tenant and audience.
    cache: Mutex<HashMap<(String, String), AccessToken>>,
    /// Held while fetching: a fetch is rare (hourly per audience), and
    /// serializing them makes concurrent requests share one fetch.
    fetching: tokio::sync::Mutex<()>,
}

impl ClientCredentials {
    /// A provider that sends token requests through `http`.
    pub fn new(options: ClientCredentialsOptions, http: reqwest::Client) -> Self {
        Self {
            options,
            http,
            cache: Mutex::new(HashMap::new()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    async fn fetch(&self, tenant: &str, audience: &str) -> Result<AccessToken, TokenError> {
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.options.authority.trim_end_matches('/'),
            tenant
        );
        let scope = scope_for(audience);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.options.client_id.as_str()),
            ("client_secret", self.options.client_secret.expose()),
            ("scope", scope.as_str()),
        ];
        let transport = |message: String| TokenError::Transport {
            url: url.clone(),
            message,
        };
        let response = self
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| transport(format!("HTTP {status} with an unreadable body: {e}")))?;
        let text = |key: &str| body.get(key).and_then(|v| v.as_str()).map(str::to_string);
        if !(200..300).contains(&status) {
            return Err(TokenError::Rejected {
                audience: audience.to_string(),
                status,
                error: text("error").unwrap_or_else(|| "unknown_error".into()),
                description: text("error_description").unwrap_or_default(),
            });
        }
        let token = text("access_token")
            .ok_or_else(|| transport("the answer has no access_token".into()))?;
        let lifetime = body
            .get("expires_in")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(3599);
        Ok(AccessToken {
            value: Secret::new(token),
            expires_at: SystemTime::now() + Duration::from_secs(lifetime),
        })
    }
}

/// The v2 scope for an audience: `https://manage.office.com` becomes
/// `https://manage.office.com/.default`; a scope given as such is kept.
pub fn scope_for(audience: &str) -> String {
    if audience.ends_with("/.default") {
        audience.to_string()
    } else {
        format!("{}/.default", audience.trim_end_matches('/'))
    }
}

#[async_trait::async_trait]
impl TokenProvider for ClientCredentials {
    async fn token(&self, tenant: &str, audience: &str) -> Result<AccessToken, TokenError> {
        let key = (tenant.to_string(), audience.to_string());
        let cached = || {
            self.cache
                .lock()
                .ok()?
                .get(&key)
                .filter(|t| t.fresh_for(self.options.refresh_margin))
                .cloned()
        };
        if let Some(token) = cached() {
            return Ok(token);
        }
        let _fetching = self.fetching.lock().await;
        // Another caller may have fetched it while this one waited.
        if let Some(token) = cached() {
            return Ok(token);
        }
        let token = self.fetch(tenant, audience).await?;
        tracing::debug!(tenant, audience, "fetched a new access token");
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, token.clone());
        }
        Ok(token)
    }

    fn invalidate(&self, tenant: &str, audience: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(&(tenant.to_string(), audience.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::scope_for;

    #[test]
    fn scopes() {
        assert_eq!(
            scope_for("https://manage.office.com"),
            "https://manage.office.com/.default"
        );
        assert_eq!(
            scope_for("https://outlook.office365.com/.default"),
            "https://outlook.office365.com/.default"
        );
        assert_eq!(
            scope_for("https://graph.microsoft.com/"),
            "https://graph.microsoft.com/.default"
        );
    }
}
