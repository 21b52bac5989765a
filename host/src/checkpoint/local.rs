//! Checkpoints in a local directory, per tenant and source:
//!
//! - `<root>/<source>/<tenant>.json`, the head: everything but the
//!   remembered keys and event ids, small, and rewritten whole by every
//!   save (temporary file, fsync, rename, fsync of the directory);
//! - `<root>/<source>/<tenant>.journal.<n>`, the journal segment in use: a
//!   save appends the entries added since the previous one and fsyncs them
//!   before writing the head that commits the segment's new length (see
//!   `journal`). A tail beyond the committed length (a crash between the two
//!   writes) is never read, and the next save cuts it off.
//!
//! Writes are conditional: a short exclusive file lock (`.lock`) guards the
//! compare-and-swap of the version. A second, longer lock (`.lease`) is held
//! for a whole cycle so that two processes never work on the same tenant
//! and source at once. Both locks are released by the OS if the process
//! dies.
//!
//! All file I/O of the async API runs on tokio's blocking pool, never on the
//! runtime's worker threads; `load_blocking` and `save_blocking` do the same
//! work for code that is not async (tools, test harnesses).

use super::head::{Prepared, checked_name, decode_head, finish, prepare, stored_version};
use super::journal::{self, JournalWrite};
use super::{
    Checkpoint, CheckpointError, CheckpointStore, LeaseGuard, StoreFigures, StoreStats,
    legacy::LEGACY_BLOB,
};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
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
    file: File,
}

impl Drop for LocalLease {
    /// Unlocks explicitly rather than by closing: a child process another
    /// thread forks holds a copy of the descriptor until it execs, and a
    /// lock released only by closing would live on in that copy, turning
    /// the next host away for that moment (seen once in a test run under
    /// load). Unlocking releases the lock on every copy at once.
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// The files of one tenant and source.
struct Files {
    /// `<source>/<tenant>`, for messages.
    name: String,
    tenant: String,
    dir: PathBuf,
}

impl Files {
    fn head(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.tenant))
    }

    fn lock(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.tenant))
    }

    fn lease(&self) -> PathBuf {
        self.dir.join(format!("{}.lease", self.tenant))
    }

    fn segment(&self, number: u64) -> PathBuf {
        self.dir.join(format!("{}.journal.{number}", self.tenant))
    }

    /// The segment number of a file name of this tenant's journal.
    fn segment_number(&self, file_name: &str) -> Option<u64> {
        let rest = file_name
            .strip_prefix(self.tenant.as_str())?
            .strip_prefix(".journal.")?;
        rest.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| rest.parse().ok())
            .flatten()
    }

    fn io(&self, action: String) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
        move |source| CheckpointError::Io {
            name: self.name.clone(),
            action,
            source,
        }
    }

    fn corrupt(&self, message: String) -> CheckpointError {
        CheckpointError::Corrupt {
            name: self.name.clone(),
            message,
        }
    }
}

impl LocalStore {
    /// A store rooted at `root` (created when first written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            stats: Arc::default(),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn files(&self, source: &str, tenant: &str) -> Result<Files, CheckpointError> {
        Ok(Files {
            name: checked_name(source, tenant)?,
            tenant: tenant.to_string(),
            dir: self.root.join(source),
        })
    }

    /// [`CheckpointStore::load`], on the calling thread.
    pub fn load_blocking(
        &self,
        source: &str,
        tenant: &str,
    ) -> Result<Option<Checkpoint>, CheckpointError> {
        let files = self.files(source, tenant)?;
        // A compaction between reading the head and opening its segment
        // removes the segment; the head read again names the new one.
        for _ in 0..3 {
            let Some(mut checkpoint) = self.read_head(&files)? else {
                return Ok(None);
            };
            if self.read_journal(&files, &mut checkpoint)? {
                return Ok(Some(checkpoint));
            }
        }
        let head = self.read_head(&files)?.unwrap_or_default();
        Err(files.corrupt(format!(
            "the head names journal segment {}, which does not exist",
            files.segment(head.journal.segment).display()
        )))
    }

    /// [`CheckpointStore::save`], on the calling thread.
    pub fn save_blocking(
        &self,
        source: &str,
        tenant: &str,
        checkpoint: &mut Checkpoint,
    ) -> Result<(), CheckpointError> {
        let files = self.files(source, tenant)?;
        let prepared = prepare(&files.name, checkpoint)?;
        commit(&files, &prepared, &self.stats)?;
        finish(checkpoint, &prepared);
        Ok(())
    }

    /// Reads and parses the head; a head without a journal moves its
    /// remembered keys and ids into memory, to be journaled by the next save.
    fn read_head(&self, files: &Files) -> Result<Option<Checkpoint>, CheckpointError> {
        let path = files.head();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(files.io(format!("reading {}", path.display()))(e)),
        };
        self.stats.read(bytes.len() as u64);
        decode_head(&bytes)
            .map(Some)
            .map_err(|e| files.corrupt(format!("{}: {e}", path.display())))
    }

    /// Reads the committed part of the journal into `checkpoint.memory`;
    /// false if its segment is gone (compacted since the head was read).
    fn read_journal(
        &self,
        files: &Files,
        checkpoint: &mut Checkpoint,
    ) -> Result<bool, CheckpointError> {
        let head = checkpoint.journal;
        if head.bytes == 0 {
            return Ok(true);
        }
        let path = files.segment(head.segment);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(files.io(format!("opening {}", path.display()))(e)),
        };
        let mut bytes = Vec::with_capacity(head.bytes as usize);
        file.take(head.bytes)
            .read_to_end(&mut bytes)
            .map_err(files.io(format!("reading {}", path.display())))?;
        self.stats.read(bytes.len() as u64);
        if (bytes.len() as u64) < head.bytes {
            return Err(files.corrupt(format!(
                "{} holds {} bytes, but the head commits {}: the journal was truncated",
                path.display(),
                bytes.len(),
                head.bytes
            )));
        }
        let entries = journal::decode(&bytes, &mut checkpoint.memory)
            .map_err(|e| files.corrupt(format!("{}: {e}", path.display())))?;
        if entries != head.entries {
            return Err(files.corrupt(format!(
                "{} holds {entries} entries where the head commits {}",
                path.display(),
                head.entries
            )));
        }
        Ok(true)
    }
}

/// Writes a prepared save if the stored version is still the one it
/// expects: journal first (fsynced), then the head that commits it.
fn commit(files: &Files, prepared: &Prepared, stats: &StoreStats) -> Result<(), CheckpointError> {
    let lock = open_lock_file(files, &files.lock())?;
    lock.lock()
        .map_err(files.io(format!("locking {}", files.lock().display())))?;

    let found = version_on_disk(files, stats)?;
    if found != prepared.expected {
        return Err(CheckpointError::Conflict {
            name: files.name.clone(),
            expected: prepared.expected,
            found,
        });
    }
    match &prepared.write {
        JournalWrite::Nothing => {}
        JournalWrite::Append { segment, at, data } => append(files, *segment, *at, data)?,
        JournalWrite::Rewrite { segment, data, .. } => write_segment(files, *segment, data)?,
    }
    write_head(files, &prepared.head)?;
    let compacted = matches!(prepared.write, JournalWrite::Rewrite { .. });
    if compacted {
        remove_other_segments(files, prepared.journal.segment);
    }
    stats.saved(prepared.bytes(), compacted);
    Ok(())
}

fn version_on_disk(files: &Files, stats: &StoreStats) -> Result<u64, CheckpointError> {
    let path = files.head();
    match std::fs::read(&path) {
        Ok(bytes) => {
            stats.read(bytes.len() as u64);
            stored_version(&bytes).map_err(|e| files.corrupt(format!("{}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(files.io(format!("reading {}", path.display()))(e)),
    }
}

/// Appends `data` to a segment at its committed length `at`, cutting off
/// an uncommitted tail first, and makes it durable.
fn append(files: &Files, segment: u64, at: u64, data: &[u8]) -> Result<(), CheckpointError> {
    let path = files.segment(segment);
    let fail = || files.io(format!("appending to {}", path.display()));
    std::fs::create_dir_all(&files.dir).map_err(fail())?;
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(fail())?;
    let length = file.metadata().map_err(fail())?.len();
    if length < at {
        return Err(files.corrupt(format!(
            "{} holds {length} bytes, but the head commits {at}: the journal was truncated",
            path.display()
        )));
    }
    if length > at {
        tracing::info!(checkpoint = %files.name, "cutting off {} uncommitted journal bytes (a save interrupted before its head was written)", length - at);
        file.set_len(at).map_err(fail())?;
    }
    file.seek(SeekFrom::Start(at)).map_err(fail())?;
    file.write_all(data).map_err(fail())?;
    file.sync_data().map_err(fail())?;
    if at == 0 {
        // A new file: its name must be durable before a head names it.
        sync_dir(files)?;
    }
    Ok(())
}

/// Writes a whole new segment and makes it and its name durable.
fn write_segment(files: &Files, segment: u64, data: &[u8]) -> Result<(), CheckpointError> {
    let path = files.segment(segment);
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&files.dir)?;
        let mut file = File::create(&path)?;
        file.write_all(data)?;
        file.sync_all()
    };
    write().map_err(files.io(format!("writing {}", path.display())))?;
    sync_dir(files)
}

/// Replaces the head atomically: temporary file, fsync, rename, fsync of
/// the directory.
fn write_head(files: &Files, bytes: &[u8]) -> Result<(), CheckpointError> {
    let path = files.head();
    let tmp = path.with_extension(format!("json.tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&files.dir)?;
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(files.io(format!("writing {}", path.display())))?;
    sync_dir(files)
}

fn sync_dir(files: &Files) -> Result<(), CheckpointError> {
    File::open(&files.dir)
        .and_then(|dir| dir.sync_all())
        .map_err(files.io(format!("syncing the directory {}", files.dir.display())))
}

/// Removes the segments a compaction replaced (and any left by a
/// compaction that crashed before its head was written). A segment that
/// cannot be removed is only reported: it is never read again.
fn remove_other_segments(files: &Files, current: u64) {
    let Ok(entries) = std::fs::read_dir(&files.dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(number) = name.to_str().and_then(|n| files.segment_number(n)) else {
            continue;
        };
        if number != current
            && let Err(e) = std::fs::remove_file(entry.path())
        {
            tracing::warn!(checkpoint = %files.name, "could not remove the replaced journal segment {}: {e}", entry.path().display());
        }
    }
}

fn open_lock_file(files: &Files, path: &Path) -> Result<File, CheckpointError> {
    std::fs::create_dir_all(&files.dir)
        .map_err(files.io(format!("creating {}", files.dir.display())))?;
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(files.io(format!("opening {}", path.display())))
}

/// Runs blocking file work on tokio's blocking pool.
async fn off_the_runtime<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> Result<T, CheckpointError> + Send + 'static,
) -> Result<T, CheckpointError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|source| CheckpointError::Interrupted {
            name: name.to_string(),
            source,
        })?
}

#[async_trait::async_trait]
impl CheckpointStore for LocalStore {
    async fn load(
        &self,
        source: &str,
        tenant: &str,
    ) -> Result<Option<Checkpoint>, CheckpointError> {
        let store = self.clone();
        let (source, tenant) = (source.to_string(), tenant.to_string());
        let name = format!("{source}/{tenant}");
        off_the_runtime(&name, move || store.load_blocking(&source, &tenant)).await
    }

    async fn save(
        &self,
        source: &str,
        tenant: &str,
        checkpoint: &mut Checkpoint,
    ) -> Result<u64, CheckpointError> {
        let files = self.files(source, tenant)?;
        let name = files.name.clone();
        // Serializing is O(what changed); only the I/O leaves the runtime.
        let prepared = prepare(&files.name, checkpoint)?;
        let stats = self.stats.clone();
        let prepared = off_the_runtime(&name, move || {
            commit(&files, &prepared, &stats).map(|()| prepared)
        })
        .await?;
        finish(checkpoint, &prepared);
        Ok(prepared.bytes())
    }

    async fn try_lease(
        &self,
        source: &str,
        tenant: &str,
    ) -> Result<Option<Box<dyn LeaseGuard>>, CheckpointError> {
        let files = self.files(source, tenant)?;
        off_the_runtime(&files.name.clone(), move || {
            let path = files.lease();
            let file = open_lock_file(&files, &path)?;
            match file.try_lock() {
                Ok(()) => Ok(Some(Box::new(LocalLease { file }) as Box<dyn LeaseGuard>)),
                Err(TryLockError::WouldBlock) => Ok(None),
                Err(TryLockError::Error(e)) => {
                    Err(files.io(format!("locking {}", path.display()))(e))
                }
            }
        })
        .await
    }

    /// Reads `<root>/<container>/last_successfull_fetch_on`.
    async fn legacy_timestamp(&self, container: &str) -> Result<Option<String>, CheckpointError> {
        let path = self.root.join(container).join(LEGACY_BLOB);
        match tokio::fs::read_to_string(&path).await {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(CheckpointError::Io {
                name: container.to_string(),
                action: format!(
                    "reading the previous version's checkpoint {}",
                    path.display()
                ),
                source,
            }),
        }
    }

    fn figures(&self) -> StoreFigures {
        self.stats.figures()
    }

    fn location(&self) -> String {
        format!("the local directory {}", self.root.display())
    }
}

#[async_trait::async_trait]
impl LeaseGuard for LocalLease {
    /// A lock file stays locked while the process lives.
    fn is_held(&self) -> bool {
        true
    }

    async fn release(self: Box<Self>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{COMPACT_MIN_ENTRIES, JournalHead, SliceProgress, StoredItem};

    const DAY: i64 = 24 * 3_600_000;

    fn journal_file(dir: &Path, n: u64) -> PathBuf {
        dir.join(format!("audit/t1.journal.{n}"))
    }

    fn item(key: &str) -> StoredItem {
        StoredItem {
            kind: "content-blob".into(),
            key: key.into(),
            payload: String::new(),
            remember_for: Some(DAY as u64),
        }
    }

    // The round trip and the refused stale write are in the suite both
    // stores run (host/tests/checkpoint_stores.rs); what follows is the
    // local layout's own.

    #[test]
    fn saves_append_to_the_journal_and_the_head_commits_its_length() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let mut checkpoint = Checkpoint::starting_at(0);
        for round in 0..3 {
            checkpoint
                .memory
                .remember_key(&format!("blob-{round}"), DAY);
            checkpoint
                .memory
                .remember_event(&format!("event-{round}"), DAY);
            store.save_blocking("audit", "t1", &mut checkpoint).unwrap();
        }
        // Nothing new: the journal is left alone.
        store.save_blocking("audit", "t1", &mut checkpoint).unwrap();
        let text = std::fs::read_to_string(journal_file(dir.path(), 0)).unwrap();
        assert_eq!(text.lines().count(), 6);
        assert!(text.starts_with("{\"k\":\"blob-0\",\"x\":86400000}\n{\"e\":\"event-0\""));
        assert_eq!(
            checkpoint.journal,
            JournalHead {
                segment: 0,
                bytes: text.len() as u64,
                entries: 6
            }
        );
        let head = std::fs::read_to_string(dir.path().join("audit/t1.json")).unwrap();
        assert!(!head.contains("blob-0"), "the head holds no keys: {head}");
        let stored = store.load_blocking("audit", "t1").unwrap().unwrap();
        assert_eq!(stored, checkpoint);
        assert_eq!(stored.memory.len(), 6);
    }

    #[test]
    fn a_crash_between_the_journal_and_the_head_remembers_nothing_of_that_save() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let mut checkpoint = Checkpoint::starting_at(0);
        checkpoint.slice = Some(SliceProgress {
            start: 0,
            end: 10,
            outstanding: vec![item("blob-1"), item("blob-2")],
            failures: Default::default(),
            planned_by: None,
        });
        store.save_blocking("audit", "t1", &mut checkpoint).unwrap();

        // blob-1 is published: its key and its leaving `outstanding` are one
        // save. The process dies after the journal write, before the head.
        checkpoint.memory.remember_key("blob-1", DAY);
        checkpoint.slice.as_mut().unwrap().outstanding = vec![item("blob-2")];
        let files = store.files("audit", "t1").unwrap();
        let prepared = prepare(&files.name, &mut checkpoint).unwrap();
        let JournalWrite::Append { segment, at, data } = &prepared.write else {
            panic!("{:?}", prepared.write);
        };
        append(&files, *segment, *at, data).unwrap();
        // A torn half line after it, too.
        let mut file = OpenOptions::new()
            .append(true)
            .open(journal_file(dir.path(), 0))
            .unwrap();
        file.write_all(b"{\"k\":\"blob-").unwrap();

        let reloaded = store.load_blocking("audit", "t1").unwrap().unwrap();
        assert!(
            !reloaded.memory.knows_key("blob-1", 0),
            "a key the head does not commit would skip an outstanding item"
        );
        assert_eq!(reloaded.slice.as_ref().unwrap().outstanding.len(), 2);

        // The next save cuts the uncommitted tail off before appending.
        let mut next = reloaded;
        next.memory.remember_key("blob-2", DAY);
        store.save_blocking("audit", "t1", &mut next).unwrap();
        let text = std::fs::read_to_string(journal_file(dir.path(), 0)).unwrap();
        assert_eq!(text, "{\"k\":\"blob-2\",\"x\":86400000}\n");
        let stored = store.load_blocking("audit", "t1").unwrap().unwrap();
        assert!(stored.memory.knows_key("blob-2", 0));
        assert!(!stored.memory.knows_key("blob-1", 0));
    }

    #[test]
    fn a_mostly_expired_journal_is_compacted_into_a_new_segment() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let mut checkpoint = Checkpoint::starting_at(0);
        for i in 0..COMPACT_MIN_ENTRIES {
            checkpoint.memory.remember_key(&format!("old-{i}"), 100);
        }
        checkpoint.memory.remember_key("kept", DAY);
        store.save_blocking("audit", "t1", &mut checkpoint).unwrap();
        assert_eq!(store.figures().compactions, 0);
        // An orphan from a compaction that crashed before its head.
        std::fs::write(journal_file(dir.path(), 7), b"junk").unwrap();

        checkpoint.prune(100);
        checkpoint.memory.remember_key("new", DAY);
        let before = store.figures();
        store.save_blocking("audit", "t1", &mut checkpoint).unwrap();
        let after = store.figures();
        assert_eq!(after.compactions, 1);
        assert_eq!(checkpoint.journal.segment, 1);
        assert_eq!(checkpoint.journal.entries, 2);
        assert!(!journal_file(dir.path(), 0).exists());
        assert!(!journal_file(dir.path(), 7).exists());
        let segment = std::fs::read(journal_file(dir.path(), 1)).unwrap();
        let head = std::fs::read(dir.path().join("audit/t1.json")).unwrap();
        assert_eq!(
            after.bytes_written - before.bytes_written,
            (segment.len() + head.len()) as u64
        );
        let stored = store.load_blocking("audit", "t1").unwrap().unwrap();
        assert_eq!(stored.memory.len(), 2);
        assert!(stored.memory.knows_key("kept", 0) && stored.memory.knows_key("new", 0));
    }

    #[test]
    fn bytes_per_save_stay_bounded_while_the_remembered_set_grows() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let mut checkpoint = Checkpoint::starting_at(0);
        let mut per_save = Vec::new();
        for save in 0..60 {
            for blob in 0..100 {
                // Content ids are long; 8 days, like audit's.
                let key = format!("20261124{save:04}{blob:04}$c2a1f7e8-0b9d-4c1e-9f3a-{blob:012}");
                checkpoint.memory.remember_key(&key, 8 * DAY);
            }
            let before = store.figures().bytes_written;
            store.save_blocking("audit", "t1", &mut checkpoint).unwrap();
            per_save.push(store.figures().bytes_written - before);
        }
        assert_eq!(checkpoint.memory.key_count(), 6000);
        let journal = std::fs::metadata(journal_file(dir.path(), 0))
            .unwrap()
            .len();
        let (first, last) = (per_save[0], per_save[59]);
        // The 60th save writes what the first did (give or take the digits
        // of the version), though 60 times as much is remembered.
        assert!(last <= first + 16, "{per_save:?}");
        assert!(
            last * 30 < journal,
            "a save wrote {last} of {journal} bytes"
        );
    }

    /// Stores `head` as audit/t1's head, loads it, and checks what every
    /// older format keeps: version 4, high-water mark 7, key `blob` and
    /// event `ev`.
    fn load_older_format(dir: &Path, head: &str) -> (LocalStore, Checkpoint) {
        std::fs::create_dir_all(dir.join("audit")).unwrap();
        std::fs::write(dir.join("audit/t1.json"), head).unwrap();
        let store = LocalStore::new(dir);
        let checkpoint = store.load_blocking("audit", "t1").unwrap().unwrap();
        assert_eq!((checkpoint.version, checkpoint.high_water_mark), (4, 7));
        assert!(checkpoint.memory.knows_key("blob", 0));
        assert!(checkpoint.memory.knows_event("ev", 0));
        (store, checkpoint)
    }

    #[test]
    fn a_checkpoint_of_format_1_moves_its_keys_to_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut checkpoint) = load_older_format(
            dir.path(),
            r#"{"format":1,"version":4,"highWaterMark":7,"remembered":{"blob":99},"recentEvents":{"ev":98},"updatedAt":1}"#,
        );
        store.save_blocking("audit", "t1", &mut checkpoint).unwrap();
        let head = std::fs::read_to_string(dir.path().join("audit/t1.json")).unwrap();
        assert!(
            head.contains("\"format\":3") && !head.contains("remembered"),
            "{head}"
        );
        let stored = store.load_blocking("audit", "t1").unwrap().unwrap();
        assert_eq!(stored, checkpoint);
        assert!(stored.memory.knows_key("blob", 0));
    }

    #[test]
    fn a_checkpoint_of_format_2_is_read_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("audit")).unwrap();
        let journal = "{\"k\":\"blob\",\"x\":99}\n{\"e\":\"ev\",\"x\":98}\n";
        std::fs::write(journal_file(dir.path(), 0), journal).unwrap();
        let (store, mut checkpoint) = load_older_format(
            dir.path(),
            &format!(
                r#"{{"format":2,"version":4,"highWaterMark":7,"journal":{{"segment":0,"bytes":{},"entries":2}},"updatedAt":1}}"#,
                journal.len()
            ),
        );
        checkpoint.memory.remember_key("next", 99);
        store.save_blocking("audit", "t1", &mut checkpoint).unwrap();
        let head = std::fs::read_to_string(dir.path().join("audit/t1.json")).unwrap();
        assert!(head.contains("\"format\":3"), "{head}");
        let stored = store.load_blocking("audit", "t1").unwrap().unwrap();
        assert!(stored.memory.knows_key("blob", 0) && stored.memory.knows_key("next", 0));
    }

    #[tokio::test]
    async fn a_second_lease_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let first = store.try_lease("audit", "t1").await.unwrap();
        assert!(first.is_some());
        assert!(store.try_lease("audit", "t1").await.unwrap().is_none());
        assert!(store.try_lease("audit", "t2").await.unwrap().is_some());
        drop(first);
        assert!(store.try_lease("audit", "t1").await.unwrap().is_some());
    }

    #[test]
    fn damage_and_unsafe_names_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        std::fs::create_dir_all(dir.path().join("audit")).unwrap();
        std::fs::write(dir.path().join("audit/t1.json"), b"{ half").unwrap();
        let err = store.load_blocking("audit", "t1").unwrap_err();
        assert!(err.to_string().contains("is damaged"), "{err}");
        assert!(matches!(
            store.load_blocking("audit", "../etc"),
            Err(CheckpointError::BadName { .. })
        ));

        // A journal shorter than its head commits, or gone.
        let mut checkpoint = Checkpoint::starting_at(0);
        checkpoint.memory.remember_key("blob", DAY);
        store.save_blocking("audit", "t2", &mut checkpoint).unwrap();
        let segment = dir.path().join("audit/t2.journal.0");
        std::fs::write(&segment, b"{\"k\"").unwrap();
        let err = store.load_blocking("audit", "t2").unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        std::fs::remove_file(&segment).unwrap();
        let err = store.load_blocking("audit", "t2").unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn journal_files_of_one_tenant_are_told_from_another_tenants() {
        let store = LocalStore::new("/x");
        let files = store.files("audit", "a").unwrap();
        assert_eq!(files.segment_number("a.journal.12"), Some(12));
        assert_eq!(files.segment_number("a.journal.json"), None);
        assert_eq!(files.segment_number("a.journal.journal.1"), None);
        assert_eq!(files.segment_number("ab.journal.1"), None);
        assert_eq!(files.segment_number("a.json"), None);
    }
}
