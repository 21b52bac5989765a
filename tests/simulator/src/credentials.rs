//! Test certificates for app registrations: two fixed RSA keys (generating
//! RSA keys needs more than `ring` offers, so they are shipped, and they are
//! worth nothing outside tests) with certificates made on demand by
//! `rcgen`, valid or expired as a test needs.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use rcgen::{CertificateParams, DnType, KeyPair, PKCS_RSA_SHA256};

/// A shipped test key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestKey {
    /// The first key (the default app's certificate).
    First,
    /// Another key: a rotated certificate, or the wrong one.
    Second,
}

impl TestKey {
    /// The private key, PKCS#8 PEM.
    pub fn pkcs8_pem(self) -> &'static str {
        match self {
            TestKey::First => include_str!("certs/app-key-1.pem"),
            TestKey::Second => include_str!("certs/app-key-2.pem"),
        }
    }

    /// The first key as PKCS#1 (`-----BEGIN RSA PRIVATE KEY-----`).
    pub fn pkcs1_pem(self) -> Option<&'static str> {
        match self {
            TestKey::First => Some(include_str!("certs/app-key-1-pkcs1.pem")),
            TestKey::Second => None,
        }
    }
}

/// An app certificate with its private key, as the operator stores it.
#[derive(Clone, Debug)]
pub struct TestCertificate {
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
    /// The certificate, PEM.
    pub certificate_pem: String,
}

impl TestCertificate {
    /// A self-signed certificate for `key`, valid from `not_before` to `not_after`.
    pub fn new(
        key: TestKey,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> anyhow::Result<Self> {
        let pair = KeyPair::from_pem_and_sign_algo(key.pkcs8_pem(), &PKCS_RSA_SHA256)
            .context("loading the test key")?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "o365-simulator test app");
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        let certificate = params.self_signed(&pair)?;
        Ok(TestCertificate {
            key_pem: key.pkcs8_pem().to_string(),
            certificate_pem: certificate.pem(),
        })
    }

    /// A certificate for `key` valid from a day ago for a year.
    pub fn valid(key: TestKey) -> Self {
        let now = SystemTime::now();
        TestCertificate::new(
            key,
            now - Duration::from_secs(24 * 3600),
            now + Duration::from_secs(365 * 24 * 3600),
        )
        .expect("the shipped test keys make certificates")
    }

    /// Key and certificate in one PEM, as the JavaScript version kept them
    /// in Key Vault.
    pub fn pem(&self) -> String {
        format!("{}{}", self.key_pem, self.certificate_pem)
    }
}
