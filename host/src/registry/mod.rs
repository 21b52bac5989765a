//! The component registry: versions of each component, and pointers saying
//! which version runs, so that an operator ships a fix (or rolls it back)
//! without redeploying the host.
//!
//! Two backends behind [`RegistryStore`]: a local directory (the default)
//! and a Blob container of the deployment's storage account. The layout
//! (`layout`) is the same in both. This module keeps the registry's own
//! rules (versions are immutable, a pointer names a digest, a promote or
//! rollback is a conditional write); checking that a file is a connector of
//! this host's contract and within its grant needs the runtime and the
//! settings, and is done by the callers (`o365-host component`, and the
//! running host in [`follow`]).

mod blob;
pub mod follow;
pub mod layout;
mod select;
mod store;

pub use blob::{BlobRegistry, DEFAULT_CONTAINER};
pub use layout::{Manifest, Pointer};
pub use select::{REGISTRY_SETTING, RegistryChoice, registry_from_settings};
pub use store::{Expect, Fetched, LocalStore, RegistryStore};

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What went wrong in the registry; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A name, version or tenant that cannot name a file.
    #[error("`{value}` is not a valid {what}: {rule}")]
    BadName {
        /// What it was meant to be.
        what: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        rule: &'static str,
    },
    /// The storage failed.
    #[error("component registry ({location}): {message}")]
    Storage {
        /// Where the registry is.
        location: String,
        /// What failed and how to fix it.
        message: String,
    },
    /// A file in the registry is not what it should be.
    #[error(
        "component registry: {path} is damaged: {message}; publish or promote again to rewrite it"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A conditional write lost a race.
    #[error(
        "component registry: {path} changed while this command ran (another operator or deployment); run it again"
    )]
    Conflict {
        /// The file.
        path: String,
    },
    /// No component of that name was ever published.
    #[error(
        "no component named `{name}` in the registry (it has: {known}); `o365-host component publish FILE.wasm` adds one"
    )]
    UnknownName {
        /// The name asked for.
        name: String,
        /// The names it has.
        known: String,
    },
    /// That version was never published.
    #[error(
        "`{name}` has no version `{version}` in the registry (it has: {known}); publish it first"
    )]
    UnknownVersion {
        /// The component.
        name: String,
        /// The version asked for.
        version: String,
        /// The versions it has.
        known: String,
    },
    /// A file's digest is not the one its manifest or pointer names.
    #[error(
        "{path} has sha256 {found}, but {expected_by} names {expected}: the file was replaced or damaged; publish that version again under a new version number"
    )]
    DigestMismatch {
        /// The file.
        path: String,
        /// What names the expected digest (the manifest, the pointer).
        expected_by: String,
        /// The expected digest.
        expected: String,
        /// The file's digest.
        found: String,
    },
    /// The version exists with other contents: versions are immutable.
    #[error(
        "`{name}` version `{version}` is already published with sha256 {existing}, and this file is {new}: versions are immutable; bump the version (Cargo.toml `version`) and publish again"
    )]
    VersionExists {
        /// The component.
        name: String,
        /// The version.
        version: String,
        /// The digest already published.
        existing: String,
        /// The digest of the file given.
        new: String,
    },
    /// A rollback with nothing before the current version.
    #[error(
        "`{name}`{scope} has no earlier version to roll back to; promote the version you want instead"
    )]
    NothingToRollBack {
        /// The component.
        name: String,
        /// ` for tenant T`, or empty.
        scope: String,
    },
}

/// What a component says of itself, as `publish` records it.
#[derive(Clone, Debug)]
pub struct Described {
    /// Its name (`describe`).
    pub name: String,
    /// Its version (`describe`).
    pub version: String,
    /// The contract version it exports.
    pub contract: String,
    /// Its one-line summary.
    pub summary: String,
}

/// The outcome of `publish`.
#[derive(Debug)]
pub struct Published {
    /// The manifest stored.
    pub manifest: Manifest,
    /// The same bytes were already published under this version.
    pub already: bool,
}

/// The outcome of `rollback`.
#[derive(Debug)]
pub enum RolledBack {
    /// The pointer is back at this version.
    To(Pointer),
    /// The tenant's pointer held its first version: it is removed, and the
    /// tenant follows `current.json` (or the host's setting) again.
    TenantPointerRemoved,
}

/// One component's entry in `list`.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listing {
    /// The component.
    pub name: String,
    /// Its versions, oldest first by publication.
    pub versions: Vec<Manifest>,
    /// The pointer everyone follows.
    pub current: Option<Pointer>,
    /// Per-tenant pointers, by tenant.
    pub tenants: BTreeMap<String, Pointer>,
}

/// sha256 of `bytes`, hex.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A registry on one backend.
#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn RegistryStore>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Registry({})", self.store.location())
    }
}

impl Registry {
    /// A registry on `store`.
    pub fn new(store: Arc<dyn RegistryStore>) -> Self {
        Self { store }
    }

    /// A registry in a local directory.
    pub fn local(dir: impl Into<std::path::PathBuf>) -> Self {
        Self::new(Arc::new(LocalStore::new(dir)))
    }

    /// Where it is, for messages.
    pub fn location(&self) -> String {
        self.store.location()
    }

    /// The backend.
    pub fn store(&self) -> &Arc<dyn RegistryStore> {
        &self.store
    }

    /// Stores `wasm` as `described.version` of `described.name`: the
    /// component first, then its manifest, so a manifest always has its
    /// file. Publishing the same bytes again is a no-op; other bytes under
    /// a published version are refused.
    pub async fn publish(
        &self,
        wasm: &[u8],
        described: &Described,
    ) -> Result<Published, RegistryError> {
        layout::check_name(&described.name)?;
        layout::check_version(&described.version)?;
        let sha256 = digest(wasm);
        let (name, version) = (&described.name, &described.version);
        if let Some(existing) = self.find_manifest(name, version).await? {
            if existing.sha256 == sha256 {
                return Ok(Published {
                    manifest: existing,
                    already: true,
                });
            }
            return Err(RegistryError::VersionExists {
                name: name.clone(),
                version: version.clone(),
                existing: existing.sha256,
                new: sha256,
            });
        }
        let manifest = Manifest {
            name: name.clone(),
            version: version.clone(),
            sha256,
            contract: described.contract.clone(),
            bytes: wasm.len() as u64,
            published_at: now(),
            summary: described.summary.clone(),
        };
        let wasm_path = layout::wasm_path(name, version);
        match self
            .store
            .put(&wasm_path, wasm.to_vec(), Some(Expect::Absent))
            .await
        {
            Ok(_) => {}
            // A publish that died between the file and its manifest: the
            // file is there, and it is ours if its digest matches.
            Err(RegistryError::Conflict { .. }) => {
                let (bytes, _) = self.read_required(&wasm_path).await?;
                let found = digest(&bytes);
                if found != manifest.sha256 {
                    return Err(RegistryError::VersionExists {
                        name: name.clone(),
                        version: version.clone(),
                        existing: found,
                        new: manifest.sha256,
                    });
                }
            }
            Err(e) => return Err(e),
        }
        self.store
            .put(
                &layout::manifest_path(name, version),
                manifest.to_bytes(),
                Some(Expect::Absent),
            )
            .await?;
        Ok(Published {
            manifest,
            already: false,
        })
    }

    async fn read_required(&self, path: &str) -> Result<(Vec<u8>, String), RegistryError> {
        match self.store.get(path, None).await? {
            Fetched::Found { bytes, etag } => Ok((bytes, etag)),
            _ => Err(RegistryError::Corrupt {
                path: path.to_string(),
                message: "it is missing".into(),
            }),
        }
    }

    async fn find_manifest(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        let path = layout::manifest_path(name, version);
        match self.store.get(&path, None).await? {
            Fetched::Found { bytes, .. } => Manifest::parse(&path, &bytes).map(Some),
            _ => Ok(None),
        }
    }

    /// The manifest of `version` of `name`, or an error listing what
    /// exists.
    pub async fn manifest(&self, name: &str, version: &str) -> Result<Manifest, RegistryError> {
        layout::check_name(name)?;
        layout::check_version(version)?;
        if let Some(manifest) = self.find_manifest(name, version).await? {
            return Ok(manifest);
        }
        let versions = self.versions(name).await?;
        if versions.is_empty() {
            return Err(self.unknown_name(name).await);
        }
        Err(RegistryError::UnknownVersion {
            name: name.to_string(),
            version: version.to_string(),
            known: versions
                .iter()
                .map(|m| m.version.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    async fn unknown_name(&self, name: &str) -> RegistryError {
        let known = match self.names().await {
            Ok(names) if names.is_empty() => "nothing yet".to_string(),
            Ok(names) => names.join(", "),
            Err(e) => format!("unknown: {e}"),
        };
        RegistryError::UnknownName {
            name: name.to_string(),
            known,
        }
    }

    /// The component of `version` of `name` with its manifest, its digest
    /// checked against the manifest and, if given, against `expected` (a
    /// pointer's).
    pub async fn download(
        &self,
        name: &str,
        version: &str,
        expected: Option<(&str, &str)>,
    ) -> Result<(Manifest, Vec<u8>), RegistryError> {
        let manifest = self.manifest(name, version).await?;
        let path = layout::wasm_path(name, version);
        let (bytes, _) = self.read_required(&path).await?;
        let found = digest(&bytes);
        if found != manifest.sha256 {
            return Err(RegistryError::DigestMismatch {
                path,
                expected_by: layout::manifest_path(name, version),
                expected: manifest.sha256,
                found,
            });
        }
        if let Some((expected_by, sha256)) = expected
            && found != sha256
        {
            return Err(RegistryError::DigestMismatch {
                path,
                expected_by: expected_by.to_string(),
                expected: sha256.to_string(),
                found,
            });
        }
        Ok((manifest, bytes))
    }

    /// The pointer of `name` for `tenant` (or everyone), with its ETag.
    pub async fn pointer(
        &self,
        name: &str,
        tenant: Option<&str>,
    ) -> Result<Option<(Pointer, String)>, RegistryError> {
        let path = layout::pointer_path(name, tenant);
        match self.store.get(&path, None).await? {
            Fetched::Found { bytes, etag } => Ok(Some((Pointer::parse(&path, &bytes)?, etag))),
            _ => Ok(None),
        }
    }

    /// Points `tenant` (or everyone) at `manifest`'s version; the previous
    /// version is remembered for `rollback`. The caller has checked that
    /// the version runs on this host (`o365-host component promote`).
    pub async fn promote(
        &self,
        manifest: &Manifest,
        tenant: Option<&str>,
    ) -> Result<Pointer, RegistryError> {
        if let Some(tenant) = tenant {
            layout::check_tenant(tenant)?;
        }
        let path = layout::pointer_path(&manifest.name, tenant);
        let previous = self.pointer(&manifest.name, tenant).await?;
        let expect = match &previous {
            Some((_, etag)) => Expect::Etag(etag.clone()),
            None => Expect::Absent,
        };
        let pointer = Pointer::moved_to(previous.map(|(p, _)| p), manifest, &now());
        self.store
            .put(&path, pointer.to_bytes(), Some(expect))
            .await?;
        Ok(pointer)
    }

    /// Moves `tenant`'s (or everyone's) pointer back to the version it held
    /// before.
    pub async fn rollback(
        &self,
        name: &str,
        tenant: Option<&str>,
    ) -> Result<RolledBack, RegistryError> {
        layout::check_name(name)?;
        if let Some(tenant) = tenant {
            layout::check_tenant(tenant)?;
        }
        let scope = tenant
            .map(|t| format!(" for tenant {t}"))
            .unwrap_or_default();
        let path = layout::pointer_path(name, tenant);
        let Some((pointer, etag)) = self.pointer(name, tenant).await? else {
            if tenant.is_none() && self.versions(name).await?.is_empty() {
                return Err(self.unknown_name(name).await);
            }
            return Err(RegistryError::NothingToRollBack {
                name: name.to_string(),
                scope,
            });
        };
        match pointer.rolled_back() {
            Some(back) => {
                self.store
                    .put(&path, back.to_bytes(), Some(Expect::Etag(etag)))
                    .await?;
                Ok(RolledBack::To(back))
            }
            None if tenant.is_some() => {
                self.store.delete(&path, Some(&etag)).await?;
                Ok(RolledBack::TenantPointerRemoved)
            }
            None => Err(RegistryError::NothingToRollBack {
                name: name.to_string(),
                scope,
            }),
        }
    }

    /// The names with at least one version.
    pub async fn names(&self) -> Result<Vec<String>, RegistryError> {
        let mut names: Vec<String> = self
            .store
            .list("")
            .await?
            .into_iter()
            .filter_map(|(path, _)| {
                let (name, rest) = path.split_once('/')?;
                (rest.ends_with(".wasm") && !rest.contains('/')).then(|| name.to_string())
            })
            .collect();
        names.dedup();
        Ok(names)
    }

    /// The published versions of `name`, by publication time.
    pub async fn versions(&self, name: &str) -> Result<Vec<Manifest>, RegistryError> {
        let mut versions = Vec::new();
        for (path, _) in self.store.list(&format!("{name}/")).await? {
            let Some(file) = path.strip_prefix(&format!("{name}/")) else {
                continue;
            };
            if file.contains('/') || !file.ends_with(".json") || file == "current.json" {
                continue;
            }
            if let Fetched::Found { bytes, .. } = self.store.get(&path, None).await? {
                versions.push(Manifest::parse(&path, &bytes)?);
            }
        }
        versions.sort_by(|a, b| {
            a.published_at
                .cmp(&b.published_at)
                .then(a.version.cmp(&b.version))
        });
        Ok(versions)
    }

    /// The tenants with their own pointer for `name`, with the pointers'
    /// ETags.
    pub async fn tenant_pointers(
        &self,
        name: &str,
    ) -> Result<Vec<(String, String)>, RegistryError> {
        let prefix = layout::tenant_pointers(name);
        Ok(self
            .store
            .list(&prefix)
            .await?
            .into_iter()
            .filter_map(|(path, etag)| {
                let tenant = path.strip_prefix(&prefix)?.strip_suffix(".json")?;
                Some((tenant.to_string(), etag))
            })
            .collect())
    }

    /// Everything in the registry, component by component.
    pub async fn list(&self) -> Result<Vec<Listing>, RegistryError> {
        let mut listings = Vec::new();
        for name in self.names().await? {
            let versions = self.versions(&name).await?;
            let current = self.pointer(&name, None).await?.map(|(p, _)| p);
            let mut tenants = BTreeMap::new();
            for (tenant, _) in self.tenant_pointers(&name).await? {
                if let Some((pointer, _)) = self.pointer(&name, Some(&tenant)).await? {
                    tenants.insert(tenant, pointer);
                }
            }
            listings.push(Listing {
                name,
                versions,
                current,
                tenants,
            });
        }
        Ok(listings)
    }
}
