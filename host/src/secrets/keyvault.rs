//! The certificate PEM from a Key Vault secret, as the JavaScript version
//! stored it: vault `ENTRA_APP_CLIENT_CERTIFICATE_KEYVAULT_NAME`, secret
//! `ENTRA_APP_CLIENT_CERTIFICATE_NAME`, read with the host's Azure identity
//! (managed identity on Azure, the developer's sign-in elsewhere).
//!
//! The vault is named as the old version named it (`kv-contoso`, which
//! becomes `https://kv-contoso.vault.azure.net`, or the sovereign cloud's
//! suffix), or as a full `https://` URL (a private endpoint's DNS name, a
//! simulator).

use super::{PemSource, SecretError};
use crate::grants::Cloud;
use crate::tokens::Secret;
use azure_core::credentials::TokenCredential;
use azure_core::http::ClientOptions;
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use std::sync::Arc;

/// Setting: the vault holding the certificate PEM.
pub const VAULT_SETTING: &str = "ENTRA_APP_CLIENT_CERTIFICATE_KEYVAULT_NAME";
/// Setting: the secret holding the certificate PEM.
pub const NAME_SETTING: &str = "ENTRA_APP_CLIENT_CERTIFICATE_NAME";

/// The vault URL for a vault name (in `cloud`) or a full `https://` URL.
pub fn vault_url(vault: &str, cloud: Cloud) -> Result<String, String> {
    let vault = vault.trim();
    if vault.starts_with("http://") {
        return Err(format!(
            "{VAULT_SETTING} = `{vault}`: Key Vault is reached over https only"
        ));
    }
    if vault.starts_with("https://") {
        let url = url::Url::parse(vault)
            .map_err(|e| format!("{VAULT_SETTING} = `{vault}` is not a URL: {e}"))?;
        return Ok(url.as_str().trim_end_matches('/').to_string());
    }
    let valid = (3..=24).contains(&vault.len())
        && vault.starts_with(|c: char| c.is_ascii_alphabetic())
        && vault.ends_with(|c: char| c.is_ascii_alphanumeric())
        && vault.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !vault.contains("--");
    if !valid {
        return Err(format!(
            "{VAULT_SETTING} = `{vault}` is not a Key Vault name (3 to 24 letters, digits and \
             single hyphens, starting with a letter) nor an https:// URL"
        ));
    }
    Ok(format!(
        "https://{vault}.{}",
        cloud.endpoints().key_vault_suffix
    ))
}

/// One secret in one vault.
pub struct KeyVaultSecret {
    client: SecretClient,
    vault_url: String,
    name: String,
}

impl KeyVaultSecret {
    /// Reads secret `name` from the vault at `vault_url` with `credential`;
    /// `client_options` carries the transport (extra trusted CAs).
    ///
    /// The SDK checks that the vault's authentication challenge names a
    /// resource whose host the vault's host ends with; that holds for every
    /// real vault (`*.vault.azure.net`, `*.vault.usgovcloudapi.net`,
    /// `*.vault.azure.cn`) and is relaxed only for a URL on another host
    /// (a simulator), which the operator chose explicitly.
    pub fn new(
        vault_url: &str,
        name: &str,
        credential: Arc<dyn TokenCredential>,
        client_options: ClientOptions,
    ) -> Result<Self, String> {
        let name = name.trim();
        let valid = !name.is_empty()
            && name.len() <= 127
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid {
            return Err(format!(
                "{NAME_SETTING} = `{name}` is not a Key Vault secret name (1 to 127 letters, \
                 digits and hyphens)"
            ));
        }
        let host = url::Url::parse(vault_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        let real_vault = Cloud::all()
            .iter()
            .any(|c| host.ends_with(&format!(".{}", c.endpoints().key_vault_suffix)));
        let options = SecretClientOptions {
            client_options,
            verify_challenge_resource: Some(real_vault),
            ..Default::default()
        };
        let client = SecretClient::new(vault_url, credential, Some(options))
            .map_err(|e| format!("{VAULT_SETTING}: Key Vault client for {vault_url}: {e}"))?;
        Ok(Self {
            client,
            vault_url: vault_url.to_string(),
            name: name.to_string(),
        })
    }
}

#[async_trait::async_trait]
impl PemSource for KeyVaultSecret {
    async fn load(&self) -> Result<Secret, SecretError> {
        let fail = |message: String| SecretError {
            origin: self.origin(),
            message,
        };
        let response = self
            .client
            .get_secret(&self.name, None)
            .await
            .map_err(|e| {
                let hint = match e.http_status().map(u16::from) {
                    Some(401) | Some(403) => {
                        " — give the host's identity (the Function App's managed identity, or \
                     your `az login` account locally) the role `Key Vault Secrets User` on \
                     the vault"
                    }
                    Some(404) => " — check the secret name and the vault",
                    _ => "",
                };
                fail(format!("cannot be read: {e}{hint}"))
            })?;
        let secret = response
            .into_model()
            .map_err(|e| fail(format!("unreadable answer: {e}")))?;
        let value = secret
            .value
            .ok_or_else(|| fail("the secret has no value".into()))?;
        Ok(Secret::new(value))
    }

    fn origin(&self) -> String {
        format!(
            "Key Vault secret `{}` in {} ({NAME_SETTING}, {VAULT_SETTING})",
            self.name, self.vault_url
        )
    }
}
