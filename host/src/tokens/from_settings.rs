//! Which credential the operator's settings name, and the provider built
//! from it. Exactly one of a client secret, a local certificate file or a
//! certificate in Key Vault; two at once is a mistake worth stopping for,
//! since the host could only guess which one the operator meant.

use super::{
    CertificateCredential, ClientCredentials, ClientCredentialsOptions, NoTokens, Secret,
    StaticToken, TokenProvider,
};
use crate::azure::{AzureIdentity, client_options};
use crate::grants::Cloud;
use crate::secrets::file::PATH_SETTING;
use crate::secrets::keyvault::{NAME_SETTING, VAULT_SETTING};
use crate::secrets::{KeyVaultSecret, PemFile, PemSource, vault_url};
use crate::settings::SettingsSource;
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::Arc;

/// Setting: a fixed bearer token for every request (testing).
pub const STATIC_TOKEN_SETTING: &str = "O365_STATIC_TOKEN";
/// Setting: the app (client) id.
pub const CLIENT_ID_SETTING: &str = "ENTRA_APP_CLIENT_ID";
/// Setting: the app's client secret.
pub const SECRET_SETTING: &str = "ENTRA_APP_CLIENT_SECRET";
/// Setting: the Entra ID authority host (default: the cloud's).
pub const AUTHORITY_SETTING: &str = "ENTRA_AUTHORITY_HOST";

/// The settings that name the app and its credential (everything but a
/// fixed token).
pub const APP_CREDENTIAL_SETTINGS: [&str; 5] = [
    CLIENT_ID_SETTING,
    SECRET_SETTING,
    PATH_SETTING,
    VAULT_SETTING,
    NAME_SETTING,
];

/// How the app proves who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `ENTRA_APP_CLIENT_SECRET`.
    Secret(Secret),
    /// `ENTRA_APP_CLIENT_CERTIFICATE_PATH`: a local PEM.
    CertificateFile(PathBuf),
    /// `ENTRA_APP_CLIENT_CERTIFICATE_KEYVAULT_NAME` and
    /// `ENTRA_APP_CLIENT_CERTIFICATE_NAME`: a PEM in a Key Vault secret.
    KeyVault {
        /// `https://<name>.<the cloud's vault suffix>`, or the URL given.
        vault_url: String,
        /// The secret's name.
        secret_name: String,
    },
}

/// The credential settings, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialSettings {
    /// A fixed token (testing); never together with an app credential.
    pub static_token: Option<Secret>,
    /// The app and its credential; `None` when no credential is set.
    pub app: Option<(String, Credential)>,
    /// The Entra ID authority host.
    pub authority: String,
}

/// Credential settings that cannot work as given: the setting to fix and
/// what is wrong with it. Shown as `<setting> <problem>`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{setting} {problem}")]
pub struct CredentialSettingsError {
    /// The setting to fix, as the host reads it (`config check` adds a
    /// tenant's prefix).
    pub setting: &'static str,
    /// What is wrong and how to fix it.
    pub problem: String,
}

impl CredentialSettingsError {
    fn new(setting: &'static str, problem: impl Into<String>) -> Self {
        Self {
            setting,
            problem: problem.into(),
        }
    }
}

impl CredentialSettings {
    /// Reads the settings for a tenant in `cloud`: at most one way to get
    /// tokens (a fixed token, a client secret, a certificate file, or a
    /// certificate in Key Vault), given completely. No way at all is not an
    /// error here (requests then go without a token, as to a simulator);
    /// `config check` requires one for a deployment.
    ///
    /// This is the one place the rule lives: `config check` reports what
    /// this says, and the start builds its token provider from it.
    pub fn from_settings(
        settings: &SettingsSource,
        cloud: Cloud,
    ) -> Result<Self, CredentialSettingsError> {
        let authority = settings
            .get(AUTHORITY_SETTING)
            .map(|a| a.trim().trim_end_matches('/').to_string())
            .unwrap_or_else(|| cloud.endpoints().entra_authority.to_string());
        let static_token = settings.get(STATIC_TOKEN_SETTING).map(Secret::new);
        let secret = settings.get(SECRET_SETTING);
        let path = settings.get(PATH_SETTING);
        let (vault, name) = (settings.get(VAULT_SETTING), settings.get(NAME_SETTING));
        let given: Vec<&'static str> = [
            (STATIC_TOKEN_SETTING, static_token.is_some()),
            (SECRET_SETTING, secret.is_some()),
            (PATH_SETTING, path.is_some()),
            // The Key Vault way, named by the half of it that is set.
            (
                if vault.is_some() {
                    VAULT_SETTING
                } else {
                    NAME_SETTING
                },
                vault.is_some() || name.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(setting, set)| set.then_some(setting))
        .collect();
        if let [first, others @ ..] = given.as_slice()
            && !others.is_empty()
        {
            return Err(CredentialSettingsError::new(
                first,
                format!(
                    "and {} are both set: keep exactly one way to get tokens",
                    others.join(" and ")
                ),
            ));
        }
        let credential = match (secret, path, vault, name) {
            (Some(secret), ..) => Some(Credential::Secret(Secret::new(secret))),
            (_, Some(path), ..) => Some(Credential::CertificateFile(PathBuf::from(path))),
            (_, _, Some(vault), Some(name)) => Some(Credential::KeyVault {
                vault_url: vault_url(&vault, cloud).map_err(|message| {
                    let problem = message
                        .strip_prefix(VAULT_SETTING)
                        .map_or(message.as_str(), str::trim_start);
                    CredentialSettingsError::new(VAULT_SETTING, problem)
                })?,
                secret_name: name.trim().to_string(),
            }),
            (_, _, Some(_), None) => {
                return Err(CredentialSettingsError::new(
                    NAME_SETTING,
                    format!(
                        "is not set but {VAULT_SETTING} is: name the Key Vault secret that \
                         holds the app's certificate PEM"
                    ),
                ));
            }
            (_, _, None, Some(_)) => {
                return Err(CredentialSettingsError::new(
                    VAULT_SETTING,
                    format!(
                        "is not set but {NAME_SETTING} is: name the Key Vault (or give its \
                         https:// URL) that holds the secret"
                    ),
                ));
            }
            (None, None, None, None) => None,
        };
        let client_id = settings.get(CLIENT_ID_SETTING);
        let app = match (client_id, credential) {
            (Some(id), Some(credential)) => Some((id.trim().to_string(), credential)),
            (None, Some(_)) => {
                return Err(CredentialSettingsError::new(
                    CLIENT_ID_SETTING,
                    format!(
                        "is not set but {} is: give the app registration's application \
                         (client) id",
                        given[0]
                    ),
                ));
            }
            (Some(_), None) if static_token.is_none() => {
                return Err(CredentialSettingsError::new(
                    CLIENT_ID_SETTING,
                    format!(
                        "is set but no credential: set {SECRET_SETTING}, or {PATH_SETTING}, \
                         or {VAULT_SETTING} and {NAME_SETTING} (a certificate PEM in Key Vault)"
                    ),
                ));
            }
            (_, None) => None,
        };
        Ok(Self {
            static_token,
            app,
            authority,
        })
    }
}

/// The token provider the settings describe, for a tenant in `cloud`.
/// Token requests go through `http`; Key Vault is reached with the host's
/// Azure identity over a transport that trusts `extra_ca_pems` too. A
/// certificate is read and checked here, so a wrong one stops the start.
pub async fn provider_from_settings(
    settings: &SettingsSource,
    cloud: Cloud,
    http: reqwest::Client,
    extra_ca_pems: &[String],
) -> anyhow::Result<Arc<dyn TokenProvider>> {
    let chosen = CredentialSettings::from_settings(settings, cloud)?;
    if let Some(token) = chosen.static_token {
        return Ok(Arc::new(StaticToken::new(token.expose())));
    }
    let Some((client_id, credential)) = chosen.app else {
        return Ok(Arc::new(NoTokens));
    };
    let mut options = match credential {
        Credential::Secret(secret) => {
            tracing::info!(client_id = %client_id, "the app authenticates with a client secret");
            ClientCredentialsOptions::with_secret(client_id, secret)
        }
        Credential::CertificateFile(path) => {
            let source: Arc<dyn PemSource> = Arc::new(PemFile::new(path));
            certificate_options(client_id, source).await?
        }
        Credential::KeyVault {
            vault_url,
            secret_name,
        } => {
            let identity = AzureIdentity::from_settings(settings);
            let credential = identity.credential().with_context(|| {
                format!("reading the app's certificate from Key Vault ({VAULT_SETTING})")
            })?;
            let source = KeyVaultSecret::new(
                &vault_url,
                &secret_name,
                credential,
                client_options(extra_ca_pems)?,
            )
            .map_err(anyhow::Error::msg)?;
            tracing::debug!(vault = %vault_url, secret = %secret_name, identity = ?identity, "reading the app's certificate from Key Vault");
            certificate_options(client_id, Arc::new(source)).await?
        }
    };
    options.authority = chosen.authority;
    Ok(Arc::new(ClientCredentials::new(options, http)))
}

async fn certificate_options(
    client_id: String,
    source: Arc<dyn PemSource>,
) -> anyhow::Result<ClientCredentialsOptions> {
    let credential = CertificateCredential::load(source)
        .await
        .map_err(|e| anyhow::anyhow!("the app's certificate cannot be used: {e}"))?;
    let certificate = credential.current().await;
    tracing::info!(
        client_id = %client_id,
        thumbprint = %certificate.thumbprint(),
        expires = %certificate.not_after_text(),
        origin = %credential.origin(),
        "the app authenticates with its certificate"
    );
    Ok(ClientCredentialsOptions::with_certificate(
        client_id,
        Arc::new(credential),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use o365_simulator::{TestCertificate, TestKey};

    fn read(pairs: &[(&str, &str)], cloud: Cloud) -> Result<CredentialSettings, String> {
        CredentialSettings::from_settings(&SettingsSource::from_pairs(pairs), cloud)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn exactly_one_credential_and_two_are_named_together() {
        let app = (CLIENT_ID_SETTING, "app");
        let ok = read(&[app, (SECRET_SETTING, "s")], Cloud::Public).unwrap();
        assert_eq!(
            ok.app,
            Some(("app".into(), Credential::Secret(Secret::new("s"))))
        );
        let ok = read(&[app, (PATH_SETTING, "/etc/app.pem")], Cloud::Public).unwrap();
        assert_eq!(
            ok.app,
            Some((
                "app".into(),
                Credential::CertificateFile("/etc/app.pem".into())
            ))
        );
        let err = read(
            &[app, (SECRET_SETTING, "s"), (PATH_SETTING, "/etc/app.pem")],
            Cloud::Public,
        )
        .unwrap_err();
        assert!(
            err.contains("ENTRA_APP_CLIENT_SECRET and ENTRA_APP_CLIENT_CERTIFICATE_PATH"),
            "{err}"
        );
        let err = read(
            &[
                app,
                (SECRET_SETTING, "s"),
                (VAULT_SETTING, "kv"),
                (NAME_SETTING, "c"),
            ],
            Cloud::Public,
        )
        .unwrap_err();
        assert!(
            err.contains("ENTRA_APP_CLIENT_SECRET and ENTRA_APP_CLIENT_CERTIFICATE_KEYVAULT_NAME"),
            "{err}"
        );
        let err = read(&[app, (VAULT_SETTING, "kv")], Cloud::Public).unwrap_err();
        assert!(
            err.contains("ENTRA_APP_CLIENT_CERTIFICATE_NAME is not"),
            "{err}"
        );
        let err = read(&[app, (NAME_SETTING, "c")], Cloud::Public).unwrap_err();
        assert!(
            err.contains("ENTRA_APP_CLIENT_CERTIFICATE_KEYVAULT_NAME is not"),
            "{err}"
        );
        let err = read(&[app], Cloud::Public).unwrap_err();
        assert!(err.contains("no credential"), "{err}");
        let err = read(&[(SECRET_SETTING, "s")], Cloud::Public).unwrap_err();
        assert!(err.contains("ENTRA_APP_CLIENT_ID is not"), "{err}");
        let err = read(
            &[app, (VAULT_SETTING, "-bad--name"), (NAME_SETTING, "c")],
            Cloud::Public,
        )
        .unwrap_err();
        assert!(err.contains("not a Key Vault name"), "{err}");
        let err = read(
            &[
                app,
                (VAULT_SETTING, "http://vault.local"),
                (NAME_SETTING, "c"),
            ],
            Cloud::Public,
        )
        .unwrap_err();
        assert!(err.contains("https only"), "{err}");
        assert_eq!(read(&[], Cloud::Public).unwrap().app, None);
    }

    #[test]
    fn a_fixed_token_is_one_way_too() {
        let err = read(
            &[
                (STATIC_TOKEN_SETTING, "t"),
                (CLIENT_ID_SETTING, "app"),
                (SECRET_SETTING, "s"),
            ],
            Cloud::Public,
        )
        .unwrap_err();
        assert_eq!(
            err,
            "O365_STATIC_TOKEN and ENTRA_APP_CLIENT_SECRET are both set: keep exactly one way to get tokens"
        );
        let err = read(
            &[(STATIC_TOKEN_SETTING, "t"), (NAME_SETTING, "app-cert")],
            Cloud::Public,
        )
        .unwrap_err();
        assert!(
            err.starts_with("O365_STATIC_TOKEN and ENTRA_APP_CLIENT_CERTIFICATE_NAME are both set"),
            "{err}"
        );
        let alone = read(&[(STATIC_TOKEN_SETTING, "t")], Cloud::Public).unwrap();
        assert!(alone.static_token.is_some() && alone.app.is_none());
    }

    #[test]
    fn every_cloud_picks_its_authority_vault_suffix_and_scopes() {
        let expected = [
            (
                Cloud::Public,
                "https://login.microsoftonline.com",
                "https://kv-app.vault.azure.net",
            ),
            (
                Cloud::GccHigh,
                "https://login.microsoftonline.us",
                "https://kv-app.vault.usgovcloudapi.net",
            ),
            (
                Cloud::Dod,
                "https://login.microsoftonline.us",
                "https://kv-app.vault.usgovcloudapi.net",
            ),
            (
                Cloud::China,
                "https://login.chinacloudapi.cn",
                "https://kv-app.vault.azure.cn",
            ),
        ];
        assert_eq!(expected.len(), Cloud::all().len());
        let pem = TestCertificate::valid(TestKey::First).pem();
        let certificate =
            crate::tokens::ClientCertificate::from_pem(&pem, std::time::SystemTime::now()).unwrap();
        for (cloud, authority, vault) in expected {
            let chosen = read(
                &[
                    (CLIENT_ID_SETTING, "app"),
                    (VAULT_SETTING, "kv-app"),
                    (NAME_SETTING, "app-cert"),
                ],
                cloud,
            )
            .unwrap();
            assert_eq!(chosen.authority, authority, "{cloud:?}");
            let Some((
                _,
                Credential::KeyVault {
                    vault_url,
                    secret_name,
                },
            )) = chosen.app
            else {
                panic!("{cloud:?}: a Key Vault credential")
            };
            assert_eq!(
                (vault_url.as_str(), secret_name.as_str()),
                (vault, "app-cert")
            );

            // The assertion's audience is this cloud's token endpoint.
            let mut options = ClientCredentialsOptions::with_secret("app", Secret::new("x"));
            options.authority = chosen.authority.clone();
            let token_url = options.token_url("contoso");
            assert!(token_url.starts_with(authority));
            let jwt = certificate
                .assertion("app", &token_url, std::time::SystemTime::now())
                .unwrap();
            let claims: serde_json::Value = {
                use base64::Engine as _;
                let part = jwt.split('.').nth(1).unwrap();
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(part)
                    .unwrap();
                serde_json::from_slice(&bytes).unwrap()
            };
            assert_eq!(claims["aud"], token_url.as_str());

            // Scopes are the cloud's own API hosts.
            let endpoints = cloud.endpoints();
            let scope = crate::tokens::scope_for(endpoints.management_api);
            assert_eq!(scope, format!("{}/.default", endpoints.management_api));
            assert!(
                !matches!(cloud, Cloud::Public) || scope == "https://manage.office.com/.default"
            );
        }
        // A full URL is kept as given (a private endpoint's name, a simulator).
        let chosen = read(
            &[
                (CLIENT_ID_SETTING, "app"),
                (VAULT_SETTING, "https://localhost:8443/"),
                (NAME_SETTING, "app-cert"),
                (AUTHORITY_SETTING, "https://localhost:8443/"),
            ],
            Cloud::GccHigh,
        )
        .unwrap();
        assert_eq!(chosen.authority, "https://localhost:8443");
        assert!(
            matches!(chosen.app, Some((_, Credential::KeyVault { ref vault_url, .. })) if vault_url == "https://localhost:8443")
        );
    }
}
