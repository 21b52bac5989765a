//! One checkpoint test suite, run against both stores: the local directory
//! and Blob storage (Azurite, started per test on free ports). Every test
//! goes through `CheckpointStore`, as the pipeline does; "another host" is
//! a second store on the same directory or storage account. What a store
//! does not expose (a journal tail no head commits, the legacy blob) is set
//! up through the file system or the Blob API directly.

use azure_storage_blob::models::AppendBlobClientAppendBlockOptions;
use o365_host::azure::storage::BlobAccount;
use o365_host::checkpoint::{
    BlobStore, COMPACT_MIN_ENTRIES, Checkpoint, CheckpointError, CheckpointStore, LocalStore,
};
use std::sync::Arc;
use std::time::Duration;

const DAY: i64 = 24 * 3_600_000;
const CONTAINER: &str = "o365-checkpoints";

/// Where a test's checkpoints live.
enum Backend {
    Local(tempfile::TempDir),
    /// Azurite runs as long as the backend lives.
    Blob {
        _azurite: azurite_support::Azurite,
        account: Arc<BlobAccount>,
    },
}

impl Backend {
    fn local() -> Self {
        Self::Local(tempfile::tempdir().unwrap())
    }

    async fn blob() -> Self {
        let azurite = azurite_support::Azurite::start();
        let account =
            Arc::new(BlobAccount::from_connection_string(&azurite.connection_string()).unwrap());
        BlobStore::new(account.clone(), CONTAINER)
            .ensure_container()
            .await
            .unwrap();
        Self::Blob {
            _azurite: azurite,
            account,
        }
    }

    /// A store on this backend, as one host opens it: each call is another
    /// host (its own handles, caches and counters).
    fn host(&self) -> Arc<dyn CheckpointStore> {
        match self {
            Self::Local(dir) => Arc::new(LocalStore::new(dir.path())),
            Self::Blob { account, .. } => Arc::new(
                BlobStore::new(account.clone(), CONTAINER)
                    .with_lease_duration(Duration::from_secs(15)),
            ),
        }
    }

    /// Appends `bytes` to journal segment `n` of audit/t1 behind the
    /// store's back: what a save that died before its head leaves.
    async fn append_to_segment(&self, n: u64, bytes: &[u8]) {
        match self {
            Self::Local(dir) => {
                use std::io::Write as _;
                let mut file = std::fs::OpenOptions::new()
                    .append(true)
                    .open(dir.path().join(format!("audit/t1.journal.{n}")))
                    .unwrap();
                file.write_all(bytes).unwrap();
            }
            Self::Blob { account, .. } => {
                let client = account
                    .blob_client(CONTAINER, &format!("audit/t1/journal.{n}"))
                    .unwrap()
                    .append_blob_client();
                client
                    .append_block(
                        bytes::Bytes::copy_from_slice(bytes).into(),
                        bytes.len() as u64,
                        Some(AppendBlobClientAppendBlockOptions::default()),
                    )
                    .await
                    .unwrap();
            }
        }
    }

    /// Whether journal segment `n` of audit/t1 exists.
    async fn segment_exists(&self, n: u64) -> bool {
        match self {
            Self::Local(dir) => dir.path().join(format!("audit/t1.journal.{n}")).exists(),
            Self::Blob { account, .. } => account
                .blob_client(CONTAINER, &format!("audit/t1/journal.{n}"))
                .unwrap()
                .exists()
                .await
                .unwrap(),
        }
    }

    /// Writes the JavaScript version's checkpoint of `container`.
    async fn put_legacy(&self, container: &str, text: &str) {
        match self {
            Self::Local(dir) => {
                let path = dir.path().join(container);
                std::fs::create_dir_all(&path).unwrap();
                std::fs::write(path.join("last_successfull_fetch_on"), text).unwrap();
            }
            Self::Blob { account, .. } => {
                account
                    .container_client(container)
                    .unwrap()
                    .create(None)
                    .await
                    .unwrap();
                account
                    .blob_client(container, "last_successfull_fetch_on")
                    .unwrap()
                    .upload(bytes::Bytes::from(text.to_string()).into(), None)
                    .await
                    .unwrap();
            }
        }
    }
}

/// Runs a suite test against both stores.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn local() {
                super::$name(super::Backend::local()).await;
            }

            #[tokio::test]
            async fn blob() {
                super::$name(super::Backend::blob().await).await;
            }
        }
    };
}

both!(round_trip_and_conditional_write);
async fn round_trip_and_conditional_write(backend: Backend) {
    let (a, b) = (backend.host(), backend.host());
    assert_eq!(a.load("audit", "t1").await.unwrap(), None);

    let mut mine = Checkpoint::starting_at(1000);
    mine.memory.remember_key("blob-0", DAY);
    mine.memory.remember_event("event-0", DAY);
    a.save("audit", "t1", &mut mine).await.unwrap();
    assert_eq!(mine.version, 1);
    let mut theirs = b.load("audit", "t1").await.unwrap().unwrap();
    assert_eq!(theirs, mine);

    theirs.high_water_mark = 2000;
    theirs.memory.remember_key("theirs", DAY);
    b.save("audit", "t1", &mut theirs).await.unwrap();
    // `mine` is now stale: its write is refused, journal included, and the
    // stored checkpoint stays theirs.
    mine.high_water_mark = 5000;
    mine.memory.remember_key("mine", DAY);
    let err = a.save("audit", "t1", &mut mine).await.unwrap_err();
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
    for host in [&a, &b, &backend.host()] {
        let stored = host.load("audit", "t1").await.unwrap().unwrap();
        assert_eq!(stored.high_water_mark, 2000);
        assert!(stored.memory.knows_key("theirs", 0));
        assert!(!stored.memory.knows_key("mine", 0));
        assert_eq!(stored, theirs);
    }
    // A first write loses to an existing checkpoint too.
    let mut fresh = Checkpoint::starting_at(0);
    let err = backend
        .host()
        .save("audit", "t1", &mut fresh)
        .await
        .unwrap_err();
    assert!(matches!(err, CheckpointError::Conflict { .. }), "{err}");

    // After reloading, the loser writes again and both histories are whole.
    let mut reloaded = a.load("audit", "t1").await.unwrap().unwrap();
    reloaded.memory.remember_key("mine", DAY);
    a.save("audit", "t1", &mut reloaded).await.unwrap();
    let stored = b.load("audit", "t1").await.unwrap().unwrap();
    assert!(stored.memory.knows_key("mine", 0) && stored.memory.knows_key("theirs", 0));
    assert!(stored.memory.knows_event("event-0", 0));
    assert_eq!(stored.version, 3);
}

both!(journal_is_read_only_as_far_as_the_head_commits);
async fn journal_is_read_only_as_far_as_the_head_commits(backend: Backend) {
    let store = backend.host();
    let mut checkpoint = Checkpoint::starting_at(0);
    checkpoint.memory.remember_key("blob-0", DAY);
    store.save("audit", "t1", &mut checkpoint).await.unwrap();

    // A save died after its journal append, before its head: its key, and
    // a torn half line after it, are not committed.
    backend
        .append_to_segment(0, b"{\"k\":\"blob-1\",\"x\":86400000}\n{\"k\":\"blob-")
        .await;
    let reloaded = backend.host().load("audit", "t1").await.unwrap().unwrap();
    assert!(reloaded.memory.knows_key("blob-0", 0));
    assert!(
        !reloaded.memory.knows_key("blob-1", 0),
        "a key no head commits would skip an outstanding item"
    );

    // The next save writes past the tail (cut off locally, a fresh segment
    // on Blob), and what it commits reads back whole.
    let mut next = reloaded;
    next.memory.remember_key("blob-2", DAY);
    backend.host().save("audit", "t1", &mut next).await.unwrap();
    let stored = backend.host().load("audit", "t1").await.unwrap().unwrap();
    assert!(stored.memory.knows_key("blob-0", 0) && stored.memory.knows_key("blob-2", 0));
    assert!(!stored.memory.knows_key("blob-1", 0));
    assert_eq!(stored.memory.len(), 2);
    assert_eq!(stored, next);
    // And the store keeps appending after that.
    let mut more = stored;
    more.memory.remember_key("blob-3", DAY);
    backend.host().save("audit", "t1", &mut more).await.unwrap();
    let stored = backend.host().load("audit", "t1").await.unwrap().unwrap();
    assert_eq!(stored.memory.len(), 3);
}

both!(a_save_writes_only_what_changed);
async fn a_save_writes_only_what_changed(backend: Backend) {
    let store = backend.host();
    let mut checkpoint = Checkpoint::starting_at(0);
    let mut per_save = Vec::new();
    let mut elapsed = Duration::ZERO;
    for save in 0..40 {
        for blob in 0..100 {
            // Content ids are long; 8 days, like audit's.
            let key = format!("20261124{save:04}{blob:04}$c2a1f7e8-0b9d-4c1e-9f3a-{blob:012}");
            checkpoint.memory.remember_key(&key, 8 * DAY);
        }
        let before = store.figures().bytes_written;
        let started = std::time::Instant::now();
        store.save("audit", "t1", &mut checkpoint).await.unwrap();
        elapsed += started.elapsed();
        per_save.push(store.figures().bytes_written - before);
    }
    // Nothing new: only the head.
    let before = store.figures().bytes_written;
    store.save("audit", "t1", &mut checkpoint).await.unwrap();
    let head_only = store.figures().bytes_written - before;
    assert!(
        head_only < 300,
        "a save with nothing new wrote {head_only} bytes"
    );

    let (first, last) = (per_save[0], per_save[39]);
    let journal = checkpoint.journal.bytes;
    // The 40th save writes what the first did (give or take the digits of
    // the version), though 40 times as much is remembered.
    assert!(last <= first + 16, "{per_save:?}");
    assert!(
        last * 20 < journal,
        "a save wrote {last} of {journal} bytes"
    );
    assert_eq!(checkpoint.memory.key_count(), 4000);
    let stored = backend.host().load("audit", "t1").await.unwrap().unwrap();
    assert_eq!(stored.memory.key_count(), 4000);
    eprintln!(
        "bytes per save: first {first}, last {last}, head alone {head_only}; journal {journal}; {:.1} ms per save",
        elapsed.as_secs_f64() * 1000.0 / 40.0
    );
}

both!(a_mostly_expired_journal_is_compacted_and_the_old_segment_removed);
async fn a_mostly_expired_journal_is_compacted_and_the_old_segment_removed(backend: Backend) {
    let store = backend.host();
    let mut checkpoint = Checkpoint::starting_at(0);
    for i in 0..COMPACT_MIN_ENTRIES {
        checkpoint.memory.remember_key(&format!("old-{i}"), 100);
    }
    checkpoint.memory.remember_key("kept", DAY);
    store.save("audit", "t1", &mut checkpoint).await.unwrap();
    assert_eq!(store.figures().compactions, 0);

    checkpoint.prune(100);
    checkpoint.memory.remember_key("new", DAY);
    store.save("audit", "t1", &mut checkpoint).await.unwrap();
    assert_eq!(store.figures().compactions, 1);
    assert_eq!(checkpoint.journal.segment, 1);
    assert_eq!(checkpoint.journal.entries, 2);
    assert!(backend.segment_exists(1).await);
    assert!(
        !backend.segment_exists(0).await,
        "the replaced segment is removed"
    );
    let stored = backend.host().load("audit", "t1").await.unwrap().unwrap();
    assert_eq!(stored.memory.len(), 2);
    assert!(stored.memory.knows_key("kept", 0) && stored.memory.knows_key("new", 0));
}

both!(a_lease_excludes_other_hosts_until_released);
async fn a_lease_excludes_other_hosts_until_released(backend: Backend) {
    let (a, b) = (backend.host(), backend.host());
    let lease = a.try_lease("audit", "t1").await.unwrap().expect("free");
    assert!(lease.is_held());
    assert!(b.try_lease("audit", "t1").await.unwrap().is_none());
    assert!(
        a.try_lease("audit", "t1").await.unwrap().is_none(),
        "not re-entrant"
    );
    let other = b.try_lease("audit", "t2").await.unwrap();
    assert!(other.is_some(), "another tenant is free");
    lease.release().await;
    let again = b.try_lease("audit", "t1").await.unwrap().expect("released");
    // Dropping a guard releases it too (in the background on Blob).
    drop(again);
    let mut taken = None;
    for _ in 0..50 {
        taken = a.try_lease("audit", "t1").await.unwrap();
        if taken.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(taken.is_some(), "a dropped lease is given up");
}

both!(the_previous_versions_checkpoint_is_found_by_container);
async fn the_previous_versions_checkpoint_is_found_by_container(backend: Backend) {
    let store = backend.host();
    assert_eq!(store.legacy_timestamp("auditlogstate").await.unwrap(), None);
    backend
        .put_legacy("auditlogstate", "\"2026-11-24T10:00:00.000Z\"")
        .await;
    let text = store
        .legacy_timestamp("auditlogstate")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        o365_host::checkpoint::import_legacy_timestamp(&text),
        Ok(1_795_514_400_000)
    );
    assert_eq!(
        store.legacy_timestamp("messagetracestate").await.unwrap(),
        None
    );
}

both!(unsafe_names_are_refused);
async fn unsafe_names_are_refused(backend: Backend) {
    let store = backend.host();
    for (source, tenant) in [("audit", "../etc"), ("audit", ".hidden"), ("a/b", "t1")] {
        assert!(matches!(
            store.load(source, tenant).await,
            Err(CheckpointError::BadName { .. })
        ));
        assert!(matches!(
            store
                .save(source, tenant, &mut Checkpoint::starting_at(0))
                .await,
            Err(CheckpointError::BadName { .. })
        ));
    }
}

/// Hosts racing to advance one checkpoint from the same version: in every
/// round exactly one wins, every loser writes nothing, and the stored
/// checkpoint always holds exactly the winners' keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blob_hosts_racing_for_one_checkpoint_never_both_advance_it() {
    let backend = Backend::blob().await;
    let hosts: Vec<_> = (0..4).map(|_| backend.host()).collect();
    let mut first = Checkpoint::starting_at(0);
    hosts[0].save("audit", "t1", &mut first).await.unwrap();
    let mut winners = Vec::new();
    for round in 0..15 {
        let mut tasks = Vec::new();
        for (h, host) in hosts.iter().enumerate() {
            let host = host.clone();
            tasks.push(tokio::spawn(async move {
                let mut checkpoint = host.load("audit", "t1").await.unwrap().unwrap();
                let key = format!("round-{round}-host-{h}");
                checkpoint.memory.remember_key(&key, DAY);
                checkpoint.high_water_mark = round * 10 + h as i64;
                match host.save("audit", "t1", &mut checkpoint).await {
                    Ok(_) => Some(key),
                    Err(CheckpointError::Conflict { .. }) => None,
                    Err(e) => panic!("{e}"),
                }
            }));
        }
        let mut won = Vec::new();
        for task in tasks {
            if let Some(key) = task.await.unwrap() {
                won.push(key);
            }
        }
        // Loads and saves interleave, so a host may load after another's
        // save: at least one wins, and every winner's write is kept.
        assert!(!won.is_empty(), "round {round}: nobody won");
        winners.extend(won);
        let stored = hosts[0].load("audit", "t1").await.unwrap().unwrap();
        let remembered: Vec<_> = (0..=round)
            .flat_map(|r| (0..4).map(move |h| format!("round-{r}-host-{h}")))
            .filter(|k| stored.memory.knows_key(k, 0))
            .collect();
        let mut expected = winners.clone();
        expected.sort();
        let mut remembered = remembered;
        remembered.sort();
        assert_eq!(remembered, expected, "round {round}");
        assert_eq!(stored.version as usize, 1 + winners.len());
    }
    eprintln!(
        "{} winning saves of {} attempts in 15 rounds",
        winners.len(),
        15 * 4
    );
}

/// The lease outlives its duration while held (renewed in the background)
/// and lapses once the holder stops renewing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_lease_is_renewed_while_held() {
    let backend = Backend::blob().await;
    let (a, b) = (backend.host(), backend.host());
    let lease = a.try_lease("audit", "t1").await.unwrap().expect("free");
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(lease.is_held());
    assert!(
        b.try_lease("audit", "t1").await.unwrap().is_none(),
        "20 s into a 15 s lease, renewals keep it"
    );
    lease.release().await;
    assert!(b.try_lease("audit", "t1").await.unwrap().is_some());
}

/// A wrong key gets an error naming the setting and the cause, not a hang
/// or a panic.
#[tokio::test]
async fn blob_with_a_wrong_key_says_so() {
    let azurite = azurite_support::Azurite::start();
    let wrong = azurite
        .connection_string()
        .replace(azurite_support::KEY, "d3Jvbmcga2V5");
    let account = Arc::new(BlobAccount::from_connection_string(&wrong).unwrap());
    let err = BlobStore::new(account, CONTAINER)
        .ensure_container()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("access denied") && err.contains("AzureWebJobsStorage"),
        "{err}"
    );
}

/// A compaction killed after creating its new segment and before its head
/// leaves a segment no head names. The next compaction skips that number,
/// and once its head is written removes both the replaced segment and the
/// leftover.
#[tokio::test]
async fn blob_compaction_skips_and_removes_a_crashed_compactions_segment() {
    let backend = Backend::blob().await;
    let Backend::Blob { account, .. } = &backend else {
        unreachable!()
    };
    let store = backend.host();
    let mut checkpoint = Checkpoint::starting_at(0);
    for i in 0..COMPACT_MIN_ENTRIES {
        checkpoint.memory.remember_key(&format!("old-{i}"), 100);
    }
    checkpoint.memory.remember_key("kept", DAY);
    store.save("audit", "t1", &mut checkpoint).await.unwrap();
    // The leftover: segment 1, created, half written, never named.
    let leftover = account
        .blob_client(CONTAINER, "audit/t1/journal.1")
        .unwrap()
        .append_blob_client();
    leftover.create(None).await.unwrap();
    backend
        .append_to_segment(1, b"{\"k\":\"ghost\",\"x\":1}\n")
        .await;

    checkpoint.prune(100);
    store.save("audit", "t1", &mut checkpoint).await.unwrap();
    assert_eq!(checkpoint.journal.segment, 2, "segment 1 was taken");
    assert!(!backend.segment_exists(0).await && !backend.segment_exists(1).await);
    let stored = backend.host().load("audit", "t1").await.unwrap().unwrap();
    assert_eq!(stored.memory.len(), 1);
    assert!(stored.memory.knows_key("kept", 0) && !stored.memory.knows_key("ghost", 0));
}

/// A host that loses its lease (here broken by an operator; in production a
/// process paused past the lease's duration) learns it from the failed
/// renewal, and the ETag refuses its next write once another host has
/// taken over and saved: repeated work, never a lost or mixed checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_a_lost_lease_is_noticed_and_the_etag_keeps_the_checkpoint() {
    let backend = Backend::blob().await;
    let Backend::Blob { account, .. } = &backend else {
        unreachable!()
    };
    let (a, b) = (backend.host(), backend.host());
    let lease_a = a.try_lease("audit", "t1").await.unwrap().expect("free");
    let mut mine = Checkpoint::starting_at(0);
    a.save("audit", "t1", &mut mine).await.unwrap();

    account
        .blob_client(CONTAINER, "audit/t1/lease")
        .unwrap()
        .break_lease(Some(
            azure_storage_blob::models::BlobClientBreakLeaseOptions {
                break_period: Some(0),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let lease_b = b.try_lease("audit", "t1").await.unwrap().expect("broken");
    let mut theirs = b.load("audit", "t1").await.unwrap().unwrap();
    theirs.memory.remember_key("theirs", DAY);
    b.save("audit", "t1", &mut theirs).await.unwrap();

    // A's renewal (every 5 s of a 15 s lease) finds the lease gone.
    let mut noticed = false;
    for _ in 0..80 {
        if !lease_a.is_held() {
            noticed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(noticed, "the failed renewal marks the lease lost");
    assert!(lease_b.is_held());
    mine.memory.remember_key("mine", DAY);
    let err = a.save("audit", "t1", &mut mine).await.unwrap_err();
    assert!(matches!(err, CheckpointError::Conflict { .. }), "{err}");
    let stored = b.load("audit", "t1").await.unwrap().unwrap();
    assert_eq!(stored, theirs);
    assert!(!stored.memory.knows_key("mine", 0));
    lease_a.release().await;
    assert!(
        lease_b.is_held(),
        "releasing a lost lease leaves the new holder's"
    );
    lease_b.release().await;
}

/// A legacy checkpoint that exists but cannot be read is an error naming
/// it, not a silent start 24 hours back (which could skip data).
#[tokio::test]
async fn local_an_unreadable_legacy_checkpoint_is_an_error() {
    let backend = Backend::local();
    let Backend::Local(dir) = &backend else {
        unreachable!()
    };
    std::fs::create_dir_all(dir.path().join("auditlogstate/last_successfull_fetch_on")).unwrap();
    let err = backend
        .host()
        .legacy_timestamp("auditlogstate")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("last_successfull_fetch_on"), "{err}");
}
