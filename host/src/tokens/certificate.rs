//! The app's certificate credential: a PEM holding the RSA private key and
//! its certificate (what the JavaScript version kept as a Key Vault secret),
//! and the signed client assertion Entra ID accepts in place of a secret.
//!
//! Parsing refuses, with the fix in the message, everything Entra would
//! refuse later or that would fail in the middle of the night: no key, no
//! certificate, a key that belongs to none of the certificates, a key that is
//! not RSA, an encrypted key, and a certificate outside its validity period.
//! The private key never leaves this module except as a signature.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A certificate expiring sooner than this is reported at every load.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

/// How long a client assertion is valid (Entra accepts up to 10 minutes
/// of lifetime for assertions it has not seen).
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(600);

/// `client_assertion_type` for a JWT client assertion (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Why a PEM cannot serve as the app's certificate credential.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertificateError {
    /// Not PEM at all (or a PKCS#12 blob, as Key Vault stores certificates
    /// created with the PKCS#12 content type).
    #[error(
        "it is not PEM text{0}; it must hold the private key (-----BEGIN PRIVATE KEY----- or \
         -----BEGIN RSA PRIVATE KEY-----) and the certificate (-----BEGIN CERTIFICATE-----)"
    )]
    NotPem(String),
    /// No private key block.
    #[error(
        "it holds no private key: it must contain the app's RSA private key \
         (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----) next to the certificate"
    )]
    NoKey,
    /// More than one private key.
    #[error("it holds {0} private keys; keep only the one that belongs to the certificate")]
    SeveralKeys(usize),
    /// A password-protected key.
    #[error(
        "its private key is encrypted (-----BEGIN ENCRYPTED PRIVATE KEY-----); export it without \
         a password, for example `openssl pkey -in key.pem -out plain.pem`"
    )]
    EncryptedKey,
    /// An EC or Ed25519 key, or anything else.
    #[error(
        "its private key is not an RSA key ({0}); Entra ID certificate credentials are RSA: \
         create one with `openssl req -x509 -newkey rsa:2048 ...` (docs/credentials.md)"
    )]
    NotRsa(String),
    /// RSA, but unusable (too short, damaged).
    #[error(
        "its RSA private key cannot be used ({0}); it must be an unencrypted key of 2048 to 8192 bits"
    )]
    BadKey(String),
    /// No certificate block.
    #[error(
        "it holds no certificate: append the app's certificate (-----BEGIN CERTIFICATE-----) \
         to the private key"
    )]
    NoCertificate,
    /// A certificate block that does not parse.
    #[error("a certificate in it cannot be read: {0}")]
    BadCertificate(String),
    /// None of the certificates is the key's.
    #[error(
        "the private key does not belong to the certificate{0}: put the key and the certificate \
         of the same pair together (compare `openssl x509 -noout -modulus` with \
         `openssl rsa -noout -modulus`)"
    )]
    KeyMismatch(String),
    /// Past its `notAfter`.
    #[error(
        "the certificate {thumbprint} expired on {not_after}: create a new one, upload it to the \
         app registration and store the new PEM (docs/credentials.md)"
    )]
    Expired {
        /// SHA-1 thumbprint, hex, as the Azure portal shows it.
        thumbprint: String,
        /// Its `notAfter`, RFC 3339.
        not_after: String,
    },
    /// Before its `notBefore`.
    #[error(
        "the certificate {thumbprint} is not valid before {not_before}: check this machine's \
         clock, or wait"
    )]
    NotYetValid {
        /// SHA-1 thumbprint, hex.
        thumbprint: String,
        /// Its `notBefore`, RFC 3339.
        not_before: String,
    },
}

/// The app's certificate and its private key, ready to sign assertions.
pub struct ClientCertificate {
    key: RsaKeyPair,
    /// DER of the leaf certificate (the key's).
    leaf_der: Vec<u8>,
    not_after: SystemTime,
    rng: SystemRandom,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint", &self.thumbprint())
            .field("not_after", &rfc3339(self.not_after))
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// Reads a PEM holding the private key (PKCS#8 or PKCS#1) and the
    /// certificate, in either order, possibly with the rest of its chain.
    /// The certificate must be valid at `now`.
    pub fn from_pem(pem_text: &str, now: SystemTime) -> Result<Self, CertificateError> {
        let blocks = pem::parse_many(pem_text.as_bytes())
            .map_err(|e| CertificateError::NotPem(format!(" ({e})")))?;
        if blocks.is_empty() {
            let hint = if looks_like_pkcs12(pem_text) {
                " (it looks like a base64 PKCS#12 file: store the certificate as PEM, \
                 content type application/x-pem-file)"
            } else {
                ""
            };
            return Err(CertificateError::NotPem(hint.into()));
        }
        let mut keys = Vec::new();
        let mut certificates = Vec::new();
        for block in &blocks {
            match block.tag() {
                "PRIVATE KEY" => keys.push(key_from_pkcs8(block.contents())?),
                "RSA PRIVATE KEY" => keys.push(
                    RsaKeyPair::from_der(block.contents())
                        .map_err(|e| CertificateError::BadKey(e.to_string()))?,
                ),
                "ENCRYPTED PRIVATE KEY" => return Err(CertificateError::EncryptedKey),
                "EC PRIVATE KEY" => return Err(CertificateError::NotRsa("an EC key".into())),
                "CERTIFICATE" => certificates.push(block.contents().to_vec()),
                _ => {}
            }
        }
        let key = match keys.len() {
            0 => return Err(CertificateError::NoKey),
            1 => keys.remove(0),
            n => return Err(CertificateError::SeveralKeys(n)),
        };
        if certificates.is_empty() {
            return Err(CertificateError::NoCertificate);
        }
        let mut leaf = None;
        for der in &certificates {
            let (_, parsed) = x509_parser::parse_x509_certificate(der)
                .map_err(|e| CertificateError::BadCertificate(e.to_string()))?;
            if parsed.public_key().subject_public_key.data.as_ref() == key.public().as_ref() {
                let validity = parsed.validity();
                leaf = Some((
                    der.clone(),
                    unix(validity.not_before.timestamp()),
                    unix(validity.not_after.timestamp()),
                ));
                break;
            }
        }
        let Some((leaf_der, not_before, not_after)) = leaf else {
            let which = if certificates.len() == 1 {
                String::new()
            } else {
                format!(" (nor to any of the {} certificates)", certificates.len())
            };
            return Err(CertificateError::KeyMismatch(which));
        };
        let thumbprint = hex_thumbprint(&leaf_der);
        if now >= not_after {
            return Err(CertificateError::Expired {
                thumbprint,
                not_after: rfc3339(not_after),
            });
        }
        if now < not_before {
            return Err(CertificateError::NotYetValid {
                thumbprint,
                not_before: rfc3339(not_before),
            });
        }
        Ok(Self {
            key,
            leaf_der,
            not_after,
            rng: SystemRandom::new(),
        })
    }

    /// The SHA-1 thumbprint in upper-case hex, as the Azure portal lists
    /// the app's certificates.
    pub fn thumbprint(&self) -> String {
        hex_thumbprint(&self.leaf_der)
    }

    /// When the certificate expires.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// Whether it expires within `margin` of `now`.
    pub fn expires_within(&self, margin: Duration, now: SystemTime) -> bool {
        now + margin >= self.not_after
    }

    /// `notAfter` as RFC 3339, for messages.
    pub fn not_after_text(&self) -> String {
        rfc3339(self.not_after)
    }

    /// The DER of the certificate the key belongs to.
    pub fn certificate_der(&self) -> &[u8] {
        &self.leaf_der
    }

    /// A client assertion for `client_id` at the token endpoint
    /// `token_url`: an RS256 JWT whose header names the certificate by its
    /// SHA-1 (`x5t`) and SHA-256 (`x5t#S256`) thumbprints.
    pub fn assertion(
        &self,
        client_id: &str,
        token_url: &str,
        now: SystemTime,
    ) -> Result<String, AssertionError> {
        let header = serde_json::json!({
            "alg": "RS256",
            "typ": "JWT",
            "x5t": URL_SAFE_NO_PAD.encode(Sha1::digest(&self.leaf_der)),
            "x5t#S256": URL_SAFE_NO_PAD.encode(Sha256::digest(&self.leaf_der)),
        });
        let issued = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| AssertionError("the system clock is before 1970".into()))?
            .as_secs();
        let mut jti = [0u8; 16];
        self.rng
            .fill(&mut jti)
            .map_err(|_| AssertionError("no randomness for the assertion id".into()))?;
        let claims = serde_json::json!({
            "aud": token_url,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid_text(jti),
            "nbf": issued,
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME.as_secs(),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| AssertionError("signing with the private key failed".into()))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// A client assertion could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the client assertion: {0}")]
pub struct AssertionError(String);

/// PKCS#8: RSA, or the reason it is something else.
fn key_from_pkcs8(der: &[u8]) -> Result<RsaKeyPair, CertificateError> {
    // rsaEncryption, 1.2.840.113549.1.1.1, near the start of the structure.
    const RSA_OID: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
    ];
    // id-ecPublicKey 1.2.840.10045.2.1 and id-Ed25519 1.3.101.112.
    const EC_OID: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
    let head = &der[..der.len().min(40)];
    let has = |oid: &[u8]| head.windows(oid.len()).any(|w| w == oid);
    if !has(RSA_OID) {
        let kind = if has(EC_OID) {
            "an EC key"
        } else if has(ED25519_OID) {
            "an Ed25519 key"
        } else {
            "an unknown key type"
        };
        return Err(CertificateError::NotRsa(kind.into()));
    }
    RsaKeyPair::from_pkcs8(der).map_err(|e| CertificateError::BadKey(e.to_string()))
}

/// Base64 text with no PEM armour, as a PKCS#12 secret in Key Vault reads.
fn looks_like_pkcs12(text: &str) -> bool {
    let text = text.trim();
    text.len() > 64
        && !text.contains("-----")
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\n' | b'\r'))
}

fn hex_thumbprint(der: &[u8]) -> String {
    hex::encode_upper(Sha1::digest(der))
}

fn unix(seconds: i64) -> SystemTime {
    if seconds >= 0 {
        UNIX_EPOCH + Duration::from_secs(seconds as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
    }
}

fn rfc3339(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn uuid_text(b: [u8; 16]) -> String {
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    use o365_simulator::{TestCertificate, TestKey};

    const CLIENT: &str = "11111111-1111-1111-1111-111111111111";
    const TOKEN_URL: &str = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token";

    fn now() -> SystemTime {
        SystemTime::now()
    }

    fn dated(key: TestKey, from_days: i64, to_days: i64) -> TestCertificate {
        let day = |d: i64| {
            if d >= 0 {
                now() + Duration::from_secs(d as u64 * 86400)
            } else {
                now() - Duration::from_secs(d.unsigned_abs() * 86400)
            }
        };
        TestCertificate::new(key, day(from_days), day(to_days)).unwrap()
    }

    fn der_of(certificate_pem: &str) -> Vec<u8> {
        pem::parse(certificate_pem).unwrap().contents().to_vec()
    }

    #[test]
    fn the_assertion_verifies_with_the_certificates_public_key_and_names_it() {
        let test = TestCertificate::valid(TestKey::First);
        let certificate = ClientCertificate::from_pem(&test.pem(), now()).unwrap();
        let jwt = certificate.assertion(CLIENT, TOKEN_URL, now()).unwrap();

        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        let der = der_of(&test.certificate_pem);
        assert_eq!(
            header.x5t.as_deref(),
            Some(URL_SAFE_NO_PAD.encode(Sha1::digest(&der)).as_str())
        );
        assert_eq!(
            header.x5t_s256.as_deref(),
            Some(URL_SAFE_NO_PAD.encode(Sha256::digest(&der)).as_str())
        );
        assert_eq!(
            certificate.thumbprint(),
            hex::encode_upper(Sha1::digest(&der))
        );

        let key = DecodingKey::from_rsa_pem(test.certificate_pem.as_bytes()).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[TOKEN_URL]);
        validation.set_issuer(&[CLIENT]);
        validation.sub = Some(CLIENT.into());
        validation.validate_nbf = true;
        let claims = jsonwebtoken::decode::<serde_json::Value>(&jwt, &key, &validation)
            .unwrap()
            .claims;
        let (nbf, exp) = (
            claims["nbf"].as_u64().unwrap(),
            claims["exp"].as_u64().unwrap(),
        );
        assert_eq!(exp - nbf, 600);
        assert_eq!(claims["iat"], claims["nbf"]);
        let jti = claims["jti"].as_str().unwrap();
        assert_eq!(jti.len(), 36);
        // A fresh id every time.
        let again = certificate.assertion(CLIENT, TOKEN_URL, now()).unwrap();
        let again = jsonwebtoken::decode::<serde_json::Value>(&again, &key, &validation).unwrap();
        assert_ne!(again.claims["jti"].as_str().unwrap(), jti);

        // Another certificate's key does not verify it.
        let other = TestCertificate::valid(TestKey::Second);
        let other = DecodingKey::from_rsa_pem(other.certificate_pem.as_bytes()).unwrap();
        assert!(jsonwebtoken::decode::<serde_json::Value>(&jwt, &other, &validation).is_err());
        // Its Debug output holds no key material.
        let debug = format!("{certificate:?}");
        assert!(debug.contains(&certificate.thumbprint()) && !debug.contains("PRIVATE"));
    }

    #[test]
    fn key_and_certificate_in_either_order_pkcs1_or_pkcs8_and_a_chain() {
        let test = TestCertificate::valid(TestKey::First);
        let other = TestCertificate::valid(TestKey::Second);
        let pkcs1 = TestKey::First.pkcs1_pem().unwrap();
        let expected = hex::encode_upper(Sha1::digest(der_of(&test.certificate_pem)));
        for pem_text in [
            test.pem(),
            format!("{}{}", test.certificate_pem, test.key_pem),
            format!("{pkcs1}{}", test.certificate_pem),
            // A chain: the leaf is the one matching the key, wherever it is.
            format!(
                "{}{}{}",
                other.certificate_pem, test.key_pem, test.certificate_pem
            ),
            format!("Bag Attributes\n{}\n{}", test.certificate_pem, test.key_pem),
        ] {
            let certificate = ClientCertificate::from_pem(&pem_text, now()).unwrap();
            assert_eq!(certificate.thumbprint(), expected);
        }
    }

    #[test]
    fn every_unusable_pem_is_refused_with_what_to_do() {
        let test = TestCertificate::valid(TestKey::First);
        let other = TestCertificate::valid(TestKey::Second);
        let refused = |text: &str| ClientCertificate::from_pem(text, now()).unwrap_err();

        assert_eq!(refused(&test.certificate_pem), CertificateError::NoKey);
        assert_eq!(refused(&test.key_pem), CertificateError::NoCertificate);
        assert!(matches!(refused("hello"), CertificateError::NotPem(_)));
        let pkcs12 = "MIIKcQIBAzCCCi0GCSqGSIb3DQEHAaCCCh4EggoaMIIKFjCCBg8GCSqGSIb3DQEHAaCCBgAEggX8MIIF+DCCBfQ";
        let CertificateError::NotPem(why) = refused(pkcs12) else {
            panic!("a PKCS#12 blob is not PEM")
        };
        assert!(why.contains("PKCS#12"), "{why}");
        let mismatch = refused(&format!("{}{}", test.key_pem, other.certificate_pem));
        assert_eq!(mismatch, CertificateError::KeyMismatch(String::new()));
        assert!(mismatch.to_string().contains("does not belong"));
        assert_eq!(
            refused(&format!(
                "{}{}{}",
                test.key_pem, other.key_pem, test.certificate_pem
            )),
            CertificateError::SeveralKeys(2)
        );
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert_eq!(
            refused(&format!("{encrypted}{}", test.certificate_pem)),
            CertificateError::EncryptedKey
        );

        // An EC key, PKCS#8 and SEC1.
        let ec = rcgen::KeyPair::generate().unwrap();
        let ec_cert = rcgen::CertificateParams::new(vec!["x".to_string()])
            .unwrap()
            .self_signed(&ec)
            .unwrap();
        let not_rsa = refused(&format!("{}{}", ec.serialize_pem(), ec_cert.pem()));
        assert_eq!(not_rsa, CertificateError::NotRsa("an EC key".into()));
        assert!(not_rsa.to_string().contains("rsa:2048"), "{not_rsa}");
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert!(matches!(refused(sec1), CertificateError::NotRsa(_)));

        // Expired, and not valid yet.
        let expired = dated(TestKey::First, -400, -1);
        let err = refused(&expired.pem());
        assert!(matches!(err, CertificateError::Expired { .. }), "{err}");
        assert!(err.to_string().contains("expired on"), "{err}");
        let future = dated(TestKey::First, 2, 400);
        assert!(matches!(
            refused(&future.pem()),
            CertificateError::NotYetValid { .. }
        ));
    }

    #[test]
    fn a_certificate_expiring_within_30_days_says_so() {
        let soon = dated(TestKey::First, -10, 20);
        let certificate = ClientCertificate::from_pem(&soon.pem(), now()).unwrap();
        assert!(certificate.expires_within(EXPIRY_WARNING, now()));
        let later = dated(TestKey::First, -10, 40);
        let certificate = ClientCertificate::from_pem(&later.pem(), now()).unwrap();
        assert!(!certificate.expires_within(EXPIRY_WARNING, now()));
    }
}
