//! The storage a registry sits on: a few verbs over paths, so that a local
//! directory and a Blob container behave alike (conditional writes, ETags
//! for cheap polling).

use super::RegistryError;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What a read found.
#[derive(Debug)]
pub enum Fetched {
    /// The file, with its ETag.
    Found {
        /// Its contents.
        bytes: Vec<u8>,
        /// Its ETag, for the next conditional read or write.
        etag: String,
    },
    /// It still has the ETag the read gave (a conditional read).
    NotModified,
    /// There is no such file.
    Missing,
}

/// The condition a write holds to.
#[derive(Clone, Debug)]
pub enum Expect {
    /// The file must not exist yet.
    Absent,
    /// The file must still have this ETag.
    Etag(String),
}

/// Files by path (`name/version.wasm`), with ETags.
#[async_trait::async_trait]
pub trait RegistryStore: Send + Sync {
    /// Where the registry is, for messages (no secrets).
    fn location(&self) -> String;

    /// Reads `path`; with `if_none_match`, `NotModified` when its ETag is
    /// still that.
    async fn get(&self, path: &str, if_none_match: Option<&str>) -> Result<Fetched, RegistryError>;

    /// Writes `bytes` to `path` if `expect` holds, else
    /// [`RegistryError::Conflict`]; without `expect`, unconditionally.
    /// Returns the new ETag.
    async fn put(
        &self,
        path: &str,
        bytes: Vec<u8>,
        expect: Option<Expect>,
    ) -> Result<String, RegistryError>;

    /// Removes `path` if it is still at `etag`; a missing file is fine.
    async fn delete(&self, path: &str, etag: Option<&str>) -> Result<(), RegistryError>;

    /// The paths under `prefix` (which ends in `/` or is empty), with their
    /// ETags, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<(String, String)>, RegistryError>;
}

/// A registry in a local directory (the default): for one machine, a
/// container image, or tests. Writes are write-then-rename, so a reader
/// never sees half a file; a conditional write compares the ETag (a digest
/// of the contents) just before the rename, which is enough for an
/// operator's commands on one machine, not for racing writers.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A registry rooted at `root` (created on the first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn file(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    fn io(&self, path: &str, action: &str, e: std::io::Error) -> RegistryError {
        RegistryError::Storage {
            location: self.location(),
            message: format!("{action} {path}: {e}"),
        }
    }
}

/// The ETag of local contents: a digest, so equal contents compare equal
/// across processes and restarts.
fn local_etag(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..12])
}

#[async_trait::async_trait]
impl RegistryStore for LocalStore {
    fn location(&self) -> String {
        format!("directory {}", self.root.display())
    }

    async fn get(&self, path: &str, if_none_match: Option<&str>) -> Result<Fetched, RegistryError> {
        match tokio::fs::read(self.file(path)).await {
            Ok(bytes) => {
                let etag = local_etag(&bytes);
                if if_none_match == Some(etag.as_str()) {
                    Ok(Fetched::NotModified)
                } else {
                    Ok(Fetched::Found { bytes, etag })
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Fetched::Missing),
            Err(e) => Err(self.io(path, "reading", e)),
        }
    }

    async fn put(
        &self,
        path: &str,
        bytes: Vec<u8>,
        expect: Option<Expect>,
    ) -> Result<String, RegistryError> {
        let file = self.file(path);
        if let Some(parent) = file.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| self.io(path, "creating the folder of", e))?;
        }
        if let Some(expect) = expect {
            let found = match self.get(path, None).await? {
                Fetched::Found { etag, .. } => Some(etag),
                _ => None,
            };
            let holds = match &expect {
                Expect::Absent => found.is_none(),
                Expect::Etag(etag) => found.as_deref() == Some(etag.as_str()),
            };
            if !holds {
                return Err(RegistryError::Conflict {
                    path: path.to_string(),
                });
            }
        }
        let etag = local_etag(&bytes);
        let tmp = tmp_name(&file);
        tokio::fs::write(&tmp, bytes)
            .await
            .map_err(|e| self.io(path, "writing", e))?;
        tokio::fs::rename(&tmp, &file)
            .await
            .map_err(|e| self.io(path, "renaming into place", e))?;
        Ok(etag)
    }

    async fn delete(&self, path: &str, etag: Option<&str>) -> Result<(), RegistryError> {
        if let Some(etag) = etag {
            match self.get(path, None).await? {
                Fetched::Found { etag: found, .. } if found != etag => {
                    return Err(RegistryError::Conflict {
                        path: path.to_string(),
                    });
                }
                _ => {}
            }
        }
        match tokio::fs::remove_file(self.file(path)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(path, "removing", e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, String)>, RegistryError> {
        let root = self.root.clone();
        let prefix = prefix.to_string();
        let location = self.location();
        tokio::task::spawn_blocking(move || walk(&root, &prefix))
            .await
            .map_err(|e| RegistryError::Storage {
                location: location.clone(),
                message: format!("listing: {e}"),
            })?
            .map_err(|e| RegistryError::Storage {
                location,
                message: format!("listing: {e}"),
            })
    }
}

fn tmp_name(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    file.with_file_name(name)
}

/// A write in progress (`<file>.tmp<pid>`).
fn is_tmp(path: &str) -> bool {
    path.rsplit_once(".tmp")
        .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Every file under `root/prefix`, as paths relative to `root` with `/`.
fn walk(root: &Path, prefix: &str) -> std::io::Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    let mut pending = vec![root.join(prefix)];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let relative = relative.to_string_lossy().replace('\\', "/");
            if is_tmp(&relative) {
                continue;
            }
            let bytes = std::fs::read(&path)?;
            found.push((relative, local_etag(&bytes)));
        }
    }
    found.sort();
    Ok(found)
}
