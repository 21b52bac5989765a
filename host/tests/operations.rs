//! Running the host as an operator does: `once` runs every source even when
//! one fails and says so in its exit code; `set-aside list|retry|dismiss`
//! show what failed too often and bring it in once the cause is fixed.

use chrono::{Duration as ChronoDuration, Utc};
use o365_simulator::{
    ContentType, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT, FaultKind, FaultRule,
    Simulator, SimulatorConfig, Target,
};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Output;

#[path = "support/host_process.rs"]
mod host_process;
use host_process::{HOST, cache_dir, text};

struct Operator {
    sim: Simulator,
    dir: tempfile::TempDir,
}

impl Operator {
    async fn new() -> Self {
        Self {
            sim: Simulator::start(SimulatorConfig::default()).await.unwrap(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn events(&self, source: &str) -> PathBuf {
        self.dir.path().join(format!("events/{source}.jsonl"))
    }

    /// `o365-host <command> <args>` against the simulator, with its
    /// credentials, no request pacing and this operator's directories.
    async fn run(&self, command: &[&str], args: &[&str]) -> Output {
        let api = self.sim.url();
        let cache = cache_dir();
        tokio::process::Command::new(HOST)
            .args(command)
            .args([
                "--api",
                &api,
                "--authority",
                &api,
                "--tenant",
                DEFAULT_TENANT,
            ])
            .args([
                "--client-id",
                DEFAULT_CLIENT_ID,
                "--client-secret",
                DEFAULT_CLIENT_SECRET,
            ])
            .args(["--set", "O365_REQUESTS_PER_MINUTE=0"])
            .args(["--set", "MESSAGE_TRACES_REQUESTS_PER_5_MINUTES=0"])
            .arg("--state-dir")
            .arg(self.state())
            .arg("--out-dir")
            .arg(self.dir.path().join("events"))
            .args(args)
            .env("O365_COMPONENT_CACHE_DIR", cache)
            .env("O365_LOG", "warn")
            .output()
            .await
            .expect("o365-host runs")
    }

    /// `o365-host set-aside <command>` on this operator's checkpoints.
    async fn set_aside(&self, command: &str, args: &[&str]) -> Output {
        tokio::process::Command::new(HOST)
            .args(["set-aside", command, "--tenant", DEFAULT_TENANT])
            .arg("--state-dir")
            .arg(self.state())
            .args(args)
            .output()
            .await
            .expect("o365-host runs")
    }

    fn ids(&self, source: &str) -> BTreeSet<String> {
        std::fs::read_to_string(self.events(source))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_runs_every_source_when_one_fails_and_exits_2() {
    let op = Operator::new().await;
    op.sim.faults().add(FaultRule::new(
        Target::SubscriptionsList,
        FaultKind::Forbidden {
            message: "The app has no ActivityFeed.Read permission".into(),
        },
    ));
    let out = op.run(&["once"], &[]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("audit: INCOMPLETE"), "{stderr}");
    assert!(stderr.contains("message-trace: complete"), "{stderr}");
    assert!(
        !op.ids("message-trace").is_empty(),
        "message traces were skipped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_aside_blob_is_listed_with_its_cause_and_retried_once_fixed() {
    let op = Operator::new().await;
    let now = Utc::now();
    let truth = op.sim.audit_truth(
        DEFAULT_TENANT,
        now - ChronoDuration::hours(20)..now - ChronoDuration::hours(1),
    );
    let bad = truth
        .iter()
        .find(|t| t.content_type == ContentType::Exchange)
        .expect("a blob")
        .content_id
        .clone();
    op.sim
        .faults()
        .add(FaultRule::new(Target::ContentBlob, FaultKind::Malformed).content_id(&bad));

    let out = op
        .run(&["once"], &["--sources", "audit", "--set-aside-after", "1"])
        .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("set aside: 1 item(s)"), "{stderr}");

    let list = op.set_aside("list", &[]).await;
    let stdout = text(&list.stdout);
    assert!(list.status.success(), "{}", text(&list.stderr));
    assert!(
        stdout.contains(&bad) && stdout.contains("content-blob"),
        "{stdout}"
    );
    let json = op.set_aside("list", &["--json"]).await;
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows[0]["source"], "audit");
    assert_eq!(rows[0]["entry"]["item"]["key"], bad.as_str());
    assert!(rows[0]["entry"]["cause"].as_str().unwrap().contains(&bad));
    let missing: Vec<_> = truth
        .iter()
        .filter(|t| t.content_id == bad && !t.ignored_source)
        .map(|t| t.event_id.clone())
        .collect();
    assert!(!missing.is_empty());
    assert!(missing.iter().all(|id| !op.ids("audit").contains(id)));

    // The cause is fixed: the retry publishes the blob and empties the list.
    op.sim.faults().clear();
    let out = op
        .run(&["set-aside", "retry"], &["--sources", "audit"])
        .await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("retrying 1 set-aside item(s)"), "{stderr}");
    let published = op.ids("audit");
    assert!(missing.iter().all(|id| published.contains(id)));
    let list = op.set_aside("list", &[]).await;
    assert!(
        text(&list.stdout).contains("nothing is set aside"),
        "{}",
        text(&list.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dismissed_item_leaves_the_list() {
    let op = Operator::new().await;
    let now = Utc::now();
    let bad = op
        .sim
        .audit_truth(
            DEFAULT_TENANT,
            now - ChronoDuration::hours(20)..now - ChronoDuration::hours(1),
        )
        .into_iter()
        .find(|t| t.content_type == ContentType::SharePoint)
        .expect("a blob")
        .content_id;
    op.sim
        .faults()
        .add(FaultRule::new(Target::ContentBlob, FaultKind::Malformed).content_id(&bad));
    op.run(&["once"], &["--sources", "audit", "--set-aside-after", "1"])
        .await;
    let out = op.set_aside("dismiss", &["--key", &bad]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("dismissed 1 item(s)"));
    let list = op.set_aside("list", &[]).await;
    assert!(text(&list.stdout).contains("nothing is set aside"));
}
