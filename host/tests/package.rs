//! The deployment package as Azure Functions runs it, without Azure: the
//! package `infra/hooks/package.sh` assembles from the built host, the
//! repository's `functions/` and the built components is started the way the
//! Functions host starts a custom handler (host.json's
//! `customHandler.description`: the executable resolved against the package
//! directory, its `arguments`, the package as working directory,
//! `FUNCTIONS_CUSTOMHANDLER_PORT` and `FUNCTIONS_APP_ROOT_PATH` set), then
//! invoked with the timer requests the Functions host sends, against the
//! simulator of the Microsoft APIs.
//!
//! It proves: the package runs both timer functions and publishes what the
//! simulator served; it still starts when the zip deployment dropped the
//! binary's executable bit (the launcher); and the metric lines it writes
//! (which the Functions host records in Application Insights) carry every
//! metric the workbook queries, with the tenant and source, and values that
//! match the run (events written, checkpoint, packaged component digests).
//!
//! What it does not prove: the Functions host itself (not installable here;
//! its side, as read in azure-functions-host, is mirrored in
//! [`FunctionsHost::start`]).

#[path = "support/workbook.rs"]
mod workbook;

use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use o365_simulator::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT, Simulator, SimulatorConfig,
    TenantSpec,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

const HOST: &str = env!("CARGO_BIN_EXE_o365-host");
const SOURCES: [&str; 2] = ["audit", "message-trace"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `infra/hooks/package.sh` on this test's host and components, with the
/// repository's Functions project, into `out`.
fn package(out: &Path) {
    let guests = Path::new(connector_artifacts::AUDIT_PATH).parent().unwrap();
    let result = std::process::Command::new("bash")
        .arg(repo().join("infra/hooks/package.sh"))
        .arg("--binary")
        .arg(HOST)
        .arg("--components")
        .arg(guests)
        .arg("--functions")
        .arg(repo().join("functions"))
        .arg("--out")
        .arg(out)
        .output()
        .expect("bash runs");
    assert!(
        result.status.success(),
        "package.sh failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// `package.txt`'s `key=value` lines.
fn package_info(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(dir.join("package.txt"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The handler process, started as the Functions host starts it.
struct FunctionsHost {
    child: Child,
    /// stdout and stderr, which the Functions host records (category
    /// `Host.Function.Console`), read as they come.
    output: tokio::task::JoinHandle<(String, String)>,
    base: String,
    http: reqwest::Client,
}

impl FunctionsHost {
    /// Starts the package in `dir` as azure-functions-host does
    /// (`HttpWorkerDescription.ApplyDefaultsAndValidate`,
    /// `HttpWorkerOptionsSetup`, `HttpWorkerProcess.CreateWorkerProcess`): a
    /// relative `defaultExecutablePath` that exists in the package is made
    /// absolute, otherwise it is looked up on PATH; the arguments are
    /// `arguments`, then `defaultWorkerPath`, then `workerArguments`; the
    /// working directory is the package; the port and the app root are in
    /// the environment. Waits until `GET /` answers, as the Functions host
    /// does.
    async fn start(dir: &Path, app_settings: &[(&str, String)]) -> Self {
        let host_json: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("host.json")).unwrap()).unwrap();
        let description = &host_json["customHandler"]["description"];
        let executable = description["defaultExecutablePath"].as_str().unwrap();
        let executable = if !Path::new(executable).is_absolute() && dir.join(executable).exists() {
            dir.join(executable)
        } else {
            PathBuf::from(executable)
        };
        let list = |key: &str| -> Vec<String> {
            description[key]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
                .unwrap_or_default()
        };
        let mut args = list("arguments");
        if let Some(worker) = description["defaultWorkerPath"].as_str() {
            args.push(worker.to_string());
        }
        args.extend(list("workerArguments"));

        let port = free_port();
        let mut command = Command::new(&executable);
        command
            .args(&args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("FUNCTIONS_HTTPWORKER_PORT", port.to_string())
            .env("FUNCTIONS_APP_ROOT_PATH", dir)
            .env(
                "O365_COMPONENT_CACHE_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("package-component-cache"),
            )
            .kill_on_drop(true)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (name, value) in app_settings {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", executable.display()));
        let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let output = tokio::spawn(async move {
            use tokio::io::AsyncReadExt as _;
            let (mut o, mut e) = (Vec::new(), Vec::new());
            let _ = tokio::join!(out.read_to_end(&mut o), err.read_to_end(&mut e));
            (
                String::from_utf8_lossy(&o).into_owned(),
                String::from_utf8_lossy(&e).into_owned(),
            )
        });
        let host = Self {
            child,
            output,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if host.http.get(&host.base).send().await.is_ok() {
                return host;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (stdout, stderr) = host.stop().await;
        panic!("the handler did not answer GET / within 60 s:\n{stdout}\n{stderr}");
    }

    async fn about(&self) -> Value {
        let response = self.http.get(&self.base).send().await.unwrap();
        response.json().await.unwrap()
    }

    /// A timer invocation of `function`, as the Functions host posts it.
    async fn invoke(&self, function: &str) -> (u16, Value) {
        let now = Utc::now();
        let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, false);
        let body = json!({
            "Data": {"timer": {
                "Schedule": {"AdjustForDST": true},
                "ScheduleStatus": {
                    "Last": at(now - ChronoDuration::minutes(5)),
                    "Next": at(now + ChronoDuration::minutes(5)),
                    "LastUpdated": at(now - ChronoDuration::minutes(5)),
                },
                "IsPastDue": false
            }},
            "Metadata": {"sys": {
                "MethodName": function,
                "UtcNow": now.to_rfc3339_opts(SecondsFormat::Micros, true),
                "RandGuid": "0f8fad5b-d9cb-469f-a165-70867728950e"
            }}
        });
        let response = self
            .http
            .post(format!("{}/{function}", self.base))
            .header("Content-Type", "application/json")
            .header(
                "X-Azure-Functions-InvocationId",
                "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            )
            .header("User-Agent", "Azure-Functions-Host/4.1040.300.0")
            .body(body.to_string())
            .send()
            .await
            .expect("the handler answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("the answer is not JSON ({e}): {text}"));
        (status, body)
    }

    /// Stops the handler: its stdout and stderr.
    async fn stop(mut self) -> (String, String) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
        self.output.await.unwrap()
    }
}

/// A simulator with one tenant, and a state directory resumed from the
/// previous version's checkpoints three hours back.
struct Setup {
    sim: Simulator,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Self {
        let mut tenant = TenantSpec::new(DEFAULT_TENANT, 14);
        tenant.audit_blobs_per_hour = 4;
        tenant.audit_events_per_blob = 5;
        tenant.traces_per_hour = 60;
        let sim = Simulator::start(SimulatorConfig {
            tenants: vec![tenant],
            ..SimulatorConfig::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let start = Utc::now() - ChronoDuration::hours(3);
        for container in ["auditlogstate", "messagetracestate"] {
            let legacy = dir.path().join("state").join(container);
            std::fs::create_dir_all(&legacy).unwrap();
            std::fs::write(
                legacy.join("last_successfull_fetch_on"),
                start.to_rfc3339_opts(SecondsFormat::Millis, true),
            )
            .unwrap();
        }
        Self { sim, dir }
    }

    /// The app settings: the simulator's tenant and app, local state and
    /// output, and every API at the simulator (the settings `--api` would
    /// set: the package is started with host.json's arguments only, so
    /// everything comes from the environment, as in Azure).
    fn app_settings(&self) -> Vec<(&'static str, String)> {
        let path = |name: &str| self.dir.path().join(name).display().to_string();
        vec![
            ("ENTRA_TENANT_ID", DEFAULT_TENANT.to_string()),
            ("ENTRA_APP_CLIENT_ID", DEFAULT_CLIENT_ID.to_string()),
            ("ENTRA_APP_CLIENT_SECRET", DEFAULT_CLIENT_SECRET.to_string()),
            ("ENTRA_AUTHORITY_HOST", self.sim.url()),
            ("O365_MANAGEMENT_API", self.sim.url()),
            ("MESSAGE_TRACES_GRAPH_API", self.sim.url()),
            ("EXCHANGE_REPORTING_API", self.sim.url()),
            ("O365_STATE_DIR", path("state")),
            ("O365_OUTPUT_DIR", path("events")),
            ("O365_REQUESTS_PER_MINUTE", "0".to_string()),
            ("MESSAGE_TRACES_REQUESTS_PER_5_MINUTES", "0".to_string()),
            ("O365_LOG", "info".to_string()),
        ]
    }

    fn lines(&self, source: &str) -> usize {
        std::fs::read_to_string(self.dir.path().join(format!("events/{source}.jsonl")))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    fn high_water_mark(&self, source: &str) -> i64 {
        let text = std::fs::read_to_string(
            self.dir
                .path()
                .join(format!("state/{source}/{DEFAULT_TENANT}.json")),
        )
        .expect("a checkpoint");
        let checkpoint: Value = serde_json::from_str(&text).unwrap();
        checkpoint["highWaterMark"].as_i64().unwrap()
    }
}

/// A packaged handler that ran both timer functions once: the package
/// directory, the answers, and the handler's stdout and stderr.
struct Run {
    setup: Setup,
    package: tempfile::TempDir,
    answers: BTreeMap<String, (u16, Value)>,
    about: Value,
    stdout: String,
    stderr: String,
}

/// Packages, optionally drops the binary's mode as an extraction without
/// Unix modes does, starts the package as Functions, invokes both timers.
async fn run_package(drop_exec_bit: bool) -> Run {
    let setup = Setup::new().await;
    let package_dir = tempfile::tempdir().unwrap();
    package(package_dir.path());
    if drop_exec_bit {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            package_dir.path().join("o365-host"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }
    let host = FunctionsHost::start(package_dir.path(), &setup.app_settings()).await;
    let about = host.about().await;
    let mut answers = BTreeMap::new();
    for function in ["fetchAuditLogs", "fetchMessageTraces"] {
        answers.insert(function.to_string(), host.invoke(function).await);
    }
    let (stdout, stderr) = host.stop().await;
    Run {
        setup,
        package: package_dir,
        answers,
        about,
        stdout,
        stderr,
    }
}

impl Run {
    fn assert_both_functions_succeeded(&self) {
        for (function, (status, body)) in &self.answers {
            assert_eq!(
                *status, 200,
                "{function}: {body}\n--- stderr:\n{}",
                self.stderr
            );
            assert_eq!(body["Outputs"]["reports"][0]["complete"], true, "{body}");
        }
        for source in SOURCES {
            assert!(self.setup.lines(source) > 0, "{source}: events written");
        }
    }

    /// The JSON lines of the process output that carry a metric, each
    /// checked to pass the workbook's cheap pre-filter on the raw `message`
    /// (`startswith '{' and contains '"metric":'`) before `parse_json`.
    fn metric_lines(&self) -> Vec<Value> {
        let mut lines = Vec::new();
        for raw in self.stdout.lines().chain(self.stderr.lines()) {
            let Ok(json) = serde_json::from_str::<Value>(raw) else {
                continue;
            };
            if json["fields"]["metric"].is_string() {
                assert!(
                    raw.starts_with('{') && raw.contains("\"metric\":"),
                    "the workbook's filter would miss: {raw}"
                );
                lines.push(json);
            }
        }
        lines
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_package_started_as_functions_starts_it_runs_both_timer_functions() {
    let run = run_package(false).await;
    run.assert_both_functions_succeeded();
    // The handler found host.json's functionTimeout through the app root the
    // Functions host passes, not a default.
    assert_eq!(run.about["functionTimeout"], "10m", "{}", run.about);
    assert!(
        run.about["functionTimeoutFrom"]
            .as_str()
            .unwrap()
            .ends_with("host.json"),
        "{}",
        run.about
    );
    // Every line the process writes is one JSON object (host.json's
    // `--log-format json`): what Application Insights receives, line by line.
    for line in run.stderr.lines().chain(run.stdout.lines()) {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not a JSON line: {line}"
        );
    }
    assert!(
        !run.stderr.contains("is not executable"),
        "the launcher ran the binary directly"
    );
    // The package carries the components built with the host, and the
    // digests package.txt records are theirs.
    let info = package_info(run.package.path());
    for name in ["audit", "message_trace_graph", "message_trace_reporting"] {
        let bytes = std::fs::read(run.package.path().join(format!("components/{name}.wasm")))
            .unwrap_or_else(|e| panic!("components/{name}.wasm: {e}"));
        assert_eq!(
            info[&format!("component_sha256_{name}")],
            sha256_hex(&bytes),
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_whose_binary_lost_its_executable_bit_still_starts() {
    // What an extraction without Unix modes leaves: the binary cannot be
    // executed, which is what starting it directly from host.json would
    // meet on a read-only mount where the Functions host cannot chmod it.
    let probe = tempfile::tempdir().unwrap();
    package(probe.path());
    use std::os::unix::fs::PermissionsExt as _;
    let binary = probe.path().join("o365-host");
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o644)).unwrap();
    let direct = std::process::Command::new(&binary)
        .arg("--version")
        .output();
    assert_eq!(
        direct.map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::PermissionDenied),
        "a binary without its mode does not start by itself"
    );

    let run = run_package(true).await;
    run.assert_both_functions_succeeded();
    assert!(
        run.stderr.contains(
            "is not executable (the zip deployment dropped its mode); starting it through"
        ),
        "the launcher says what it did:\n{}",
        run.stderr
    );
    // Through the loader the executable is ld.so, not o365-host: host.json is
    // still found, through FUNCTIONS_APP_ROOT_PATH.
    assert_eq!(run.about["functionTimeout"], "10m", "{}", run.about);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_workbook_queries_is_emitted_with_tenant_and_source() {
    let run = run_package(false).await;
    run.assert_both_functions_succeeded();
    let lines = run.metric_lines();
    // (metric, source) → the lines, all for the simulator's tenant.
    let mut seen: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for line in &lines {
        let fields = &line["fields"];
        assert!(fields["value"].is_number(), "{line}");
        assert_eq!(fields["tenant"], DEFAULT_TENANT, "{line}");
        let source = fields["source"].as_str().expect("a source");
        assert!(SOURCES.contains(&source), "{line}");
        let metric = fields["metric"].as_str().unwrap();
        assert!(
            o365_host::telemetry::catalog::find(metric).is_some() || metric.starts_with("lost_"),
            "`{metric}` is not in the catalog: {line}"
        );
        seen.entry((metric.to_string(), source.to_string()))
            .or_default()
            .push(line);
    }
    let queried = workbook::workbook_metrics(&repo());
    assert!(queried.len() >= 10, "{queried:?}");
    for metric in &queried {
        let entry = o365_host::telemetry::catalog::find(metric).unwrap();
        if entry.when == o365_host::telemetry::catalog::When::OnOccurrence {
            continue; // Nothing failed in this run; sink tests cover these.
        }
        for source in SOURCES {
            assert!(
                seen.contains_key(&(metric.clone(), source.to_string())),
                "the workbook queries `{metric}`, which the packaged host did not emit for \
                 {source}; emitted: {:?}",
                seen.keys().collect::<Vec<_>>()
            );
        }
    }

    // The values are the run's: events published = events written …
    for source in SOURCES {
        let sum = |metric: &str| -> f64 {
            seen.get(&(metric.to_string(), source.to_string()))
                .map(|l| {
                    l.iter()
                        .map(|j| j["fields"]["value"].as_f64().unwrap())
                        .sum()
                })
                .unwrap_or(0.0)
        };
        assert_eq!(
            sum("events_published") as usize,
            run.setup.lines(source),
            "{source}"
        );
        let report = &run.answers[if source == "audit" {
            "fetchAuditLogs"
        } else {
            "fetchMessageTraces"
        }]
        .1["Outputs"]["reports"][0];
        assert_eq!(
            sum("batches") as u64,
            report["summary"]["items"].as_u64().unwrap(),
            "{source}"
        );
        assert_eq!(sum("cycle_complete"), 1.0, "{source}");
        // … the last lag is the line's own time minus the checkpoint's
        // high-water mark.
        let last_lag = seen[&("lag_seconds".to_string(), source.to_string())]
            .last()
            .copied()
            .unwrap();
        let at = DateTime::parse_from_rfc3339(last_lag["timestamp"].as_str().unwrap())
            .unwrap()
            .timestamp_millis();
        let expected = (at - run.setup.high_water_mark(source)) as f64 / 1000.0;
        let lag = last_lag["fields"]["value"].as_f64().unwrap();
        assert!(
            (lag - expected).abs() < 1.0,
            "{source}: lag {lag} s, expected {expected} s"
        );
    }
    // The live component is one of the packaged components, by digest.
    let info = package_info(run.package.path());
    let packaged: BTreeSet<&String> = info
        .iter()
        .filter(|(k, _)| k.starts_with("component_sha256_"))
        .map(|(_, v)| v)
        .collect();
    for source in SOURCES {
        let version = seen[&("component_version".to_string(), source.to_string())][0];
        let fields = &version["fields"];
        assert!(!fields["version"].as_str().unwrap().is_empty(), "{version}");
        assert!(
            !fields["component"].as_str().unwrap().is_empty(),
            "{version}"
        );
        assert!(
            packaged.contains(&fields["sha256"].as_str().unwrap().to_string()),
            "{source} runs a component that is not in the package: {version}"
        );
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_cycle_reports_incomplete_and_its_lag_keeps_counting() {
    let setup = Setup::new().await;
    // Every write of audit events fails (ENOSPC), so the audit cycle ends in
    // an error after it has read (imported) its checkpoint.
    let events = setup.dir.path().join("events");
    std::fs::create_dir_all(&events).unwrap();
    std::os::unix::fs::symlink("/dev/full", events.join("audit.jsonl")).unwrap();
    let package_dir = tempfile::tempdir().unwrap();
    package(package_dir.path());
    let host = FunctionsHost::start(package_dir.path(), &setup.app_settings()).await;
    let (status, body) = host.invoke("fetchAuditLogs").await;
    let (stdout, stderr) = host.stop().await;
    assert_eq!(status, 500, "{body}");
    let lines: Vec<Value> = stdout
        .lines()
        .chain(stderr.lines())
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|j| j["fields"]["metric"].is_string() && j["fields"]["source"] == "audit")
        .collect();
    let last = |metric: &str| {
        lines
            .iter()
            .rev()
            .find(|j| j["fields"]["metric"] == metric)
            .unwrap_or_else(|| panic!("no {metric} line for the failed cycle:\n{stderr}"))
    };
    assert_eq!(last("cycle_complete")["fields"]["value"], 0.0);
    // The checkpoint did not move: the lag is measured from where it stands.
    let lag = last("lag_seconds");
    let at = DateTime::parse_from_rfc3339(lag["timestamp"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let expected = (at - setup.high_water_mark("audit")) as f64 / 1000.0;
    let value = lag["fields"]["value"].as_f64().unwrap();
    assert!(
        (value - expected).abs() < 1.0 && value > 2.0 * 3600.0,
        "lag {value} s, expected {expected} s"
    );
    assert!(
        !lines
            .iter()
            .any(|j| j["fields"]["metric"] == "events_published"),
        "a failed cycle reports no totals it did not reach"
    );
}

/// `functions/launch.sh` refuses what it cannot start, saying what to do.
#[test]
fn the_launcher_says_why_it_cannot_start_the_host() {
    use std::os::unix::fs::PermissionsExt as _;
    let launcher = repo().join("functions/launch.sh");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&launcher, dir.path().join("launch.sh")).unwrap();
    let run = |env: &[(&str, &str)]| {
        std::process::Command::new("/bin/sh")
            .arg(dir.path().join("launch.sh"))
            .arg("--version")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    // No binary: an incomplete package.
    let missing = run(&[]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("is missing: the deployment package is incomplete"),
        "{missing:?}"
    );
    // A binary without its mode and no loader where it is looked for.
    std::fs::copy(HOST, dir.path().join("o365-host")).unwrap();
    std::fs::set_permissions(
        dir.path().join("o365-host"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let no_loader = run(&[("O365_DYNAMIC_LOADER", "/nonexistent/ld.so")]);
    assert_eq!(no_loader.status.code(), Some(126));
    assert!(
        String::from_utf8_lossy(&no_loader.stderr)
            .contains("the dynamic loader /nonexistent/ld.so is missing"),
        "{no_loader:?}"
    );
    // The same binary through the default loader: it runs, and says how.
    let through_loader = run(&[]);
    assert!(
        String::from_utf8_lossy(&through_loader.stdout).starts_with("o365-host "),
        "{through_loader:?}"
    );
    assert!(String::from_utf8_lossy(&through_loader.stderr).contains("launch.sh: warning:"));
}
