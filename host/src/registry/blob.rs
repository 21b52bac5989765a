//! A registry in a Blob container (`components` by default) of the storage
//! account that holds the checkpoints: what a Function App reads and the
//! post-deploy hook writes. The account and its authorization are the
//! checkpoint store's ([`BlobAccount`]): a managed identity needs "Storage
//! Blob Data Contributor" there, which it already has for checkpoints.

use super::RegistryError;
use super::store::{Expect, Fetched, RegistryStore};
use crate::azure::storage::{self, BlobAccount, Service};
use azure_core::http::{Etag, StatusCode};
use azure_storage_blob::models::{
    BlobClientDeleteOptions, BlobClientDownloadOptions, BlobContainerClientListBlobsOptions,
    BlockBlobClientUploadOptions,
};
use futures::TryStreamExt as _;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The default container.
pub const DEFAULT_CONTAINER: &str = "components";

/// A registry in a Blob container.
pub struct BlobRegistry {
    account: Arc<BlobAccount>,
    container: String,
    created: OnceCell<()>,
}

impl BlobRegistry {
    /// The registry in `container` of `account`.
    pub fn new(account: Arc<BlobAccount>, container: &str) -> Self {
        Self {
            account,
            container: container.to_string(),
            created: OnceCell::new(),
        }
    }

    fn fail(&self, action: String, e: azure_core::Error) -> RegistryError {
        RegistryError::Storage {
            location: self.location(),
            message: format!(
                "{action}: {}",
                storage::explain(&self.account, Service::Blob, &e)
            ),
        }
    }

    /// Creates the container once, before the first write.
    async fn ensure_container(&self) -> Result<(), RegistryError> {
        self.created
            .get_or_try_init(|| async {
                let client = self
                    .account
                    .container_client(&self.container)
                    .map_err(|e| self.fail("addressing the container".into(), e))?;
                match client.create(None).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.http_status() == Some(StatusCode::Conflict) => Ok(()),
                    Err(e) => Err(self.fail("creating the container".into(), e)),
                }
            })
            .await
            .map(|_| ())
    }
}

fn etag_text(etag: Option<&Etag>) -> String {
    etag.map(|e| e.to_string()).unwrap_or_default()
}

#[async_trait::async_trait]
impl RegistryStore for BlobRegistry {
    fn location(&self) -> String {
        format!(
            "container {} of {}",
            self.container,
            self.account.endpoint()
        )
    }

    async fn get(&self, path: &str, if_none_match: Option<&str>) -> Result<Fetched, RegistryError> {
        let client = self
            .account
            .blob_client(&self.container, path)
            .map_err(|e| self.fail(format!("addressing {path}"), e))?;
        let options = BlobClientDownloadOptions {
            if_none_match: if_none_match.map(|e| Etag::from(e.to_string())),
            ..Default::default()
        };
        let response = match client.download(Some(options)).await {
            Ok(response) => response,
            Err(e) => {
                return match e.http_status() {
                    Some(StatusCode::NotFound) => Ok(Fetched::Missing),
                    Some(StatusCode::NotModified) => Ok(Fetched::NotModified),
                    _ => Err(self.fail(format!("reading {path}"), e)),
                };
            }
        };
        let etag = etag_text(response.properties.etag.as_ref());
        let bytes = response
            .body
            .collect()
            .await
            .map_err(|e| self.fail(format!("reading {path}"), e))?;
        Ok(Fetched::Found {
            bytes: bytes.to_vec(),
            etag,
        })
    }

    async fn put(
        &self,
        path: &str,
        bytes: Vec<u8>,
        expect: Option<Expect>,
    ) -> Result<String, RegistryError> {
        self.ensure_container().await?;
        let client = self
            .account
            .blob_client(&self.container, path)
            .map_err(|e| self.fail(format!("addressing {path}"), e))?;
        let content_type = if path.ends_with(".wasm") {
            "application/wasm"
        } else {
            "application/json"
        };
        let options = BlockBlobClientUploadOptions {
            if_match: match &expect {
                Some(Expect::Etag(etag)) => Some(Etag::from(etag.clone())),
                _ => None,
            },
            if_none_match: match &expect {
                Some(Expect::Absent) => Some(Etag::from("*")),
                _ => None,
            },
            blob_content_type: Some(content_type.into()),
            ..Default::default()
        };
        match client
            .upload(bytes::Bytes::from(bytes).into(), Some(options))
            .await
        {
            Ok(written) => Ok(etag_text(written.etag.as_ref())),
            Err(e)
                if matches!(
                    e.http_status(),
                    Some(StatusCode::PreconditionFailed | StatusCode::Conflict)
                ) =>
            {
                Err(RegistryError::Conflict {
                    path: path.to_string(),
                })
            }
            Err(e) => Err(self.fail(format!("writing {path}"), e)),
        }
    }

    async fn delete(&self, path: &str, etag: Option<&str>) -> Result<(), RegistryError> {
        let client = self
            .account
            .blob_client(&self.container, path)
            .map_err(|e| self.fail(format!("addressing {path}"), e))?;
        let options = BlobClientDeleteOptions {
            if_match: etag.map(|e| Etag::from(e.to_string())),
            ..Default::default()
        };
        match client.delete(Some(options)).await {
            Ok(_) => Ok(()),
            Err(e) if storage::not_found(&e) => Ok(()),
            Err(e) if e.http_status() == Some(StatusCode::PreconditionFailed) => {
                Err(RegistryError::Conflict {
                    path: path.to_string(),
                })
            }
            Err(e) => Err(self.fail(format!("removing {path}"), e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, String)>, RegistryError> {
        let client = self
            .account
            .container_client(&self.container)
            .map_err(|e| self.fail("addressing the container".into(), e))?;
        let options = BlobContainerClientListBlobsOptions {
            prefix: (!prefix.is_empty()).then(|| prefix.to_string()),
            ..Default::default()
        };
        let mut pages = client
            .list_blobs(Some(options))
            .map_err(|e| self.fail(format!("listing {prefix}"), e))?
            .into_pages();
        let mut found = Vec::new();
        loop {
            let page = match pages.try_next().await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(e) if storage::not_found(&e) => break,
                Err(e) => return Err(self.fail(format!("listing {prefix}"), e)),
            };
            let page = page
                .into_model()
                .map_err(|e| self.fail(format!("listing {prefix}"), e))?;
            for item in page.blob_items {
                let Some(name) = item.name else {
                    continue;
                };
                let etag = item
                    .properties
                    .and_then(|p| p.etag)
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                found.push((name, etag));
            }
        }
        found.sort();
        Ok(found)
    }
}
