//! Entra ID v2 client-credentials tokens, cached per tenant and audience.
//!
//! The secret and the certificate differ only in how the token request
//! proves it is the app's ([`ClientAuth`]); caching, refreshing before
//! expiry, single flight and the error mapping are shared.

use super::certificate::{ClientCertificate, JWT_BEARER};
use super::certificate_credential::CertificateCredential;
use super::{AccessToken, Secret, TokenError, TokenProvider};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// How a token request proves it comes from the app.
#[derive(Clone)]
pub enum ClientAuth {
    /// A client secret (`ENTRA_APP_CLIENT_SECRET`).
    Secret(Secret),
    /// A certificate: each request carries a fresh signed assertion.
    Certificate(Arc<CertificateCredential>),
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::Secret(_) => f.write_str("Secret([redacted])"),
            ClientAuth::Certificate(c) => write!(f, "Certificate({})", c.origin()),
        }
    }
}

/// How to reach Entra ID and who we are.
#[derive(Clone, Debug)]
pub struct ClientCredentialsOptions {
    /// The authority host, `https://login.microsoftonline.com` in the public
    /// cloud (`https://login.microsoftonline.us` for US Government), or a
    /// simulator's URL.
    pub authority: String,
    /// The app (client) id.
    pub client_id: String,
    /// The client secret or certificate.
    pub auth: ClientAuth,
    /// Refresh a cached token this long before it expires.
    pub refresh_margin: Duration,
}

impl ClientCredentialsOptions {
    /// Options for the public cloud with a client secret.
    pub fn with_secret(client_id: impl Into<String>, client_secret: Secret) -> Self {
        Self::with_auth(client_id, ClientAuth::Secret(client_secret))
    }

    /// Options for the public cloud with a certificate.
    pub fn with_certificate(
        client_id: impl Into<String>,
        certificate: Arc<CertificateCredential>,
    ) -> Self {
        Self::with_auth(client_id, ClientAuth::Certificate(certificate))
    }

    fn with_auth(client_id: impl Into<String>, auth: ClientAuth) -> Self {
        Self {
            authority: "https://login.microsoftonline.com".into(),
            client_id: client_id.into(),
            auth,
            refresh_margin: Duration::from_secs(300),
        }
    }

    /// The v2 token endpoint for `tenant` (also the `aud` of assertions).
    pub fn token_url(&self, tenant: &str) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority.trim_end_matches('/'),
            tenant
        )
    }
}

/// One cache entry: the token, and the lock that makes concurrent callers
/// for the same tenant and audience share one request.
#[derive(Default)]
struct Slot {
    token: Mutex<Option<AccessToken>>,
    fetching: tokio::sync::Mutex<()>,
}

/// Fetches tokens with `grant_type=client_credentials` and caches them.
pub struct ClientCredentials {
    options: ClientCredentialsOptions,
    http: reqwest::Client,
    /// Slots by tenant and audience.
    slots: Mutex<HashMap<(String, String), Arc<Slot>>>,
}

impl ClientCredentials {
    /// A provider that sends token requests through `http`.
    pub fn new(options: ClientCredentialsOptions, http: reqwest::Client) -> Self {
        Self {
            options,
            http,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, tenant: &str, audience: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .entry((tenant.to_string(), audience.to_string()))
            .or_default()
            .clone()
    }

    async fn fetch(&self, tenant: &str, audience: &str) -> Result<AccessToken, TokenError> {
        let url = self.options.token_url(tenant);
        match &self.options.auth {
            ClientAuth::Secret(secret) => {
                let form = [("client_secret", secret.expose())];
                self.request(&url, audience, &form).await
            }
            ClientAuth::Certificate(credential) => {
                let mut certificate = credential.current().await;
                let mut retried = false;
                loop {
                    let assertion = self.assertion(&certificate, &url)?;
                    let form = [
                        ("client_assertion_type", JWT_BEARER),
                        ("client_assertion", assertion.expose()),
                    ];
                    match self.request(&url, audience, &form).await {
                        Err(TokenError::Rejected { error, .. })
                            if error == "invalid_client"
                                && !retried
                                && credential.refused(&certificate).await =>
                        {
                            retried = true;
                            certificate = credential.current().await;
                        }
                        Err(TokenError::Rejected {
                            audience,
                            status,
                            error,
                            description,
                            hint: _,
                        }) => {
                            let hint = certificate_hint(
                                &description,
                                &certificate,
                                &credential.origin(),
                                &self.options.client_id,
                            );
                            return Err(TokenError::Rejected {
                                audience,
                                status,
                                error,
                                description,
                                hint,
                            });
                        }
                        other => return other,
                    }
                }
            }
        }
    }

    fn assertion(
        &self,
        certificate: &ClientCertificate,
        token_url: &str,
    ) -> Result<Secret, TokenError> {
        certificate
            .assertion(&self.options.client_id, token_url, SystemTime::now())
            .map(Secret::new)
            .map_err(|e| TokenError::Credential(e.to_string()))
    }

    /// Posts the client-credentials request with the authentication fields
    /// `auth` added.
    async fn request(
        &self,
        url: &str,
        audience: &str,
        auth: &[(&str, &str)],
    ) -> Result<AccessToken, TokenError> {
        let scope = scope_for(audience);
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.options.client_id.as_str()),
            ("scope", scope.as_str()),
        ];
        form.extend_from_slice(auth);
        let transport = |message: String| TokenError::Transport {
            url: url.to_string(),
            message,
        };
        let response = self
            .http
            .post(url)
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
            let description = text("error_description").unwrap_or_default();
            let hint = match &self.options.auth {
                ClientAuth::Secret(_) => secret_hint(&description, &self.options.client_id),
                ClientAuth::Certificate(_) => None,
            };
            return Err(TokenError::Rejected {
                audience: audience.to_string(),
                status,
                error: text("error").unwrap_or_else(|| "unknown_error".into()),
                description: first_line(&description),
                hint,
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

/// The AADSTS message without the trace and correlation ids Entra appends.
fn first_line(description: &str) -> String {
    description.lines().next().unwrap_or_default().to_string()
}

/// What the operator should do about a refused client secret.
fn secret_hint(description: &str, client_id: &str) -> Option<String> {
    if description.starts_with("AADSTS7000215") {
        Some(format!(
            "ENTRA_APP_CLIENT_SECRET is not a secret of app {client_id}: use the secret's Value \
             (not its Secret ID) from App registrations → Certificates & secrets"
        ))
    } else if description.starts_with("AADSTS7000222") {
        Some(format!(
            "the client secret of app {client_id} has expired: create a new one and set \
             ENTRA_APP_CLIENT_SECRET, or use a certificate (docs/credentials.md)"
        ))
    } else {
        common_hint(description)
    }
}

/// What the operator should do about a refused certificate assertion.
fn certificate_hint(
    description: &str,
    certificate: &ClientCertificate,
    origin: &str,
    client_id: &str,
) -> Option<String> {
    if description.starts_with("AADSTS700027") || description.starts_with("AADSTS7000274") {
        Some(format!(
            "the certificate with thumbprint {} from {origin} is not registered on app \
             {client_id}: upload its certificate under App registrations → Certificates & \
             secrets → Certificates (docs/credentials.md), or store the PEM of the certificate \
             that is registered there",
            certificate.thumbprint()
        ))
    } else if description.starts_with("AADSTS700024") {
        Some(
            "Entra ID found the assertion outside its valid time range: check this machine's \
             clock (NTP)"
                .into(),
        )
    } else {
        common_hint(description)
    }
}

fn common_hint(description: &str) -> Option<String> {
    if description.starts_with("AADSTS700016") {
        Some(
            "no such app in this tenant: check ENTRA_APP_CLIENT_ID, ENTRA_TENANT_ID and \
             O365_CLOUD, and that the app is consented in the tenant"
                .into(),
        )
    } else if description.starts_with("AADSTS90002") {
        Some("no such tenant: check ENTRA_TENANT_ID and O365_CLOUD".into())
    } else {
        None
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
        let slot = self.slot(tenant, audience);
        let margin = self.options.refresh_margin;
        let cached = || {
            slot.token
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .filter(|t| t.fresh_for(margin))
                .cloned()
        };
        if let Some(token) = cached() {
            return Ok(token);
        }
        let _fetching = slot.fetching.lock().await;
        // Another caller may have fetched it while this one waited.
        if let Some(token) = cached() {
            return Ok(token);
        }
        let token = self.fetch(tenant, audience).await?;
        tracing::debug!(tenant, audience, "fetched a new access token");
        *slot.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
        Ok(token)
    }

    fn invalidate(&self, tenant: &str, audience: &str) {
        let slot = self.slot(tenant, audience);
        *slot.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
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
