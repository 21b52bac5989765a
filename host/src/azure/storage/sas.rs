//! Account shared access signatures, signed with the account key.
//!
//! `azure_storage_blob` 1.1 authorizes with Entra ID tokens only; a
//! connection string with an account key (Azurite's, or a deployment that
//! has not moved to managed identity yet) is turned into a short-lived
//! account SAS instead, signed here with HMAC-SHA256 as the storage service
//! specifies, and appended to every request URL. The key itself never
//! leaves this module and is never logged.

use chrono::{DateTime, SecondsFormat, Utc};
use ring::hmac;

/// The SAS version signed (the string-to-sign below is this version's).
const SAS_VERSION: &str = "2022-11-02";
/// Read, write, delete, list, add, create (checkpoints), update and
/// process (cycle requests on queues, `crate::scale`).
const PERMISSIONS: &str = "rwdlacup";
/// The services signed for: Blob (checkpoints) and Queue (cycle requests).
const SERVICES: &str = "bq";

/// Signs account SAS tokens for one storage account.
pub(super) struct AccountKey {
    account: String,
    key: hmac::Key,
}

impl std::fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccountKey({}, [redacted])", self.account)
    }
}

impl AccountKey {
    /// The key of `account`, as the connection string's base64 `AccountKey`.
    pub(super) fn new(account: &str, base64_key: &str) -> Result<Self, String> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(base64_key.trim())
            .map_err(|_| {
                "AccountKey is not base64 (copy it from the storage account's Access keys)"
                    .to_string()
            })?;
        Ok(Self {
            account: account.to_string(),
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
        })
    }

    /// An account SAS query string (without `?`) for Blob and Queue service, container
    /// and object operations, valid from five minutes before `now` (clock
    /// skew) until `expiry`; `https_only` unless the endpoint is plain http
    /// (Azurite).
    pub(super) fn sign(
        &self,
        now: DateTime<Utc>,
        expiry: DateTime<Utc>,
        https_only: bool,
    ) -> String {
        let start = (now - chrono::Duration::minutes(5)).to_rfc3339_opts(SecondsFormat::Secs, true);
        let expiry = expiry.to_rfc3339_opts(SecondsFormat::Secs, true);
        let protocol = if https_only { "https" } else { "https,http" };
        // Account SAS, version 2020-12-06 and later: account, permissions,
        // services, resource types, start, expiry, IP, protocol, version,
        // encryption scope, each followed by a newline.
        let to_sign = format!(
            "{}\n{PERMISSIONS}\n{SERVICES}\nsco\n{start}\n{expiry}\n\n{protocol}\n{SAS_VERSION}\n\n",
            self.account
        );
        let signature = hmac::sign(&self.key, to_sign.as_bytes());
        use base64::Engine as _;
        let signature = base64::engine::general_purpose::STANDARD.encode(signature.as_ref());
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("sv", SAS_VERSION)
            .append_pair("ss", SERVICES)
            .append_pair("srt", "sco")
            .append_pair("sp", PERMISSIONS)
            .append_pair("st", &start)
            .append_pair("se", &expiry)
            .append_pair("spr", protocol)
            .append_pair("sig", &signature)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_documented_string_with_the_decoded_key() {
        // Azurite's published development key.
        let key = AccountKey::new(
            "devstoreaccount1",
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
        )
        .unwrap();
        let now = DateTime::parse_from_rfc3339("2026-11-28T12:05:00Z")
            .unwrap()
            .to_utc();
        let sas = key.sign(now, now + chrono::Duration::hours(1), false);
        let pairs: std::collections::BTreeMap<String, String> =
            url::form_urlencoded::parse(sas.as_bytes())
                .into_owned()
                .collect();
        assert_eq!(pairs["st"], "2026-11-28T12:00:00Z");
        assert_eq!(pairs["se"], "2026-11-28T13:05:00Z");
        assert_eq!(pairs["spr"], "https,http");
        // The signature is HMAC-SHA256 over the string-to-sign, independently
        // computed here with the key bytes.
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")
            .unwrap();
        let expected = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &raw),
            b"devstoreaccount1\nrwdlacup\nbq\nsco\n2026-11-28T12:00:00Z\n2026-11-28T13:05:00Z\n\nhttps,http\n2022-11-02\n\n",
        );
        assert_eq!(
            pairs["sig"],
            base64::engine::general_purpose::STANDARD.encode(expected.as_ref())
        );
        assert!(
            !format!("{key:?}").contains("Eby8"),
            "the key is never printed"
        );
        assert!(AccountKey::new("a", "not base64!").is_err());
    }
}
