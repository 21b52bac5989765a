//! The `o365-host` binary as an operator uses it: `component inspect`,
//! `harness` against the simulator (plain and HTTPS), record and replay.

use chrono::{Duration as ChronoDuration, SecondsFormat, Utc};
use o365_simulator::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT, Simulator, SimulatorConfig,
};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

#[path = "support/host_process.rs"]
mod host_process;
use host_process::{HOST, cache_dir, text};

/// `o365-host` with `args`, a shared compile cache and none of the
/// operator's credentials from the environment.
fn command(args: &[&str]) -> Command {
    let mut command = Command::new(HOST);
    command
        .args(args)
        .env("O365_COMPONENT_CACHE_DIR", cache_dir())
        .env_remove("ENTRA_APP_CLIENT_ID")
        .env_remove("ENTRA_TENANT_ID");
    command
}

fn host(args: &[&str]) -> Output {
    command(args).output().expect("o365-host runs")
}

/// `host` for async tests, which keep the simulator running meanwhile.
async fn host_async(args: &[&str]) -> Output {
    tokio::process::Command::from(command(args))
        .output()
        .await
        .expect("o365-host runs")
}

#[test]
fn inspect_describes_the_audit_component() {
    let out = host(&["component", "inspect", connector_artifacts::AUDIT_PATH]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("component  audit 0.1.0"), "{stdout}");
    assert!(
        stdout.contains("contract   o365:connector@0.1.0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("instances  reusable: the calls of a cycle share warm instances"),
        "{stdout}"
    );
    assert!(
        stdout.contains("manage.office.com  token for https://manage.office.com"),
        "{stdout}"
    );
    assert!(stdout.contains("O365_EVENT_TYPES (list"), "{stdout}");

    let out = host(&[
        "component",
        "inspect",
        "--json",
        connector_artifacts::AUDIT_PATH,
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["name"], "audit");
    assert_eq!(json["maxWindowMs"], 86_400_000);
    assert_eq!(json["reusable"], true);
    assert_eq!(
        json["endpoints"][0]["audience"],
        "https://manage.office.com"
    );
}

#[test]
fn inspect_shows_what_is_asked_next_to_what_is_granted_and_fails_on_a_refusal() {
    let out = host(&[
        "component",
        "inspect",
        connector_artifacts::TESTBED_PATH,
        "--source",
        "audit",
        "--set",
        "TESTBED_MODE=steal-token",
        "--set",
        "TESTBED_API=https://manage.office.com",
        "--set",
        "TESTBED_AUDIENCE=https://manage.office.com",
        "--set",
        "TESTBED_FOREIGN_URL=https://evil.example/x",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // What it asks for, each with the verdict.
    assert!(
        stdout.contains(
            "  manage.office.com  token for https://manage.office.com, no pacing\n      \
             granted: token for https://manage.office.com, 2000 per 1m"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  evil.example  token for https://manage.office.com, no pacing\n      REFUSED: "
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("Setting that would grant it: O365_MANAGEMENT_API"),
        "{stdout}"
    );
    // What the settings grant the source.
    assert!(
        stdout.contains(
            "  manage.office.com  token for https://manage.office.com, 2000 per 1m (O365_MANAGEMENT_API)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("verdict    REFUSED"), "{stdout}");
}

#[test]
fn the_cloud_setting_moves_the_grant_and_the_components_defaults_together() {
    let out = host(&[
        "component",
        "inspect",
        connector_artifacts::AUDIT_PATH,
        "--set",
        "O365_CLOUD=gcchigh",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("  manage.office365.us  token for https://manage.office365.us, 2000 per 1m\n      granted"),
        "{stdout}"
    );
    let out = host(&[
        "component",
        "inspect",
        connector_artifacts::AUDIT_PATH,
        "--set",
        "O365_CLOUD=mars",
    ]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("O365_CLOUD = `mars` is not a cloud this host knows; use one of public, gcchigh, dod, china"),
        "{stderr}"
    );
}

#[test]
fn inspect_explains_what_is_wrong_with_a_file_that_is_not_a_connector() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 3] = [
        ("notes.txt", b"hello", "is not a WebAssembly file"),
        (
            "module.wasm",
            b"\0asm\x01\0\0\0",
            "is a core WebAssembly module, not a component",
        ),
        (
            "empty-component.wasm",
            b"\0asm\x0d\0\x01\0",
            "does not export `o365:connector/connector@0.1.0` (it exports: nothing)",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = host(&["component", "inspect", path.to_str().unwrap()]);
        assert!(!out.status.success(), "{name} was accepted");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(stderr.contains(name), "the error names the file: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// The harness window: three hours ending ten minutes ago, fixed so that the
/// simulator's ground truth for it is known.
fn window() -> (String, String, chrono::DateTime<Utc>, chrono::DateTime<Utc>) {
    let to = Utc::now() - ChronoDuration::minutes(10);
    let from = to - ChronoDuration::hours(3);
    (
        from.to_rfc3339_opts(SecondsFormat::Millis, true),
        to.to_rfc3339_opts(SecondsFormat::Millis, true),
        from,
        to,
    )
}

fn published_ids(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
            v["id"].as_str().unwrap().to_string()
        })
        .collect()
}

fn harness_args<'a>(api: &'a str, from: &'a str, to: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "harness",
        connector_artifacts::AUDIT_PATH,
        "--api",
        api,
        "--tenant",
        DEFAULT_TENANT,
        "--from",
        from,
        "--to",
        to,
        "--out",
        out,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_publishes_exactly_the_simulators_ground_truth_then_replays_it_offline() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (from, to, from_t, to_t) = window();
    let recorded = dir.path().join("recorded.jsonl");
    let recording = dir.path().join("recording");
    let api = sim.url();
    let mut args = harness_args(&api, &from, &to, recorded.to_str().unwrap());
    args.extend([
        "--client-id",
        DEFAULT_CLIENT_ID,
        "--client-secret",
        DEFAULT_CLIENT_SECRET,
        "--authority",
        &api,
        "--record",
        recording.to_str().unwrap(),
    ]);
    let out = host_async(&args).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("── summary ──"));

    let truth: BTreeSet<String> = sim
        .audit_truth(DEFAULT_TENANT, from_t..to_t)
        .into_iter()
        .filter(|t| !t.ignored_source)
        .map(|t| t.event_id)
        .collect();
    let ids = published_ids(&recorded);
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert!(!truth.is_empty());
    assert_eq!(unique, truth, "published ids differ from the ground truth");
    assert_eq!(ids.len(), unique.len(), "an event was published twice");

    // The recording holds no credential.
    let token_requests = sim
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.contains("oauth2"))
        .count();
    assert!(token_requests >= 1);
    for entry in std::fs::read_dir(&recording).unwrap() {
        let body = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(
            !body.to_ascii_lowercase().contains("bearer"),
            "a token was recorded"
        );
        assert!(!body.contains(DEFAULT_CLIENT_SECRET));
    }

    // Offline: the simulator is gone, the replay gives the same events.
    sim.shutdown().await;
    let replayed = dir.path().join("replayed.jsonl");
    let out = host(&[
        "harness",
        connector_artifacts::AUDIT_PATH,
        "--replay",
        recording.to_str().unwrap(),
        "--out",
        replayed.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut a = std::fs::read_to_string(&recorded)
        .unwrap()
        .lines()
        .map(String::from)
        .collect::<Vec<_>>();
    let mut b = std::fs::read_to_string(&replayed)
        .unwrap()
        .lines()
        .map(String::from)
        .collect::<Vec<_>>();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_works_over_https_with_a_trusted_test_ca() {
    let sim = Simulator::start(SimulatorConfig {
        tls: true,
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, sim.ca_pem().unwrap()).unwrap();
    let api = sim.https_url().unwrap();
    let (from, to, _, _) = window();
    let events = dir.path().join("events.jsonl");
    let mut args = harness_args(&api, &from, &to, events.to_str().unwrap());
    args.extend([
        "--client-id",
        DEFAULT_CLIENT_ID,
        "--client-secret",
        DEFAULT_CLIENT_SECRET,
        "--authority",
        &api,
        "--ca-cert",
        ca.to_str().unwrap(),
    ]);
    let out = host_async(&args).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!published_ids(&events).is_empty());

    // Without trusting the CA, the same run fails.
    let out = host_async(&harness_args(&api, &from, &to, events.to_str().unwrap())).await;
    assert!(!out.status.success());
}

#[test]
fn guest_output_is_captured_into_the_log_with_the_component_name() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let out = host(&[
        "harness",
        connector_artifacts::TESTBED_PATH,
        "--tenant",
        "tenant-x",
        "--set",
        "TESTBED_MODE=log",
        "--since",
        "1h",
        "--out",
        events.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    for needle in ["hello from stdout", "hello from stderr", "working on"] {
        let line = stderr
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no log line with {needle}: {stderr}"));
        assert!(
            line.contains("component=testbed") && line.contains("tenant=tenant-x"),
            "{line}"
        );
    }
    // Nothing the guest printed reached the host's stdout.
    assert!(!text(&out.stdout).contains("hello from"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_keeps_cycling_on_its_schedule_until_stopped() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let api = sim.url();
    let state = dir.path().join("state");
    let events = dir.path().join("events");
    let mut command = tokio::process::Command::from(command(&[
        "run",
        "--api",
        &api,
        "--authority",
        &api,
        "--tenant",
        DEFAULT_TENANT,
        "--client-id",
        DEFAULT_CLIENT_ID,
        "--client-secret",
        DEFAULT_CLIENT_SECRET,
        "--sources",
        "audit",
        // The simulator has no quota.
        "--set",
        "O365_REQUESTS_PER_MINUTE=0",
        "--state-dir",
        state.to_str().unwrap(),
        "--out-dir",
        events.to_str().unwrap(),
    ]));
    let mut child = command
        // Every two seconds, in the Functions timer syntax.
        .env("AUDIT_LOGS_INDEXER_SCHEDULE", "*/2 * * * * *")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
    let mut cycles = 0;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while cycles < 2 {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .expect("two cycles within a minute")
            .unwrap()
            .expect("run keeps running");
        if line.starts_with("audit: complete") {
            cycles += 1;
        }
    }
    child.kill().await.unwrap();
    assert!(!published_ids(&events.join("audit.jsonl")).is_empty());
    assert!(state.join(format!("audit/{DEFAULT_TENANT}.json")).exists());
}

#[test]
fn a_wrong_schedule_stops_the_start_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(&[
        "once",
        "--tenant",
        "t",
        "--sources",
        "audit",
        "--state-dir",
        dir.path().to_str().unwrap(),
    ])
    .env("AUDIT_LOGS_INDEXER_SCHEDULE", "*/5 * * * *")
    .output()
    .unwrap();
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("AUDIT_LOGS_INDEXER_SCHEDULE"), "{stderr}");
    assert!(stderr.contains("NCRONTAB"), "{stderr}");
}
