//! Crash safety of `o365-host once`: killed with SIGKILL at many points of a
//! catch-up and restarted each time, it ends with every event of the
//! simulator's ground truth published (duplicates are counted, never
//! losses); two processes started together on the same state do not corrupt
//! it or lose anything. The same runs publish to Event Hubs too: to the
//! test AMQP broker (`tests/amqp-broker`) running in this process, through
//! the real producer in the killed child.

use amqp_broker::Broker;
use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use o365_simulator::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT, Simulator, SimulatorConfig,
    TenantSpec,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
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

struct Setup {
    sim: Simulator,
    dir: tempfile::TempDir,
    start: DateTime<Utc>,
    kind: Kind,
    /// Where events go when set: Event Hubs (the test broker), else files.
    broker: Option<Broker>,
}

impl Setup {
    /// A tenant with `days` of content to catch up on, resumed from the
    /// previous version's checkpoint blob (so its import is exercised too).
    async fn new(kind: Kind, days: i64, latency_ms: u64) -> Self {
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
        let legacy = dir.path().join("state").join(kind.legacy_container());
        std::fs::create_dir_all(&legacy).unwrap();
        std::fs::write(
            legacy.join("last_successfull_fetch_on"),
            start.to_rfc3339_opts(SecondsFormat::Millis, true),
        )
        .unwrap();
        Self {
            sim,
            dir,
            start,
            kind,
            broker: None,
        }
    }

    /// The same, publishing to Event Hubs on a test broker.
    async fn with_event_hubs(kind: Kind, days: i64, latency_ms: u64) -> Self {
        let mut setup = Self::new(kind, days, latency_ms).await;
        setup.broker = Some(Broker::start().await.unwrap());
        setup
    }

    /// The high-water mark, if a checkpoint was written.
    fn checkpoint_mark(&self) -> Option<DateTime<Utc>> {
        let path = self
            .dir
            .path()
            .join(format!("state/{}/{DEFAULT_TENANT}.json", self.kind.name()));
        path.exists().then(|| self.high_water_mark())
    }

    fn spawn_once(&self) -> Child {
        let api = self.sim.url();
        let mut command = Command::new(HOST);
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

    fn high_water_mark(&self) -> DateTime<Utc> {
        let text = std::fs::read_to_string(
            self.dir
                .path()
                .join(format!("state/{}/{DEFAULT_TENANT}.json", self.kind.name())),
        )
        .expect("a checkpoint");
        let checkpoint: serde_json::Value =
            serde_json::from_str(&text).expect("the checkpoint is valid JSON");
        DateTime::from_timestamp_millis(checkpoint["highWaterMark"].as_i64().unwrap()).unwrap()
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
    killed_at_many_points_and_restarted_loses_nothing(Kind::Audit, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_traces_killed_at_many_points_and_restarted_lose_nothing() {
    killed_at_many_points_and_restarted_loses_nothing(Kind::MessageTrace, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_to_event_hubs_killed_at_many_points_and_restarted_loses_nothing() {
    let setup = Setup::with_event_hubs(Kind::Audit, 2, 2).await;
    killed_and_restarted_loses_nothing(setup).await;
}

async fn killed_at_many_points_and_restarted_loses_nothing(kind: Kind, days: i64) {
    killed_and_restarted_loses_nothing(Setup::new(kind, days, 2).await).await;
}

async fn killed_and_restarted_loses_nothing(setup: Setup) {
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

    let delays = [300u64, 500, 700, 900, 1100, 1300];
    const ATTEMPTS: usize = 40;
    let mut kills = 0;
    let mut completed = false;
    for attempt in 0..ATTEMPTS {
        let mut child = setup.spawn_once();
        // The last run is not killed: on a loaded machine runs make less
        // progress between kills, and what is tested is the state the
        // kills left, not how fast the catch-up is.
        let delay = match attempt {
            a if a + 1 == ATTEMPTS => Duration::from_secs(600),
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
            }
        }
    }
    assert!(completed, "never completed in {ATTEMPTS} attempts");
    assert!(
        kills >= 3,
        "only {kills} kills: the test did not exercise crashes"
    );

    let until = setup.high_water_mark();
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
    eprintln!(
        "{}{}: {kills} kills; {} events, {duplicates} duplicates ({:.2}%)",
        kind.name(),
        if setup.broker.is_some() {
            " to Event Hubs"
        } else {
            ""
        },
        truth.len(),
        duplicates as f64 * 100.0 / truth.len() as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_at_once_neither_lose_nor_corrupt() {
    let setup = Setup::new(Kind::Audit, 2, 1).await;
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
    let until = setup.high_water_mark();
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
    if let Some(mark) = setup.checkpoint_mark() {
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
    let until = setup.high_water_mark();
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
