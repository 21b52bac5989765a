//! Crash safety of `o365-host once`: killed with SIGKILL at many points of a
//! catch-up and restarted each time, it ends with every event of the
//! simulator's ground truth published (duplicates are counted, never
//! losses); two processes started together on the same state do not corrupt
//! it or lose anything. Each runs with checkpoints in a local directory and
//! in Blob storage (Azurite, through `AzureWebJobsStorage`). The same runs
//! publish to Event Hubs too: to the test AMQP broker (`tests/amqp-broker`)
//! running in this process, through the real producer in the killed child.

use amqp_broker::Broker;
use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use o365_host::azure::storage::BlobAccount;
use o365_host::checkpoint::{BlobStore, CheckpointStore};
use o365_simulator::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT, Simulator, SimulatorConfig,
    TenantSpec,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::process::{Child, Command};

const HOST: &str = env!("CARGO_BIN_EXE_o365-host");

/// Which source a crash test runs.
#[derive(Clone, Copy)]
enum Kind {
    Audit,
    MessageTrace,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Audit => "audit",
            Kind::MessageTrace => "message-trace",
        }
    }

    fn legacy_container(self) -> &'static str {
        match self {
            Kind::Audit => "auditlogstate",
            Kind::MessageTrace => "messagetracestate",
        }
    }
}

/// Where the checkpoints are.
#[derive(Clone, Copy, PartialEq)]
enum Store {
    Local,
    Blob,
}

/// Blob storage for a test: Azurite and a store on it, as the host opens it.
struct Blob {
    azurite: azurite_support::Azurite,
    store: BlobStore,
}

/// The lease a Blob test's hosts take: the shortest Blob storage allows, so
/// that a killed host's lease lapses soon.
const BLOB_LEASE: &str = "15s";

struct Setup {
    sim: Simulator,
    dir: tempfile::TempDir,
    start: DateTime<Utc>,
    kind: Kind,
    blob: Option<Blob>,
    /// Where events go when set: Event Hubs (the test broker), else files.
    broker: Option<Broker>,
}

impl Setup {
    /// A tenant with `days` of content to catch up on, resumed from the
    /// previous version's checkpoint blob (so its import is exercised too).
    async fn new(kind: Kind, store: Store, days: i64, latency_ms: u64) -> Self {
        let mut tenant = TenantSpec::new(DEFAULT_TENANT, 11);
        tenant.audit_blobs_per_hour = 6;
        tenant.audit_events_per_blob = 8;
        // About 400 rows an hour: a message has one row per recipient.
        tenant.traces_per_hour = 250;
        let sim = Simulator::start(SimulatorConfig {
            tenants: vec![tenant],
            latency: Duration::from_millis(latency_ms),
            ..SimulatorConfig::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let start = Utc::now() - ChronoDuration::days(days);
        let stamp = start.to_rfc3339_opts(SecondsFormat::Millis, true);
        let blob = match store {
            Store::Local => {
                let legacy = dir.path().join("state").join(kind.legacy_container());
                std::fs::create_dir_all(&legacy).unwrap();
                std::fs::write(legacy.join("last_successfull_fetch_on"), stamp).unwrap();
                None
            }
            Store::Blob => {
                let azurite = azurite_support::Azurite::start();
                let account = Arc::new(
                    BlobAccount::from_connection_string(&azurite.connection_string()).unwrap(),
                );
                let container = account.container_client(kind.legacy_container()).unwrap();
                container.create(None).await.unwrap();
                account
                    .blob_client(kind.legacy_container(), "last_successfull_fetch_on")
                    .unwrap()
                    .upload(bytes::Bytes::from(stamp).into(), None)
                    .await
                    .unwrap();
                let store = BlobStore::new(account, "o365-checkpoints");
                store.ensure_container().await.unwrap();
                Some(Blob { azurite, store })
            }
        };
        Self {
            sim,
            dir,
            start,
            kind,
            blob,
            broker: None,
        }
    }

    /// The same with local checkpoints, publishing to Event Hubs on a test
    /// broker.
    async fn with_event_hubs(kind: Kind, days: i64, latency_ms: u64) -> Self {
        let mut setup = Self::new(kind, Store::Local, days, latency_ms).await;
        setup.broker = Some(Broker::start().await.unwrap());
        setup
    }

    /// Waits until no host holds the lease (a killed host's lapses within
    /// its 15 seconds); at once for local checkpoints, whose lock the OS
    /// drops with the process.
    async fn wait_for_the_lease(&self) {
        let Some(blob) = &self.blob else {
            return;
        };
        for _ in 0..40 {
            if let Some(lease) = blob
                .store
                .try_lease(self.kind.name(), DEFAULT_TENANT)
                .await
                .unwrap()
            {
                lease.release().await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("the lease of a killed host did not lapse in 20 s");
    }

    fn spawn_once(&self) -> Child {
        let api = self.sim.url();
        let mut command = Command::new(HOST);
        if let Some(blob) = &self.blob {
            command
                .env("AzureWebJobsStorage", blob.azurite.connection_string())
                .env("O365_CHECKPOINT_LEASE", BLOB_LEASE);
        } else {
            command.env_remove("AzureWebJobsStorage");
        }
        if let Some(broker) = &self.broker {
            command
                .env(
                    "EventHub__fullyQualifiedNamespace",
                    "test.servicebus.windows.net",
                )
                .env("O365_EVENT_HUBS_ENDPOINT", broker.endpoint())
                .env("O365_EVENT_HUBS_SEND_ATTEMPTS", "2");
        }
        command
            .args(["once", "--api", &api, "--authority", &api])
            .args(["--tenant", DEFAULT_TENANT, "--client-id", DEFAULT_CLIENT_ID])
            .args(["--client-secret", DEFAULT_CLIENT_SECRET])
            .args(["--sources", self.kind.name()])
            // The simulator has no quota; pacing has its own test.
            .args(["--set", "O365_REQUESTS_PER_MINUTE=0"])
            .args(["--set", "MESSAGE_TRACES_REQUESTS_PER_5_MINUTES=0"])
            // Many small pages: many points to be killed at.
            .args(["--set", "MESSAGE_TRACES_PAGE_SIZE=40"])
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .arg("--out-dir")
            .arg(self.dir.path().join("events"))
            .env("O365_COMPONENT_CACHE_DIR", cache_dir())
            .env("O365_LOG", "warn")
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("o365-host starts")
    }

    fn events(&self) -> PathBuf {
        self.dir
            .path()
            .join(format!("events/{}.jsonl", self.kind.name()))
    }

    /// The stored checkpoint, read as the host reads it (head and journal
    /// whole, or an error).
    async fn checkpoint(&self) -> o365_host::checkpoint::Checkpoint {
        self.try_checkpoint().await.expect("a checkpoint")
    }

    /// The stored checkpoint, if one was written yet.
    async fn try_checkpoint(&self) -> Option<o365_host::checkpoint::Checkpoint> {
        let local;
        let store: &dyn CheckpointStore = match &self.blob {
            Some(blob) => &blob.store,
            None => {
                local = o365_host::checkpoint::LocalStore::new(self.dir.path().join("state"));
                &local
            }
        };
        store
            .load(self.kind.name(), DEFAULT_TENANT)
            .await
            .expect("the checkpoint reads back whole")
    }

    async fn high_water_mark(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.checkpoint().await.high_water_mark).unwrap()
    }

    /// Published records, each with how often it was published: audit
    /// events by id; message trace rows by what identifies a row at the
    /// source, trace id and recipient (read from the record, whatever the
    /// event id), so a row lost behind another row of its message shows.
    fn published(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        let lines: Vec<String> = match &self.broker {
            Some(broker) => broker
                .received()
                .into_iter()
                .map(|r| String::from_utf8(r.body).expect("bodies are UTF-8 JSON"))
                .collect(),
            None => std::fs::read_to_string(self.events())
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect(),
        };
        for line in &lines {
            let v: serde_json::Value =
                serde_json::from_str(line).expect("every line is whole JSON");
            let key = match self.kind {
                Kind::Audit => v["id"].as_str().unwrap().to_string(),
                Kind::MessageTrace => row_key(
                    v["record"]["id"].as_str().unwrap(),
                    v["record"]["recipientAddress"].as_str().unwrap(),
                ),
            };
            *counts.entry(key).or_insert(0) += 1;
        }
        counts
    }

    /// What must have been published: everything before the final
    /// high-water mark (for message traces, every row visible by then).
    fn truth(&self, until: DateTime<Utc>) -> BTreeSet<String> {
        match self.kind {
            Kind::Audit => self
                .sim
                .audit_truth(DEFAULT_TENANT, self.start..until)
                .into_iter()
                .filter(|t| !t.ignored_source)
                .map(|t| t.event_id)
                .collect(),
            Kind::MessageTrace => self
                .sim
                .trace_truth(DEFAULT_TENANT, self.start..until)
                .into_iter()
                .filter(|t| t.available_at <= until)
                .map(|t| row_key(&t.id, &t.recipient))
                .collect(),
        }
    }

    /// What may have been published: message traces re-read an hour of
    /// overlap before the start.
    fn possible(&self, until: DateTime<Utc>) -> BTreeSet<String> {
        match self.kind {
            Kind::Audit => self.truth(until),
            Kind::MessageTrace => self
                .sim
                .trace_truth(
                    DEFAULT_TENANT,
                    self.start - ChronoDuration::hours(2)..Utc::now(),
                )
                .into_iter()
                .map(|t| row_key(&t.id, &t.recipient))
                .collect(),
        }
    }
}

/// A message trace row as the source identifies it: trace id and recipient.
fn row_key(trace_id: &str, recipient: &str) -> String {
    format!("{trace_id} to {}", recipient.to_lowercase())
}

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("crash-component-cache")
}

async fn finish(child: Child) -> std::process::Output {
    child.wait_with_output().await.expect("o365-host ends")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_killed_at_many_points_and_restarted_loses_nothing() {
    killed_at_many_points_and_restarted_loses_nothing(Kind::Audit, Store::Local, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_traces_killed_at_many_points_and_restarted_lose_nothing() {
    killed_at_many_points_and_restarted_loses_nothing(Kind::MessageTrace, Store::Local, 3).await;
}

/// The same with checkpoints in Blob storage: every kill is followed by a
/// wait for the killed host's lease to lapse (at most 15 s), so fewer kills,
/// later in each run, where the saves are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_on_blob_killed_at_many_points_and_restarted_loses_nothing() {
    killed_at_many_points_and_restarted_loses_nothing(Kind::Audit, Store::Blob, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_to_event_hubs_killed_at_many_points_and_restarted_loses_nothing() {
    let setup = Setup::with_event_hubs(Kind::Audit, 2, 2).await;
    killed_and_restarted_loses_nothing(setup, Store::Local).await;
}

async fn killed_at_many_points_and_restarted_loses_nothing(kind: Kind, store: Store, days: i64) {
    // On Blob, fewer runs (each kill costs a lease lapse), so each run is
    // made longer with slower API answers, and the kills land in it.
    // Locally, slow enough that a catch-up on warm instances outlasts three
    // kills.
    let latency_ms = if store == Store::Blob { 40 } else { 10 };
    killed_and_restarted_loses_nothing(Setup::new(kind, store, days, latency_ms).await, store)
        .await;
}

async fn killed_and_restarted_loses_nothing(setup: Setup, store: Store) {
    let kind = setup.kind;
    // Warm the compile cache so that every kill lands in the catch-up.
    let warm = finish(
        Command::new(HOST)
            .args(["component", "inspect", connector_artifacts::AUDIT_PATH])
            .env("O365_COMPONENT_CACHE_DIR", cache_dir())
            .kill_on_drop(true)
            .spawn()
            .unwrap(),
    )
    .await;
    assert!(warm.status.success());

    let (delays, attempts): (&[u64], usize) = match store {
        // Short first: at least three kills must land before a catch-up
        // completes, however fast the machine.
        Store::Local => (&[150, 250, 400, 600, 900, 1300], 40),
        Store::Blob => (&[500, 800, 1100, 1400, 1700, 2000], 9),
    };
    let mut kills = 0;
    let mut completed = false;
    let mut versions = Vec::new();
    for attempt in 0..attempts {
        setup.wait_for_the_lease().await;
        let mut child = setup.spawn_once();
        // The last run is not killed: on a loaded machine runs make less
        // progress between kills, and what is tested is the state the
        // kills left, not how fast the catch-up is.
        let delay = match attempt {
            a if a + 1 == attempts => Duration::from_secs(600),
            a => Duration::from_millis(delays[a % delays.len()]),
        };
        match tokio::time::timeout(delay, child.wait()).await {
            Ok(status) => {
                let status = status.unwrap();
                assert!(
                    status.success(),
                    "a run that was not killed failed: {status}"
                );
                completed = true;
                break;
            }
            Err(_) => {
                child.kill().await.unwrap(); // SIGKILL
                kills += 1;
                // Every kill leaves a checkpoint that reads back whole.
                if setup.blob.is_some() {
                    versions.push(setup.checkpoint().await.version);
                }
            }
        }
    }
    assert!(completed, "never completed in {attempts} attempts");
    assert!(
        kills >= 3,
        "only {kills} kills: the test did not exercise crashes"
    );

    let until = setup.high_water_mark().await;
    // Up to now, less the message traces' 15-minute hold-back.
    assert!(
        until > Utc::now() - ChronoDuration::minutes(20),
        "the catch-up did not reach now: {until}"
    );
    let published = setup.published();
    let truth = setup.truth(until);
    let missing: Vec<_> = truth
        .iter()
        .filter(|id| !published.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} events lost after {kills} kills, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(3)]
    );
    let possible = setup.possible(until);
    let unexpected: Vec<_> = published
        .keys()
        .filter(|id| !possible.contains(*id))
        .collect();
    assert!(
        unexpected.is_empty(),
        "published events that do not exist: {unexpected:?}"
    );
    let duplicates: usize = published.values().map(|n| n - 1).sum();
    let last = setup.checkpoint().await;
    eprintln!(
        "{}{}: {kills} kills; {} events, {duplicates} duplicates ({:.2}%); checkpoint versions after each kill {versions:?}, journal segment {} at the end",
        kind.name(),
        if setup.broker.is_some() {
            " to Event Hubs"
        } else {
            ""
        },
        truth.len(),
        duplicates as f64 * 100.0 / truth.len() as f64,
        last.journal.segment
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_at_once_neither_lose_nor_corrupt() {
    two_processes_at_once(Store::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_at_once_on_blob_neither_lose_nor_corrupt() {
    two_processes_at_once(Store::Blob).await;
}

async fn two_processes_at_once(store: Store) {
    let setup = Setup::new(Kind::Audit, store, 2, 1).await;
    let (a, b) = (setup.spawn_once(), setup.spawn_once());
    let (a, b) = tokio::join!(finish(a), finish(b));
    for out in [&a, &b] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The checkpoint is whole and a third run finds everything done.
    let until = setup.high_water_mark().await;
    let third = finish(setup.spawn_once()).await;
    assert!(
        third.status.success(),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
    let published = setup.published();
    let truth = setup.truth(until);
    assert!(
        truth.iter().all(|id| published.contains_key(id)),
        "an event was lost"
    );
    let duplicates: usize = published.values().map(|n| n - 1).sum();
    assert_eq!(duplicates, 0, "both processes published the same events");
}

/// A host paused past its lease (SIGSTOP) while another takes over and
/// finishes the catch-up, then resumed (SIGCONT): the resumed host's next
/// checkpoint write is refused on the head's ETag, so its cycle fails
/// instead of moving the checkpoint it no longer owns; nothing is lost and
/// the checkpoint stays whole. This is why Blob checkpoints use an ETag as
/// well as the lease (docs/checkpoints.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_a_host_paused_past_its_lease_cannot_overwrite_the_next_holder() {
    let setup = Setup::new(Kind::Audit, Store::Blob, 3, 40).await;
    let paused = setup.spawn_once();
    let pid = paused.id().expect("a running host").to_string();
    // Pause it once it holds the lease and has saved progress.
    let mut saved = false;
    for _ in 0..300 {
        if setup.try_checkpoint().await.is_some_and(|c| c.version >= 2) {
            saved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(saved, "the first host never saved");
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill {name} {pid}");
    };
    signal("-STOP");
    let at_pause = setup.checkpoint().await.version;

    // Its lease lapses; another host takes over and finishes.
    setup.wait_for_the_lease().await;
    let next = finish(setup.spawn_once()).await;
    assert!(
        next.status.success(),
        "{}",
        String::from_utf8_lossy(&next.stderr)
    );
    let taken_over = setup.checkpoint().await;
    assert!(taken_over.version > at_pause);

    signal("-CONT");
    let resumed = tokio::time::timeout(Duration::from_secs(120), finish(paused))
        .await
        .expect("the resumed host ends");
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(
        !resumed.status.success(),
        "the resumed host must fail its cycle, not finish it: {stderr}"
    );
    assert!(
        stderr.contains("changed by another instance"),
        "the failure names the conflict: {stderr}"
    );
    // The next holder's checkpoint stands, whole.
    let after = setup.checkpoint().await;
    assert_eq!(after.version, taken_over.version, "{stderr}");
    assert_eq!(after.high_water_mark, taken_over.high_water_mark);

    let until = setup.high_water_mark().await;
    let published = setup.published();
    let missing = setup
        .truth(until)
        .into_iter()
        .filter(|id| !published.contains_key(id))
        .count();
    assert_eq!(missing, 0, "events lost");
    let duplicates: usize = published.values().map(|n| n - 1).sum();
    eprintln!(
        "paused at version {at_pause}, taken over to {}; {duplicates} duplicates",
        taken_over.version
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_event_hub_holds_the_checkpoint_and_the_next_cycle_publishes_everything() {
    let setup = Setup::with_event_hubs(Kind::Audit, 1, 1).await;
    let broker = setup.broker.as_ref().unwrap();
    broker.reject_next(usize::MAX);
    let refused = finish(setup.spawn_once()).await;
    assert!(
        !refused.status.success(),
        "a cycle whose events were refused reports failure"
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(broker.received().is_empty());
    assert!(broker.rejected_transfers() >= 2);
    // The checkpoint did not move past anything (none written, or still at the start).
    if let Some(checkpoint) = setup.try_checkpoint().await {
        let mark = DateTime::from_timestamp_millis(checkpoint.high_water_mark).unwrap();
        assert!(
            mark <= setup.start + ChronoDuration::seconds(1),
            "moved to {mark}"
        );
    }

    broker.reject_next(0);
    let healthy = finish(setup.spawn_once()).await;
    assert!(
        healthy.status.success(),
        "{}",
        String::from_utf8_lossy(&healthy.stderr)
    );
    let until = setup.high_water_mark().await;
    assert!(until > Utc::now() - ChronoDuration::minutes(20));
    let published = setup.published();
    let truth = setup.truth(until);
    assert!(!truth.is_empty());
    let missing = truth
        .iter()
        .filter(|id| !published.contains_key(*id))
        .count();
    assert_eq!(missing, 0, "{missing} of {} events missing", truth.len());
}
