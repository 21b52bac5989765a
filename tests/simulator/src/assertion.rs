//! Verification of certificate client assertions (RFC 7523 JWTs) the way
//! Entra ID checks them: the `x5t` / `x5t#S256` header names the registered
//! certificate, the RS256 signature verifies with its public key, and the
//! claims name the app (`iss` = `sub` = client id), the token endpoint (`aud`)
//! and a valid time range.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Why an assertion was refused: the AADSTS message (with its number).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Refused(pub(crate) String);

#[derive(Deserialize)]
struct Claims {
    jti: Option<String>,
}

/// Base64url SHA-1 and SHA-256 thumbprints of a DER certificate.
pub(crate) fn thumbprints(der: &[u8]) -> (String, String) {
    (
        URL_SAFE_NO_PAD.encode(Sha1::digest(der)),
        URL_SAFE_NO_PAD.encode(Sha256::digest(der)),
    )
}

/// Checks `assertion` for `client_id`, whose registered certificate is `certificate_pem`.
pub(crate) fn verify(
    assertion: &str,
    client_id: &str,
    certificate_pem: Option<&str>,
    audiences: &[String],
) -> Result<(), Refused> {
    let malformed = || Refused("AADSTS50027: JWT token is invalid or malformed.".into());
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| malformed())?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(Refused(format!(
            "AADSTS5002730: Invalid JWT token. Unsupported key for the signing algorithm {:?}.",
            header.alg
        )));
    }
    let presented = header
        .x5t
        .clone()
        .or(header.x5t_s256.clone())
        .unwrap_or_default();
    let key_not_found = || {
        Refused(format!(
            "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application. \
             [Reason - The key was not found., Thumbprint of key used by client: '{presented}']"
        ))
    };
    let pem = certificate_pem.ok_or_else(key_not_found)?;
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|_| key_not_found())?;
    let (sha1, sha256) = thumbprints(&der);
    let matches = header.x5t.as_deref() == Some(sha1.as_str())
        || header.x5t_s256.as_deref() == Some(sha256.as_str());
    if !matches {
        return Err(key_not_found());
    }
    let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| key_not_found())?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(audiences);
    validation.set_issuer(&[client_id]);
    validation.sub = Some(client_id.to_string());
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.validate_nbf = true;
    let claims = jsonwebtoken::decode::<Claims>(assertion, &key, &validation).map_err(|e| match e.kind() {
        ErrorKind::InvalidSignature => {
            Refused("AADSTS7000274: Key was found, but use of the key to verify the signature failed.".into())
        }
        ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => {
            Refused("AADSTS700024: Client assertion is not within its valid time range.".into())
        }
        ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject => {
            Refused("AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter.".into())
        }
        ErrorKind::InvalidAudience => Refused(format!(
            "AADSTS700212: Client assertion audience claim does not match Realm issuer. Expected one of {audiences:?}."
        )),
        ErrorKind::MissingRequiredClaim(claim) => {
            Refused(format!("AADSTS50027: JWT token is invalid or malformed. Missing claim '{claim}'."))
        }
        _ => malformed(),
    })?;
    if claims.claims.jti.as_deref().unwrap_or("").is_empty() {
        return Err(Refused(
            "AADSTS50027: JWT token is invalid or malformed. Missing claim 'jti'.".into(),
        ));
    }
    Ok(())
}
