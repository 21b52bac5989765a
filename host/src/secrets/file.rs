//! The certificate PEM from a local file (`ENTRA_APP_CLIENT_CERTIFICATE_PATH`).

use super::{PemSource, SecretError};
use crate::tokens::Secret;
use std::path::PathBuf;

/// Setting: a local PEM with the app's private key and certificate.
pub const PATH_SETTING: &str = "ENTRA_APP_CLIENT_CERTIFICATE_PATH";

/// A PEM file, read again at every load (so replacing the file rotates).
pub struct PemFile {
    path: PathBuf,
}

impl PemFile {
    /// The file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait::async_trait]
impl PemSource for PemFile {
    async fn load(&self) -> Result<Secret, SecretError> {
        tokio::fs::read_to_string(&self.path)
            .await
            .map(Secret::new)
            .map_err(|e| SecretError {
                origin: self.origin(),
                message: format!("cannot be read ({e}); check {PATH_SETTING}"),
            })
    }

    fn origin(&self) -> String {
        format!("certificate file {} ({PATH_SETTING})", self.path.display())
    }
}
