//! The storage account, from the settings a Function App already has for
//! its own storage:
//!
//! - `AzureWebJobsStorage` as a connection string: an account key (signed
//!   into short-lived account SAS tokens, see `sas`), a
//!   `SharedAccessSignature`, or `UseDevelopmentStorage=true` (Azurite on
//!   its default port);
//! - `AzureWebJobsStorage__blobServiceUri` or
//!   `AzureWebJobsStorage__accountName`, the identity-based form Functions
//!   uses with a managed identity: requests carry an Entra ID token of
//!   [`crate::azure::AzureIdentity`].
//!
//! The same account's Queue service carries cycle requests when the
//! deployment scales out (`crate::scale`): its endpoint comes from the same
//! settings (`QueueEndpoint`, Azurite's queue port, `<account>.queue.<suffix>`,
//! or `AzureWebJobsStorage__queueServiceUri`), and the same SAS or identity
//! authorizes it.
//!
//! Clients are made per request with a shared HTTP transport, so that a
//! fresh SAS can be attached when the previous one nears its expiry.

use super::sas::AccountKey;
use crate::azure::AzureIdentity;
use crate::settings::SettingsSource;
use anyhow::{Context as _, bail};
use azure_core::credentials::TokenCredential;
use azure_core::http::{
    ClientOptions, ExponentialRetryOptions, HttpClientOptions, RetryOptions, Transport, Url,
    new_http_client,
};
use azure_storage_blob::{
    BlobClient, BlobClientOptions, BlobContainerClient, BlobContainerClientOptions,
};
use azure_storage_queue::{QueueClient, QueueClientOptions};
use chrono::Utc;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The connection-string setting.
pub const CONNECTION_SETTING: &str = "AzureWebJobsStorage";
/// The identity-based settings, as Functions names them.
pub const ACCOUNT_NAME_SETTING: &str = "AzureWebJobsStorage__accountName";
/// See [`ACCOUNT_NAME_SETTING`].
pub const SERVICE_URI_SETTING: &str = "AzureWebJobsStorage__blobServiceUri";
/// The identity-based Queue endpoint setting, as Functions names it.
pub const QUEUE_SERVICE_URI_SETTING: &str = "AzureWebJobsStorage__queueServiceUri";

/// Azurite's published development account and key.
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// How long a signed SAS is valid, and when a new one is signed.
const SAS_LIFETIME: chrono::Duration = chrono::Duration::hours(2);
const SAS_RENEW_AFTER: chrono::Duration = chrono::Duration::hours(1);

/// A storage account's Blob service and how requests to it are authorized.
pub struct BlobAccount {
    /// The Blob service endpoint, ending in `/`.
    endpoint: Url,
    /// The same account's Queue service endpoint, ending in `/`, when the
    /// settings give or imply one.
    queue_endpoint: Option<Url>,
    auth: Auth,
    transport: Transport,
    /// Which setting configured it, for messages.
    setting: &'static str,
}

enum Auth {
    /// An account key: account SAS tokens signed here, re-signed hourly.
    Key {
        key: Box<AccountKey>,
        current: Mutex<Option<(String, chrono::DateTime<Utc>)>>,
    },
    /// A SAS given in the connection string, used as is.
    Sas(String),
    /// Entra ID tokens.
    Token(Arc<dyn TokenCredential>),
}

impl std::fmt::Debug for BlobAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match &self.auth {
            Auth::Key { .. } => "account key",
            Auth::Sas(_) => "shared access signature",
            Auth::Token(_) => "Entra ID identity",
        };
        write!(
            f,
            "BlobAccount({} with {auth}, from {})",
            self.endpoint, self.setting
        )
    }
}

impl BlobAccount {
    /// The account the settings name, or `None` when none of
    /// `AzureWebJobsStorage`, `AzureWebJobsStorage__blobServiceUri` and
    /// `AzureWebJobsStorage__accountName` is set.
    pub fn from_settings(settings: &SettingsSource) -> anyhow::Result<Option<Self>> {
        if let Some(text) = settings.get(CONNECTION_SETTING) {
            return Self::from_connection_string(&text).map(Some);
        }
        let endpoint = if let Some(uri) = settings.get(SERVICE_URI_SETTING) {
            let url = Url::parse(uri.trim()).ok().filter(|u| u.scheme() == "https").with_context(|| {
                format!("{SERVICE_URI_SETTING} = `{uri}` is not an https URL; give the Blob endpoint, e.g. https://<account>.blob.core.windows.net")
            })?;
            (uri, url)
        } else if let Some(name) = settings.get(ACCOUNT_NAME_SETTING) {
            let name = name.trim().to_string();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            {
                bail!(
                    "{ACCOUNT_NAME_SETTING} = `{name}` is not a storage account name (3-24 lowercase letters and digits)"
                );
            }
            let uri = format!("https://{name}.blob.core.windows.net");
            (uri.clone(), Url::parse(&uri)?)
        } else {
            return Ok(None);
        };
        let queue_endpoint = match settings.get(QUEUE_SERVICE_URI_SETTING) {
            Some(uri) => Some(Url::parse(uri.trim()).ok().filter(|u| u.scheme() == "https").with_context(|| {
                format!("{QUEUE_SERVICE_URI_SETTING} = `{uri}` is not an https URL; give the Queue endpoint, e.g. https://<account>.queue.core.windows.net")
            })?),
            None => queue_from_blob(&endpoint.1),
        };
        let credential = AzureIdentity::from_settings(settings).credential()?;
        Ok(Some(Self {
            queue_endpoint: queue_endpoint.map(with_slash),
            endpoint: with_slash(endpoint.1),
            auth: Auth::Token(credential),
            transport: transport(),
            setting: if settings.get(SERVICE_URI_SETTING).is_some() {
                SERVICE_URI_SETTING
            } else {
                ACCOUNT_NAME_SETTING
            },
        }))
    }

    /// The account of an `AzureWebJobsStorage` connection string. The error
    /// names the setting and what is missing, never the key.
    pub fn from_connection_string(text: &str) -> anyhow::Result<Self> {
        let fail = |what: &str| {
            anyhow::anyhow!(
                "{CONNECTION_SETTING} is not a usable storage connection string: {what}. Copy it from the storage account's Access keys, \
                 use `UseDevelopmentStorage=true` for Azurite, or set {ACCOUNT_NAME_SETTING} instead to use the app's identity"
            )
        };
        let parts: BTreeMap<String, String> = text
            .split(';')
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .ok_or_else(|| fail("each part must be Name=Value"))
            })
            .collect::<anyhow::Result<_>>()?;
        let get = |name: &str| {
            parts
                .get(&name.to_ascii_lowercase())
                .filter(|v| !v.is_empty())
        };
        let development =
            get("UseDevelopmentStorage").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let (account, key) = if development {
            (DEV_ACCOUNT.to_string(), Some(DEV_KEY.to_string()))
        } else {
            (
                get("AccountName").cloned().unwrap_or_default(),
                get("AccountKey").cloned(),
            )
        };
        let endpoint = match get("BlobEndpoint") {
            Some(url) => Url::parse(url).map_err(|_| fail("BlobEndpoint is not a URL"))?,
            None if development => Url::parse("http://127.0.0.1:10000/devstoreaccount1")?,
            None => {
                if account.is_empty() {
                    return Err(fail("it has neither AccountName nor BlobEndpoint"));
                }
                let protocol = get("DefaultEndpointsProtocol").map_or("https", |p| p.as_str());
                let suffix = get("EndpointSuffix").map_or("core.windows.net", |s| s.as_str());
                Url::parse(&format!("{protocol}://{account}.blob.{suffix}")).map_err(|_| {
                    fail(
                        "AccountName, DefaultEndpointsProtocol or EndpointSuffix do not make a URL",
                    )
                })?
            }
        };
        if !matches!(endpoint.scheme(), "https" | "http") {
            return Err(fail("the Blob endpoint must be http(s)"));
        }
        let queue_endpoint = match get("QueueEndpoint") {
            Some(url) => Some(Url::parse(url).map_err(|_| fail("QueueEndpoint is not a URL"))?),
            None if development => Some(Url::parse("http://127.0.0.1:10001/devstoreaccount1")?),
            None if !account.is_empty() => {
                let protocol = get("DefaultEndpointsProtocol").map_or("https", |p| p.as_str());
                let suffix = get("EndpointSuffix").map_or("core.windows.net", |s| s.as_str());
                Url::parse(&format!("{protocol}://{account}.queue.{suffix}")).ok()
            }
            None => queue_from_blob(&endpoint),
        };
        let auth = if let Some(sas) = get("SharedAccessSignature") {
            Auth::Sas(sas.trim_start_matches('?').to_string())
        } else {
            let key =
                key.ok_or_else(|| fail("it has no AccountKey and no SharedAccessSignature"))?;
            if account.is_empty() {
                return Err(fail("an AccountKey needs its AccountName"));
            }
            Auth::Key {
                key: Box::new(AccountKey::new(&account, &key).map_err(|e| fail(&e))?),
                current: Mutex::new(None),
            }
        };
        Ok(Self {
            endpoint: with_slash(endpoint),
            queue_endpoint: queue_endpoint.map(with_slash),
            auth,
            transport: transport(),
            setting: CONNECTION_SETTING,
        })
    }

    /// The Blob endpoint (no secrets), for messages.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The Queue service endpoint (no secrets), when known.
    pub fn queue_endpoint(&self) -> Option<&Url> {
        self.queue_endpoint.as_ref()
    }

    /// A client for queue `name` of this account's Queue service; an error
    /// naming the setting to add when the settings imply no Queue endpoint.
    pub fn queue_client(&self, name: &str) -> azure_core::Result<QueueClient> {
        let Some(base) = &self.queue_endpoint else {
            return Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Other,
                format!(
                    "{} gives no Queue endpoint for this storage account: add QueueEndpoint=<url> to the connection string, or set {QUEUE_SERVICE_URI_SETTING}",
                    self.setting
                ),
            ));
        };
        let url = self.signed(base, name)?;
        QueueClient::new(
            url,
            self.credential(),
            Some(QueueClientOptions {
                client_options: self.client_options(),
                ..Default::default()
            }),
        )
    }

    /// The setting this account came from.
    pub fn setting(&self) -> &'static str {
        self.setting
    }

    /// Whether requests carry Entra ID tokens (a `403` then means a missing
    /// role rather than a wrong key).
    pub fn uses_identity(&self) -> bool {
        matches!(self.auth, Auth::Token(_))
    }

    /// A client for blob `name` in `container` (`name` may contain `/`).
    pub fn blob_client(&self, container: &str, name: &str) -> azure_core::Result<BlobClient> {
        let url = self.url(&format!("{container}/{name}"))?;
        BlobClient::new(
            url,
            self.credential(),
            Some(BlobClientOptions {
                client_options: self.client_options(),
                ..Default::default()
            }),
        )
    }

    /// A client for `container`.
    pub fn container_client(&self, container: &str) -> azure_core::Result<BlobContainerClient> {
        let url = self.url(container)?;
        BlobContainerClient::new(
            url,
            self.credential(),
            Some(BlobContainerClientOptions {
                client_options: self.client_options(),
                ..Default::default()
            }),
        )
    }

    /// The shared transport, and retries that give up within 15 seconds:
    /// a checkpoint save that cannot land soon fails its cycle (the next
    /// cycle redoes the work), and a wrong endpoint fails the start quickly.
    fn client_options(&self) -> ClientOptions {
        ClientOptions {
            transport: Some(self.transport.clone()),
            retry: RetryOptions::exponential(ExponentialRetryOptions {
                initial_delay: azure_core::time::Duration::milliseconds(200),
                max_retries: 4,
                max_total_elapsed: azure_core::time::Duration::seconds(15),
                max_delay: azure_core::time::Duration::seconds(4),
            }),
            ..Default::default()
        }
    }

    fn credential(&self) -> Option<Arc<dyn TokenCredential>> {
        match &self.auth {
            Auth::Token(credential) => Some(credential.clone()),
            _ => None,
        }
    }

    fn url(&self, path: &str) -> azure_core::Result<Url> {
        self.signed(&self.endpoint, path)
    }

    /// `path` under `base`, with the SAS when requests carry one.
    fn signed(&self, base: &Url, path: &str) -> azure_core::Result<Url> {
        let mut url = base.join(path).map_err(|e| {
            azure_core::Error::with_message(
                azure_core::error::ErrorKind::DataConversion,
                format!("`{path}` is not a valid blob or queue path: {e}"),
            )
        })?;
        match &self.auth {
            Auth::Key { key, current } => {
                let now = Utc::now();
                let mut current = current.lock().unwrap_or_else(|e| e.into_inner());
                let fresh = current
                    .as_ref()
                    .filter(|(_, signed)| now - *signed < SAS_RENEW_AFTER)
                    .map(|(sas, _)| sas.clone());
                let sas = fresh.unwrap_or_else(|| {
                    let sas = key.sign(now, now + SAS_LIFETIME, self.endpoint.scheme() == "https");
                    *current = Some((sas.clone(), now));
                    sas
                });
                url.set_query(Some(&sas));
            }
            Auth::Sas(sas) => url.set_query(Some(sas)),
            Auth::Token(_) => {}
        }
        Ok(url)
    }
}

/// `https://<account>.queue.<suffix>` for `https://<account>.blob.<suffix>`;
/// `None` for any other shape (a custom domain, Azurite by port).
fn queue_from_blob(blob: &Url) -> Option<Url> {
    let host = blob.host_str()?;
    let (account, rest) = host.split_once(".blob.")?;
    let mut url = blob.clone();
    url.set_host(Some(&format!("{account}.queue.{rest}")))
        .ok()?;
    url.set_path("/");
    Some(url)
}

fn with_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

fn transport() -> Transport {
    Transport::new(new_http_client(Some(HttpClientOptions {
        automatic_decompression: false,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_of_azure_and_azurite() {
        let azure = BlobAccount::from_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=a2V5;EndpointSuffix=core.windows.net",
        )
        .unwrap();
        assert_eq!(
            azure.endpoint().as_str(),
            "https://acct1.blob.core.windows.net/"
        );
        let url = azure.url("c/audit/t/checkpoint.json").unwrap();
        assert_eq!(url.path(), "/c/audit/t/checkpoint.json");
        assert!(url.query().unwrap().contains("spr=https&"), "{url}");

        let dev = BlobAccount::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(
            dev.endpoint().as_str(),
            "http://127.0.0.1:10000/devstoreaccount1/"
        );
        let explicit = BlobAccount::from_connection_string(&format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};BlobEndpoint=http://127.0.0.1:4321/devstoreaccount1;"
        ))
        .unwrap();
        let url = explicit.url("o365-checkpoints/a").unwrap();
        assert_eq!(
            url.as_str().split('?').next().unwrap(),
            "http://127.0.0.1:4321/devstoreaccount1/o365-checkpoints/a"
        );
        assert!(url.query().unwrap().contains("spr=https%2Chttp"), "{url}");
        assert!(
            !format!("{explicit:?}").contains("Eby8"),
            "the key is never printed"
        );

        assert_eq!(
            azure.queue_endpoint().unwrap().as_str(),
            "https://acct1.queue.core.windows.net/"
        );
        assert_eq!(
            dev.queue_endpoint().unwrap().as_str(),
            "http://127.0.0.1:10001/devstoreaccount1/"
        );
        let with_queue = BlobAccount::from_connection_string(&format!(
            "AccountName=devstoreaccount1;AccountKey={DEV_KEY};BlobEndpoint=http://127.0.0.1:4321/devstoreaccount1;QueueEndpoint=http://127.0.0.1:4322/devstoreaccount1"
        ))
        .unwrap();
        let queue = with_queue.queue_client("o365-cycles").unwrap();
        assert_eq!(
            queue.url().as_str().split('?').next().unwrap(),
            "http://127.0.0.1:4322/devstoreaccount1/o365-cycles"
        );
        assert!(
            queue.url().query().unwrap().contains("ss=bq"),
            "one SAS serves queues too"
        );
        let sas = BlobAccount::from_connection_string(
            "BlobEndpoint=https://acct1.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&sig=abc",
        )
        .unwrap();
        assert_eq!(
            sas.url("c/b").unwrap().query(),
            Some("sv=2022-11-02&sig=abc")
        );
    }

    #[test]
    fn bad_connection_strings_name_the_setting_and_the_fix() {
        for (text, says) in [
            ("AccountName=acct1", "no AccountKey"),
            ("AccountName=acct1;AccountKey=!!", "not base64"),
            ("garbage", "Name=Value"),
            ("AccountKey=a2V5", "neither AccountName nor BlobEndpoint"),
            (
                "BlobEndpoint=ftp://x;AccountName=a;AccountKey=a2V5",
                "http(s)",
            ),
        ] {
            let err = BlobAccount::from_connection_string(text)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("AzureWebJobsStorage") && err.contains(says),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn identity_settings_and_their_errors() {
        let none = SettingsSource::from_pairs(&[]);
        assert!(BlobAccount::from_settings(&none).unwrap().is_none());
        let named = SettingsSource::from_pairs(&[(ACCOUNT_NAME_SETTING, "acct1")]);
        let account = BlobAccount::from_settings(&named).unwrap().unwrap();
        assert!(account.uses_identity());
        assert_eq!(
            account.endpoint().as_str(),
            "https://acct1.blob.core.windows.net/"
        );
        assert_eq!(
            account.url("c/b").unwrap().query(),
            None,
            "no SAS with a token"
        );
        assert_eq!(
            account.queue_endpoint().unwrap().as_str(),
            "https://acct1.queue.core.windows.net/"
        );
        let blob_uri = SettingsSource::from_pairs(&[(
            SERVICE_URI_SETTING,
            "https://acct2.blob.core.usgovcloudapi.net",
        )]);
        let account = BlobAccount::from_settings(&blob_uri).unwrap().unwrap();
        assert_eq!(
            account.queue_endpoint().unwrap().as_str(),
            "https://acct2.queue.core.usgovcloudapi.net/"
        );
        let custom =
            SettingsSource::from_pairs(&[(SERVICE_URI_SETTING, "https://blobs.example.com")]);
        let account = BlobAccount::from_settings(&custom).unwrap().unwrap();
        let err = account.queue_client("q").err().unwrap().to_string();
        assert!(err.contains(QUEUE_SERVICE_URI_SETTING), "{err}");
        let bad = SettingsSource::from_pairs(&[(ACCOUNT_NAME_SETTING, "Acct_1")]);
        let err = BlobAccount::from_settings(&bad).unwrap_err().to_string();
        assert!(err.contains(ACCOUNT_NAME_SETTING), "{err}");
        let plain = SettingsSource::from_pairs(&[(SERVICE_URI_SETTING, "http://x")]);
        let err = BlobAccount::from_settings(&plain).unwrap_err().to_string();
        assert!(err.contains("https"), "{err}");
    }
}
