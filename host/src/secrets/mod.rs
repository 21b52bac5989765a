//! Where the app's certificate PEM comes from: a Key Vault secret (read with
//! the host's Azure identity, as the JavaScript version did) or a local
//! file. A source is read again when the certificate may have been rotated,
//! so the rest of the host never caches the PEM itself.

pub mod file;
pub mod keyvault;

pub use file::PemFile;
pub use keyvault::{KeyVaultSecret, vault_url};

use crate::tokens::Secret;

/// Why a PEM could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct SecretError {
    /// Where it was read from ([`PemSource::origin`]).
    pub origin: String,
    /// What went wrong and what to do.
    pub message: String,
}

/// A place holding the certificate PEM.
#[async_trait::async_trait]
pub trait PemSource: Send + Sync {
    /// The PEM as it is now.
    async fn load(&self) -> Result<Secret, SecretError>;

    /// Where it comes from, with the settings that name it, for messages
    /// ("Key Vault secret `app-cert` in `https://kv.vault.azure.net`
    /// (ENTRA_APP_CLIENT_CERTIFICATE_NAME, ...)").
    fn origin(&self) -> String;
}
