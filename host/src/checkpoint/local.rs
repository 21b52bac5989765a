//! Checkpoints in a local directory: `<root>/<source>/<tenant>.json`.
//!
//! Writes are atomic (temporary file, fsync, rename, fsync of the
//! directory) and conditional: a short exclusive file lock guards the
//! compare-and-swap of the version. A second, longer lock (the lease) is held
//! for a whole cycle so that two processes never work on the same tenant and
//! source at once. Both locks are released by the OS if the process dies.

use super::{
    Checkpoint, CheckpointError, CheckpointStore, FORMAT, StoreFigures, StoreStats,
    legacy::LEGACY_BLOB,
};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A directory of checkpoints.
#[derive(Clone, Debug)]
pub struct LocalStore {
    root: PathBuf,
    stats: Arc<StoreStats>,
}

/// Exclusive right to run a cycle for one tenant and source; released on drop.
#[derive(Debug)]
pub struct LocalLease {
    _file: File,
}

impl LocalStore {
    /// A store rooted at `root` (created when first written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            stats: Arc::default(),
        }
    }

    /// What this store (and its clones) wrote and read so far.
    pub fn figures(&self) -> StoreFigures {
        self.stats.figures()
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn file(
        &self,
        source: &str,
        tenant: &str,
        extension: &str,
    ) -> Result<PathBuf, CheckpointError> {
        let safe = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && !s.starts_with('.')
        };
        if !safe(source) || !safe(tenant) {
            return Err(CheckpointError::Io {
                name: format!("{source}/{tenant}"),
                message: "tenant and source names may hold only letters, digits, `-`, `_` and `.`"
                    .into(),
            });
        }
        Ok(self.root.join(source).join(format!("{tenant}.{extension}")))
    }

    /// Takes the lease of `source` for `tenant`, or none if another process
    /// holds it.
    pub fn try_lease(
        &self,
        source: &str,
        tenant: &str,
    ) -> Result<Option<LocalLease>, CheckpointError> {
        let path = self.file(source, tenant, "lease")?;
        let file = open_lock_file(&path, source, tenant)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(LocalLease { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(io(source, tenant, &path, e)),
        }
    }

    /// The seed's checkpoint for a source, if present: the content of
    /// `<root>/<container>/last_successfull_fetch_on`.
    pub fn legacy_timestamp(&self, container: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(container).join(LEGACY_BLOB)).ok()
    }

    fn read(&self, path: &Path, name: &str) -> Result<Option<Checkpoint>, CheckpointError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(CheckpointError::Io {
                    name: name.into(),
                    message: format!("reading {}: {e}", path.display()),
                });
            }
        };
        self.stats.read(bytes.len() as u64);
        let checkpoint: Checkpoint =
            serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt {
                name: format!("{name} ({})", path.display()),
                message: e.to_string(),
            })?;
        if checkpoint.format != FORMAT {
            return Err(CheckpointError::Corrupt {
                name: name.into(),
                message: format!(
                    "format {} is not {FORMAT}; it was written by another version of the host",
                    checkpoint.format
                ),
            });
        }
        Ok(Some(checkpoint))
    }
}

fn io(source: &str, tenant: &str, path: &Path, e: std::io::Error) -> CheckpointError {
    CheckpointError::Io {
        name: format!("{source}/{tenant}"),
        message: format!("{}: {e}", path.display()),
    }
}

fn open_lock_file(path: &Path, source: &str, tenant: &str) -> Result<File, CheckpointError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(source, tenant, dir, e))?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| io(source, tenant, path, e))
}

impl CheckpointStore for LocalStore {
    fn load(&self, source: &str, tenant: &str) -> Result<Option<Checkpoint>, CheckpointError> {
        let path = self.file(source, tenant, "json")?;
        self.read(&path, &format!("{source}/{tenant}"))
    }

    fn save(
        &self,
        source: &str,
        tenant: &str,
        checkpoint: &mut Checkpoint,
    ) -> Result<(), CheckpointError> {
        let name = format!("{source}/{tenant}");
        let path = self.file(source, tenant, "json")?;
        let lock = open_lock_file(&self.file(source, tenant, "lock")?, source, tenant)?;
        lock.lock().map_err(|e| io(source, tenant, &path, e))?;

        let found = self.read(&path, &name)?.map(|c| c.version).unwrap_or(0);
        if found != checkpoint.version {
            return Err(CheckpointError::Conflict {
                name,
                expected: checkpoint.version,
                found,
            });
        }
        let mut next = checkpoint.clone();
        next.version += 1;
        next.format = FORMAT;
        let bytes = serde_json::to_vec(&next).map_err(|e| CheckpointError::Io {
            name: name.clone(),
            message: e.to_string(),
        })?;
        let tmp = path.with_extension(format!("json.tmp{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            if let Some(dir) = path.parent() {
                File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| io(source, tenant, &path, e))?;
        checkpoint.version = next.version;
        self.stats.saved(bytes.len() as u64, false);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_conditional_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        assert_eq!(store.load("audit", "t1").unwrap(), None);

        let mut mine = Checkpoint::starting_at(1000);
        store.save("audit", "t1", &mut mine).unwrap();
        assert_eq!(mine.version, 1);
        let mut theirs = store.load("audit", "t1").unwrap().unwrap();
        assert_eq!(theirs, mine);

        theirs.high_water_mark = 2000;
        store.save("audit", "t1", &mut theirs).unwrap();
        // `mine` is now stale: its write is refused and the stored one stays.
        mine.high_water_mark = 5000;
        let err = store.save("audit", "t1", &mut mine).unwrap_err();
        assert!(
            matches!(
                err,
                CheckpointError::Conflict {
                    expected: 1,
                    found: 2,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            store.load("audit", "t1").unwrap().unwrap().high_water_mark,
            2000
        );
    }

    #[test]
    fn a_second_lease_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let first = store.try_lease("audit", "t1").unwrap();
        assert!(first.is_some());
        assert!(store.try_lease("audit", "t1").unwrap().is_none());
        assert!(store.try_lease("audit", "t2").unwrap().is_some());
        drop(first);
        assert!(store.try_lease("audit", "t1").unwrap().is_some());
    }

    #[test]
    fn damage_and_unsafe_names_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        std::fs::create_dir_all(dir.path().join("audit")).unwrap();
        std::fs::write(dir.path().join("audit/t1.json"), b"{ half").unwrap();
        let err = store.load("audit", "t1").unwrap_err();
        assert!(err.to_string().contains("is damaged"), "{err}");
        assert!(store.load("audit", "../etc").is_err());
    }
}
