//! Crash safety of `o365-host once`: killed with SIGKILL at many points of a
//! catch-up and restarted each time, it ends with every event of the
//! simulator's ground truth published (duplicates are counted, never
//! losses); two processes started together on the same state do not corrupt
//! it or lose anything.

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
}

impl Setup {
    /// A tenant with `days` of content to catch up on, resumed from the
    /// previous version's checkpoint blob (so its import is exercised too).
    async fn new(kind: Kind, days: i64, latency_ms: u64) -> Self {
        let mut tenant = TenantSpec::new(DEFAULT_TENANT, 11);
        tenant.audit_blobs_per_hour = 6;
        tenant.audit_events_per_blob = 8;
        tenant.traces_per_hour = 400;
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
        }
    }

    fn spawn_once(&self) -> Child {
        let api = self.sim.url();
        Command::new(HOST)
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

    /// Published ids with how often each was published.
    fn published(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for line in std::fs::read_to_string(self.events())
            .unwrap_or_default()
            .lines()
        {
            let v: serde_json::Value =
                serde_json::from_str(line).expect("every line is whole JSON");
            *counts
                .entry(v["id"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
        counts
    }

    /// What must have been published: everything before the final
    /// high-water mark (for message traces, what was visible by then).
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
                .map(|t| t.id)
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
                .map(|t| t.id)
                .collect(),
        }
    }
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

async fn killed_at_many_points_and_restarted_loses_nothing(kind: Kind, days: i64) {
    let setup = Setup::new(kind, days, 2).await;
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
    let mut kills = 0;
    let mut completed = false;
    for attempt in 0..40 {
        let mut child = setup.spawn_once();
        // Killed at many points; then, on a loaded machine where a run
        // never fits between kills, one last run is let finish.
        let delay = if attempt < 39 {
            Duration::from_millis(delays[attempt % delays.len()])
        } else {
            Duration::from_secs(300)
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
    assert!(completed, "never completed in 40 attempts");
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
        "{}: {kills} kills; {} events, {duplicates} duplicates ({:.2}%)",
        kind.name(),
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
