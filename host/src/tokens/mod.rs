//! Access tokens for the APIs a component calls.
//!
//! The gate asks a [`TokenProvider`] for a token per tenant and audience and
//! attaches it to allowed requests; components never see one. Providers:
//! a fixed token (testing against a simulator or with a token from `az`),
//! and Entra ID client credentials, with a client secret or with the app's
//! certificate (a PEM from Key Vault or a file, signing an assertion).
//! [`provider_from_settings`] picks one from the operator's settings.

mod certificate;
mod certificate_credential;
mod client_credentials;
mod from_settings;
mod secret;
mod tenants;

use std::time::{Duration, SystemTime};

pub use certificate::{
    ASSERTION_LIFETIME, AssertionError, CertificateError, ClientCertificate, EXPIRY_WARNING,
    JWT_BEARER,
};
pub use certificate_credential::{
    CertificateCredential, RELOAD_AFTER_REFUSAL_AT_MOST_EVERY, RELOAD_EVERY,
};
pub use client_credentials::{ClientAuth, ClientCredentials, ClientCredentialsOptions, scope_for};
pub use from_settings::{
    APP_CREDENTIAL_SETTINGS, Credential, CredentialSettings, CredentialSettingsError,
    provider_from_settings,
};
pub use secret::Secret;
pub use tenants::TenantTokens;

/// A bearer token and when it stops working.
#[derive(Clone, Debug)]
pub struct AccessToken {
    /// The token itself; never logged.
    pub value: Secret,
    /// When it expires.
    pub expires_at: SystemTime,
}

impl AccessToken {
    /// Whether it is still good for at least `margin`.
    pub fn fresh_for(&self, margin: Duration) -> bool {
        SystemTime::now() + margin < self.expires_at
    }
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The identity provider refused (bad secret, unknown app, missing consent).
    #[error(
        "Entra ID refused the token request for {audience} (HTTP {status}): {error}: {description}{}",
        hint.as_deref().map(|h| format!(" — to fix: {h}")).unwrap_or_default()
    )]
    Rejected {
        /// The audience asked for.
        audience: String,
        /// HTTP status of the answer.
        status: u16,
        /// The OAuth error code, such as `invalid_client`.
        error: String,
        /// The `error_description` (AADSTS code and text, first line).
        description: String,
        /// What the operator can do about it, where the code says.
        hint: Option<String>,
    },
    /// The app's credential cannot be used (a certificate that cannot sign).
    #[error("the app's credential cannot be used: {0}")]
    Credential(String),
    /// The token endpoint could not be reached or answered nonsense.
    #[error("token endpoint {url} failed: {message}")]
    Transport {
        /// The token endpoint.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// This provider has no credential for that audience.
    #[error("no credential is configured for audience {0}")]
    NotConfigured(String),
}

/// Hands out tokens per tenant and audience.
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync {
    /// A token for `audience` (a resource such as `https://manage.office.com`)
    /// in `tenant`, fresh for at least a few minutes.
    async fn token(&self, tenant: &str, audience: &str) -> Result<AccessToken, TokenError>;

    /// Forgets a cached token the API just refused (401), so the next call
    /// fetches a new one.
    fn invalidate(&self, _tenant: &str, _audience: &str) {}
}

/// One fixed token for every audience: for simulators and short manual runs.
pub struct StaticToken(Secret);

impl StaticToken {
    /// Uses `token` for every request.
    pub fn new(token: impl Into<String>) -> Self {
        Self(Secret::new(token.into()))
    }
}

#[async_trait::async_trait]
impl TokenProvider for StaticToken {
    async fn token(&self, _tenant: &str, _audience: &str) -> Result<AccessToken, TokenError> {
        Ok(AccessToken {
            value: self.0.clone(),
            expires_at: SystemTime::now() + Duration::from_secs(3600),
        })
    }
}

/// No credentials at all: any request that needs a token is refused.
pub struct NoTokens;

#[async_trait::async_trait]
impl TokenProvider for NoTokens {
    async fn token(&self, _tenant: &str, audience: &str) -> Result<AccessToken, TokenError> {
        Err(TokenError::NotConfigured(audience.to_string()))
    }
}
