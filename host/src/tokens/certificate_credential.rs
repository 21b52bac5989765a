//! The certificate credential over time: loaded once at start (a bad PEM
//! stops the start), read again from its source every `reload_every` and
//! whenever Entra ID refuses the assertion, so that a certificate rotated in
//! Key Vault (or a replaced file) is picked up without a restart.

use super::certificate::{ClientCertificate, EXPIRY_WARNING};
use crate::secrets::PemSource;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The default interval between two reads of the certificate's source.
pub const RELOAD_EVERY: Duration = Duration::from_secs(12 * 3600);

/// A refused assertion reads the source again at most this often, so a
/// certificate that is simply not registered does not hammer Key Vault.
pub const RELOAD_AFTER_REFUSAL_AT_MOST_EVERY: Duration = Duration::from_secs(60);

/// The app's certificate, kept fresh from its source.
pub struct CertificateCredential {
    source: Arc<dyn PemSource>,
    state: Mutex<Loaded>,
    /// One read of the source at a time.
    reading: tokio::sync::Mutex<()>,
    reload_every: Duration,
}

struct Loaded {
    certificate: Arc<ClientCertificate>,
    /// When the source was last read (successfully or not).
    read_at: Instant,
    /// When a refusal last made us read it.
    refused_read_at: Option<Instant>,
}

impl CertificateCredential {
    /// Reads and checks the certificate from `source`; the error names the
    /// source and what is wrong with the PEM.
    pub async fn load(source: Arc<dyn PemSource>) -> Result<Self, String> {
        let certificate = read(source.as_ref()).await?;
        Ok(Self {
            source,
            state: Mutex::new(Loaded {
                certificate: Arc::new(certificate),
                read_at: Instant::now(),
                refused_read_at: None,
            }),
            reading: tokio::sync::Mutex::new(()),
            reload_every: RELOAD_EVERY,
        })
    }

    /// Reads the source again after `every` instead of [`RELOAD_EVERY`].
    pub fn reload_every(mut self, every: Duration) -> Self {
        self.reload_every = every;
        self
    }

    /// Where the certificate comes from.
    pub fn origin(&self) -> String {
        self.source.origin()
    }

    /// The certificate to sign with now; reads the source first when the
    /// last read is older than the reload interval. A failed read keeps the
    /// certificate in hand (and says so), since it may still be valid.
    pub async fn current(&self) -> Arc<ClientCertificate> {
        let due = {
            let state = self.lock();
            state.read_at.elapsed() >= self.reload_every
        };
        if due {
            let _reading = self.reading.lock().await;
            if self.lock().read_at.elapsed() >= self.reload_every {
                self.reread("scheduled").await;
            }
        }
        self.lock().certificate.clone()
    }

    /// Entra ID refused an assertion signed with `used`: reads the source
    /// again (at most once a minute) and returns whether it now holds
    /// another certificate, so that a retry can succeed.
    pub async fn refused(&self, used: &ClientCertificate) -> bool {
        let _reading = self.reading.lock().await;
        {
            let state = self.lock();
            if state.certificate.thumbprint() != used.thumbprint() {
                // Another caller already picked up a new one.
                return true;
            }
            if state
                .refused_read_at
                .is_some_and(|at| at.elapsed() < RELOAD_AFTER_REFUSAL_AT_MOST_EVERY)
            {
                return false;
            }
            drop(state);
        }
        self.lock().refused_read_at = Some(Instant::now());
        self.reread("Entra ID refused the certificate").await;
        self.lock().certificate.thumbprint() != used.thumbprint()
    }

    async fn reread(&self, why: &str) {
        let result = read(self.source.as_ref()).await;
        let mut state = self.lock();
        state.read_at = Instant::now();
        match result {
            Ok(certificate) => {
                let old = state.certificate.thumbprint();
                let new = certificate.thumbprint();
                if old != new {
                    tracing::info!(
                        origin = %self.source.origin(),
                        old_thumbprint = %old,
                        thumbprint = %new,
                        reason = why,
                        "the app's certificate changed; signing with the new one"
                    );
                }
                state.certificate = Arc::new(certificate);
            }
            Err(message) => tracing::warn!(
                reason = why,
                thumbprint = %state.certificate.thumbprint(),
                "reading the app's certificate again failed, keeping the one in hand: {message}"
            ),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reads and parses the PEM; warns when the certificate expires soon.
async fn read(source: &dyn PemSource) -> Result<ClientCertificate, String> {
    let pem = source.load().await.map_err(|e| e.to_string())?;
    let now = SystemTime::now();
    let certificate = ClientCertificate::from_pem(pem.expose(), now)
        .map_err(|e| format!("{}: {e}", source.origin()))?;
    if certificate.expires_within(EXPIRY_WARNING, now) {
        tracing::warn!(
            origin = %source.origin(),
            thumbprint = %certificate.thumbprint(),
            expires = %certificate.not_after_text(),
            "the app's certificate expires within 30 days: create a new one, upload it to the \
             app registration and store the new PEM (docs/credentials.md)"
        );
    } else {
        tracing::debug!(
            origin = %source.origin(),
            thumbprint = %certificate.thumbprint(),
            expires = %certificate.not_after_text(),
            "the app's certificate is loaded"
        );
    }
    Ok(certificate)
}
