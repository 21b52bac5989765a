//! `o365-host serve` as the Azure Functions host drives it: the real binary
//! is started with `FUNCTIONS_CUSTOMHANDLER_PORT` (as the Functions host
//! starts a custom handler), pinged on `GET /` until it answers, and sent the
//! exact requests the Functions host sends for a timer trigger (path = the
//! function's folder name, the invocation headers, the `Data`/`Metadata`
//! payload with the timer object). The Functions host itself is not run:
//! what these tests prove is the handler's side of the documented protocol,
//! against the simulator of the Microsoft APIs, and the files the Functions
//! host would read (`functions/`).

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

/// `functions/` at the repository root: what the deployment package holds.
fn functions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("functions")
}

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("functions-component-cache")
}

/// A free local port (bound, then released for the handler).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `o365-host serve`.
struct Handler {
    child: Child,
    /// Its stderr (the process log), read as it comes (a full pipe would
    /// stall it).
    log: tokio::task::JoinHandle<String>,
    base: String,
    http: reqwest::Client,
}

impl Handler {
    /// Starts `serve` with `env` (app settings) and `args`, and waits until
    /// `GET /` answers, as the Functions host does.
    async fn start(env: &[(&str, String)], args: &[String]) -> Self {
        let port = free_port();
        let mut command = Command::new(HOST);
        command
            .arg("serve")
            .args(args)
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("O365_COMPONENT_CACHE_DIR", cache_dir())
            .env("O365_LOG", "info")
            .env_remove("ENTRA_TENANT_ID")
            .env_remove("ENTRA_APP_CLIENT_ID")
            .env_remove("ENTRA_APP_CLIENT_SECRET")
            .env_remove("O365_FUNCTION_TIMEOUT")
            .env_remove("FUNCTIONS_APP_ROOT_PATH")
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("o365-host starts");
        let mut pipe = child.stderr.take().unwrap();
        let log = tokio::spawn(async move {
            use tokio::io::AsyncReadExt as _;
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes).await;
            String::from_utf8_lossy(&bytes).into_owned()
        });
        let handler = Handler {
            child,
            log,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        // The Functions host gives a handler 60 seconds to answer.
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if handler.http.get(&handler.base).send().await.is_ok() {
                return handler;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the handler did not answer GET / within 60 s");
    }

    /// `GET /`.
    async fn about(&self) -> Value {
        self.http
            .get(&self.base)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Posts a timer invocation of `function` as the Functions host does;
    /// the status and the JSON body.
    async fn invoke(&self, function: &str, past_due: bool) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/{function}", self.base))
            .header("Content-Type", "application/json")
            .header("X-Azure-Functions-InvocationId", uuid_like())
            .header("X-Azure-Functions-HostVersion", "4.1040.300.0")
            .header("User-Agent", "Azure-Functions-Host/4.1040.300.0")
            .body(timer_request(function, past_due).to_string())
            .send()
            .await
            .expect("the handler answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("the answer is not JSON ({e}): {text}"));
        (status, body)
    }

    /// Stops the handler; its process log (stderr).
    async fn stop(mut self) -> String {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
        self.log.await.unwrap()
    }
}

fn uuid_like() -> String {
    let n: u128 = rand_u128();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn rand_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    (u128::from(h.finish()) << 64) | u128::from(h.finish().rotate_left(17))
}

/// The body the Functions host posts for a timer trigger: `Data` holds the
/// timer object under the binding's name (`timer` in our function.json),
/// `Metadata.sys` the method, time and a random GUID.
fn timer_request(function: &str, past_due: bool) -> Value {
    let now = Utc::now();
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, false);
    json!({
        "Data": {
            "timer": {
                "Schedule": {"AdjustForDST": true},
                "ScheduleStatus": {
                    "Last": at(now - ChronoDuration::minutes(5)),
                    "Next": at(now + ChronoDuration::minutes(5)),
                    "LastUpdated": at(now - ChronoDuration::minutes(5)),
                },
                "IsPastDue": past_due
            }
        },
        "Metadata": {
            "sys": {
                "MethodName": function,
                "UtcNow": now.to_rfc3339_opts(SecondsFormat::Micros, true),
                "RandGuid": uuid_like()
            }
        }
    })
}

/// A simulator and a state directory resumed from the previous version's
/// checkpoint `hours` back, for `source`.
struct Setup {
    sim: Simulator,
    dir: tempfile::TempDir,
    start: DateTime<Utc>,
}

impl Setup {
    async fn new(hours: i64, latency: Duration, blobs_per_hour: u32) -> Self {
        let mut tenant = TenantSpec::new(DEFAULT_TENANT, 21);
        tenant.audit_blobs_per_hour = blobs_per_hour;
        tenant.audit_events_per_blob = 5;
        tenant.traces_per_hour = 60;
        let sim = Simulator::start(SimulatorConfig {
            tenants: vec![tenant],
            latency,
            ..SimulatorConfig::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let start = Utc::now() - ChronoDuration::hours(hours);
        for container in ["auditlogstate", "messagetracestate"] {
            let legacy = dir.path().join("state").join(container);
            std::fs::create_dir_all(&legacy).unwrap();
            std::fs::write(
                legacy.join("last_successfull_fetch_on"),
                start.to_rfc3339_opts(SecondsFormat::Millis, true),
            )
            .unwrap();
        }
        Self { sim, dir, start }
    }

    /// App settings for the simulator's tenant and app.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ENTRA_TENANT_ID", DEFAULT_TENANT.to_string()),
            ("ENTRA_APP_CLIENT_ID", DEFAULT_CLIENT_ID.to_string()),
            ("ENTRA_APP_CLIENT_SECRET", DEFAULT_CLIENT_SECRET.to_string()),
            ("ENTRA_AUTHORITY_HOST", self.sim.url()),
            ("O365_STATE_DIR", self.path("state")),
            ("O365_OUTPUT_DIR", self.path("events")),
            // The simulator has no quota; pacing has its own tests.
            ("O365_REQUESTS_PER_MINUTE", "0".to_string()),
            ("MESSAGE_TRACES_REQUESTS_PER_5_MINUTES", "0".to_string()),
        ]
    }

    /// `--api`: every API at the simulator.
    fn args(&self) -> Vec<String> {
        vec!["--api".into(), self.sim.url()]
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn checkpoint(&self, source: &str) -> Option<Value> {
        let text = std::fs::read_to_string(
            self.dir
                .path()
                .join(format!("state/{source}/{DEFAULT_TENANT}.json")),
        )
        .ok()?;
        Some(serde_json::from_str(&text).expect("the checkpoint is JSON"))
    }

    fn high_water_mark(&self, source: &str) -> DateTime<Utc> {
        let checkpoint = self.checkpoint(source).expect("a checkpoint");
        DateTime::from_timestamp_millis(checkpoint["highWaterMark"].as_i64().unwrap()).unwrap()
    }

    /// Published audit events by id, with how often each was published.
    fn audit_published(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        let text =
            std::fs::read_to_string(self.dir.path().join("events/audit.jsonl")).unwrap_or_default();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).expect("every line is whole JSON");
            *counts
                .entry(v["id"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
        counts
    }

    /// Every audit event the simulator served for blobs created before `until`.
    fn audit_truth(&self, until: DateTime<Utc>) -> BTreeSet<String> {
        self.sim
            .audit_truth(DEFAULT_TENANT, self.start..until)
            .into_iter()
            .filter(|t| !t.ignored_source)
            .map(|t| t.event_id)
            .collect()
    }

    fn lines(&self, name: &str) -> usize {
        std::fs::read_to_string(self.dir.path().join(format!("events/{name}.jsonl")))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

fn logs(body: &Value) -> Vec<String> {
    body["Logs"]
        .as_array()
        .unwrap_or_else(|| panic!("Logs is an array: {body}"))
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

/// The answer has exactly the documented members.
fn assert_documented_shape(body: &Value) {
    let keys: BTreeSet<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["Logs", "Outputs", "ReturnValue"]),
        "{body}"
    );
    assert!(body["Outputs"].is_object(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_invocations_publish_events_and_advance_the_checkpoints() {
    let setup = Setup::new(3, Duration::ZERO, 4).await;
    let handler = Handler::start(&setup.env(), &setup.args()).await;
    // Both timers fire at the same minute: the Functions host invokes both.
    let ((audit_status, audit), (traces_status, traces)) = tokio::join!(
        handler.invoke("fetchAuditLogs", false),
        handler.invoke("fetchMessageTraces", true)
    );
    let log = handler.stop().await;

    assert_eq!(audit_status, 200, "{audit}");
    assert_documented_shape(&audit);
    let lines = logs(&audit);
    assert!(
        lines[0].starts_with(&format!("audit (tenant {DEFAULT_TENANT}): complete: ")),
        "{lines:?}"
    );
    assert_eq!(audit["Outputs"]["reports"][0]["complete"], true, "{audit}");
    assert_eq!(audit["ReturnValue"], "fetchAuditLogs: succeeded");

    // Events written, nothing missing against the ground truth, and the
    // checkpoint moved from the imported one to (about) now.
    let until = setup.high_water_mark("audit");
    assert!(until > Utc::now() - ChronoDuration::minutes(5), "{until}");
    let published = setup.audit_published();
    let truth = setup.audit_truth(until);
    assert!(!truth.is_empty());
    let missing: Vec<_> = truth
        .iter()
        .filter(|id| !published.contains_key(*id))
        .collect();
    assert!(missing.is_empty(), "{} events missing", missing.len());

    assert_eq!(traces_status, 200, "{traces}");
    assert_documented_shape(&traces);
    let lines = logs(&traces);
    assert!(
        lines[0].contains("the timer is past due"),
        "IsPastDue is reported: {lines:?}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "message-trace (tenant {DEFAULT_TENANT}): complete: "
        )),
        "{lines:?}"
    );
    assert!(setup.lines("message-trace") > 0, "message traces written");
    assert!(
        setup.high_water_mark("message-trace") > setup.start + ChronoDuration::hours(2),
        "the message-trace checkpoint advanced"
    );

    // Logs also reach the process log, which the Functions host collects
    // (host.json passes --log-format json; here the default text).
    assert!(log.contains("audit (tenant"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_invocation_while_one_runs_skips_instead_of_running_twice() {
    // Slow answers keep the first cycle running while the second arrives
    // (a manual run from the portal during a timer run, say).
    let setup = Setup::new(6, Duration::from_millis(100), 4).await;
    let mut env = setup.env();
    env.push(("O365_SOURCES", "audit".to_string()));
    let handler = Handler::start(&env, &setup.args()).await;
    let first = handler.invoke("fetchAuditLogs", false);
    let second = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        handler.invoke("fetchAuditLogs", false).await
    };
    let ((first_status, first), (second_status, second)) = tokio::join!(first, second);
    handler.stop().await;
    assert_eq!(first_status, 200, "{first}");
    assert_eq!(first["Outputs"]["reports"][0]["complete"], true);
    assert_eq!(
        second_status, 200,
        "a busy lease is not a failure: {second}"
    );
    assert_eq!(
        logs(&second),
        [format!(
            "audit (tenant {DEFAULT_TENANT}): skipped, another instance holds this tenant's lease for this source"
        )]
    );
    let published = setup.audit_published();
    assert!(published.values().all(|n| *n == 1), "published twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_credential_fails_the_invocation_with_the_cause_in_its_logs() {
    let setup = Setup::new(2, Duration::ZERO, 4).await;
    let mut env = setup.env();
    env.retain(|(name, _)| *name != "ENTRA_APP_CLIENT_SECRET");
    env.push(("ENTRA_APP_CLIENT_SECRET", "not-the-secret".to_string()));
    // As host.json starts it: JSON log lines.
    let mut args = setup.args();
    args.extend(["--log-format".to_string(), "json".to_string()]);
    let handler = Handler::start(&env, &args).await;
    let (status, body) = handler.invoke("fetchAuditLogs", false).await;
    let log = handler.stop().await;

    assert_eq!(status, 500, "a failed cycle is a failed invocation: {body}");
    assert_documented_shape(&body);
    assert_eq!(body["ReturnValue"], "fetchAuditLogs: failed");
    let lines = logs(&body);
    let cause = lines
        .iter()
        .find(|l| l.contains("failed") || l.contains("FAILED"))
        .unwrap_or_else(|| panic!("a line names the failure: {lines:?}"));
    assert!(
        cause.contains("invalid_client") || cause.to_lowercase().contains("secret"),
        "the line names the cause: {cause}"
    );
    // The Functions host does not read a failed answer's body: the same
    // line is in the process log it collects (stderr, where a line with
    // "error" is recorded as an error), a JSON line tagged with the function
    // and the invocation id.
    let logged: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let line = logged
        .iter()
        .find(|l| l["fields"]["message"] == cause.as_str())
        .unwrap_or_else(|| panic!("the cause is in the process log: {log}"));
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["span"]["function"], "fetchAuditLogs");
    assert!(
        line["span"]["invocation_id"].as_str().unwrap().len() == 36,
        "{line}"
    );
    // Nothing published, and the checkpoint did not move past the import.
    assert_eq!(setup.lines("audit"), 0);
    if let Some(checkpoint) = setup.checkpoint("audit") {
        let mark = checkpoint["highWaterMark"].as_i64().unwrap();
        assert!(mark <= setup.start.timestamp_millis(), "{checkpoint}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_answering_401_fails_the_invocation_and_keeps_the_checkpoint() {
    let setup = Setup::new(2, Duration::ZERO, 4).await;
    setup.sim.faults().add(o365_simulator::FaultRule::new(
        o365_simulator::Target::ContentList,
        o365_simulator::FaultKind::Unauthorized,
    ));
    let handler = Handler::start(&setup.env(), &setup.args()).await;
    let (status, body) = handler.invoke("fetchAuditLogs", false).await;
    handler.stop().await;
    assert_eq!(status, 500, "{body}");
    let lines = logs(&body);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("failed:") && l.contains("401")),
        "a line names the refusal: {lines:?}"
    );
    assert_eq!(setup.lines("audit"), 0);
    let mark = setup.checkpoint("audit").expect("saved")["highWaterMark"]
        .as_i64()
        .unwrap();
    assert!(
        mark <= setup.start.timestamp_millis(),
        "the checkpoint stayed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_setting_fails_every_invocation_naming_the_setting_while_the_handler_stays_up() {
    let setup = Setup::new(1, Duration::ZERO, 4).await;
    let mut env = setup.env();
    env.retain(|(name, _)| *name != "ENTRA_TENANT_ID");
    let handler = Handler::start(&env, &setup.args()).await;
    // The handler answers the Functions host's ping although it cannot run.
    let about = handler.about().await;
    assert!(about["functions"].is_array(), "{about}");
    for function in ["fetchAuditLogs", "fetchMessageTraces"] {
        let (status, body) = handler.invoke(function, false).await;
        assert_eq!(status, 500, "{body}");
        let lines = logs(&body);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("the host could not start") && l.contains("ENTRA_TENANT_ID")),
            "{lines:?}"
        );
    }
    handler.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_cuts_a_long_catch_up_which_the_next_invocations_finish_losing_nothing() {
    // About 26 hours of audit content behind slow API answers: far more
    // than one invocation with a 4-second timeout can do.
    let setup = Setup::new(26, Duration::from_millis(60), 3).await;
    let mut env = setup.env();
    env.push(("O365_FUNCTION_TIMEOUT", "4s".to_string()));
    env.push(("O365_CONCURRENCY", "3".to_string()));
    env.push(("O365_SOURCES", "audit".to_string()));
    let handler = Handler::start(&env, &setup.args()).await;
    let about = handler.about().await;
    assert_eq!(about["functionTimeout"], "4s", "{about}");
    assert_eq!(about["functionTimeoutFrom"], "O365_FUNCTION_TIMEOUT");

    let mut cut = 0;
    let mut finished = false;
    let mut seen_marks = Vec::new();
    let mut published_after_first_cut = 0;
    let mut answered_after = Vec::new();
    for _ in 0..40 {
        let began = Instant::now();
        let (status, body) = handler.invoke("fetchAuditLogs", false).await;
        let took = began.elapsed();
        answered_after.push(took.as_millis());
        assert!(
            took < Duration::from_secs(4),
            "the invocation answered after {took:?}, past its 4 s timeout"
        );
        assert_documented_shape(&body);
        if status == 200 {
            finished = true;
            break;
        }
        assert_eq!(status, 500, "{body}");
        let lines = logs(&body);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("stopped before the function timeout of 4s")),
            "{lines:?}"
        );
        assert_eq!(body["Outputs"]["reports"][0]["complete"], false);
        // Saved mid-way: published work is in the checkpoint.
        let checkpoint = setup.checkpoint("audit").expect("a checkpoint after a cut");
        seen_marks.push((
            checkpoint["highWaterMark"].as_i64().unwrap(),
            checkpoint["slice"]["outstanding"]
                .as_array()
                .map_or(0, Vec::len),
        ));
        if cut == 0 {
            published_after_first_cut = setup.audit_published().len();
        }
        cut += 1;
    }
    handler.stop().await;
    assert!(finished, "never finished in 40 invocations: {seen_marks:?}");
    assert!(
        cut >= 2,
        "only {cut} invocations were cut: the test did not exercise the deadline"
    );

    let until = setup.high_water_mark("audit");
    assert!(until > Utc::now() - ChronoDuration::minutes(5), "{until}");
    let published = setup.audit_published();
    let truth = setup.audit_truth(until);
    let missing: Vec<_> = truth
        .iter()
        .filter(|id| !published.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} events missing after {cut} cut invocations",
        missing.len(),
        truth.len()
    );
    // A cut item either finished (its events acknowledged and recorded) or
    // was dropped before publishing anything: nothing comes twice.
    let duplicates: usize = published.values().map(|n| n - 1).sum();
    assert_eq!(duplicates, 0, "events published twice across cuts");
    assert!(
        published_after_first_cut > 0 && published_after_first_cut < truth.len(),
        "the first invocation published part of the catch-up ({published_after_first_cut} of {})",
        truth.len()
    );
    eprintln!(
        "deadline: {cut} invocations cut, {} events ({published_after_first_cut} after the first); answered after {answered_after:?} ms; marks {seen_marks:?}",
        truth.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_timeout_of_host_json_is_the_one_a_run_stops_before() {
    let setup = Setup::new(26, Duration::from_millis(60), 3).await;
    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("host.json"),
        r#"{"version": "2.0", "functionTimeout": "00:00:03"}"#,
    )
    .unwrap();
    let mut env = setup.env();
    env.push(("FUNCTIONS_APP_ROOT_PATH", app.path().display().to_string()));
    env.push(("O365_SOURCES", "audit".to_string()));
    env.push(("O365_CONCURRENCY", "3".to_string()));
    let handler = Handler::start(&env, &setup.args()).await;
    let began = Instant::now();
    let (status, body) = handler.invoke("fetchAuditLogs", false).await;
    let took = began.elapsed();
    // A function whose source O365_SOURCES leaves out has nothing to do.
    let (other_status, other) = handler.invoke("fetchMessageTraces", false).await;
    handler.stop().await;
    assert_eq!(other_status, 200, "{other}");
    assert_eq!(
        logs(&other),
        ["message-trace: not run, O365_SOURCES does not include it; nothing to do"]
    );
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    assert_eq!(status, 500, "{body}");
    assert!(
        logs(&body)
            .iter()
            .any(|l| l.contains("stopped before the function timeout of 3s")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_files_declare_exactly_the_served_functions_and_the_timeout() {
    let dir = functions_dir();
    let host: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("host.json")).expect("functions/host.json"),
    )
    .expect("host.json is JSON");
    assert_eq!(host["version"], "2.0");
    let description = &host["customHandler"]["description"];
    // `/bin/sh launch.sh …`: the launcher starts o365-host even when the
    // zip deployment dropped its executable bit (host/tests/package.rs).
    assert_eq!(description["defaultExecutablePath"], "/bin/sh");
    let arguments: Vec<&str> = description["arguments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(arguments.first(), Some(&"launch.sh"), "{arguments:?}");
    assert_eq!(arguments.last(), Some(&"serve"), "{arguments:?}");
    assert_eq!(
        host["extensionBundle"]["id"], "Microsoft.Azure.Functions.ExtensionBundle",
        "timer triggers need the extension bundle"
    );
    assert!(host["functionTimeout"].is_string());
    assert!(
        host["customHandler"]
            .get("enableForwardingHttpRequest")
            .is_none(),
        "no HTTP trigger: requests are not forwarded"
    );

    let mut folders = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let function: Value = serde_json::from_str(
            &std::fs::read_to_string(entry.path().join("function.json"))
                .unwrap_or_else(|e| panic!("{name}/function.json: {e}")),
        )
        .unwrap_or_else(|e| panic!("{name}/function.json is not JSON: {e}"));
        let bindings = function["bindings"].as_array().unwrap();
        assert_eq!(bindings.len(), 1, "{name}: one trigger, no other binding");
        let trigger = &bindings[0];
        if name == "runCycle" {
            // Queue mode (o365_host::scale): one cycle request per invocation.
            assert_eq!(trigger["type"], "queueTrigger", "{name}");
            assert_eq!(trigger["direction"], "in", "{name}");
            assert_eq!(
                trigger["name"], "request",
                "{name}: the binding the handler reads"
            );
            assert_eq!(
                trigger["queueName"],
                o365_host::scale::FUNCTIONS_QUEUE,
                "{name}"
            );
            assert_eq!(
                trigger["connection"], "AzureWebJobsStorage",
                "{name}: the checkpoints' account"
            );
            folders.insert(name);
            continue;
        }
        assert_eq!(trigger["type"], "timerTrigger", "{name}");
        assert_eq!(trigger["direction"], "in", "{name}");
        assert_eq!(
            trigger["name"], "timer",
            "{name}: the name our requests use"
        );
        assert_ne!(
            trigger["runOnStartup"], true,
            "{name}: never run on every scale-out"
        );
        let expected = match name.as_str() {
            "fetchAuditLogs" => "%AUDIT_LOGS_INDEXER_SCHEDULE%",
            "fetchMessageTraces" => "%MESSAGE_TRACES_INDEXER_SCHEDULE%",
            other => panic!("unexpected function folder {other}"),
        };
        assert_eq!(trigger["schedule"], expected, "{name}");
        folders.insert(name);
    }

    // Ask the binary, started as the Functions host starts it in the app
    // root, what it serves and which timeout it keeps.
    let handler = Handler::start(
        &[
            ("FUNCTIONS_APP_ROOT_PATH", dir.display().to_string()),
            ("ENTRA_TENANT_ID", DEFAULT_TENANT.to_string()),
        ],
        &[],
    )
    .await;
    let about = handler.about().await;
    handler.stop().await;
    let served: BTreeSet<String> = about["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert_eq!(served, folders, "function folders and served routes differ");
    assert_eq!(about["functionTimeout"], "10m", "{about}");
    assert!(
        about["functionTimeoutFrom"]
            .as_str()
            .unwrap()
            .ends_with("host.json"),
        "{about}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_functions_and_foreign_payloads_are_refused_with_a_reason() {
    let handler = Handler::start(&[("ENTRA_TENANT_ID", DEFAULT_TENANT.to_string())], &[]).await;
    let (status, body) = handler.invoke("fetchSomethingElse", false).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        logs(&body)[0].contains("it serves fetchAuditLogs, fetchMessageTraces"),
        "{body}"
    );
    let response = handler
        .http
        .post(format!("{}/fetchAuditLogs", handler.base))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        logs(&body)[0].contains("is not the custom handler payload"),
        "{body}"
    );
    handler.stop().await;
}

#[tokio::test]
async fn serve_without_a_usable_port_or_timeout_stops_at_once_naming_the_setting() {
    let port = free_port().to_string();
    for (settings, expected) in [
        (vec![], "FUNCTIONS_CUSTOMHANDLER_PORT is not set"),
        (
            vec![("FUNCTIONS_CUSTOMHANDLER_PORT", "http")],
            "FUNCTIONS_CUSTOMHANDLER_PORT is `http`, which is not a TCP port",
        ),
        (
            vec![
                ("FUNCTIONS_CUSTOMHANDLER_PORT", port.as_str()),
                ("AzureFunctionsJobHost__functionTimeout", "soon"),
            ],
            "AzureFunctionsJobHost__functionTimeout is `soon`, which is not a function timeout",
        ),
    ] {
        let mut command = Command::new(HOST);
        command
            .arg("serve")
            .env_remove("FUNCTIONS_CUSTOMHANDLER_PORT")
            .env_remove("O365_FUNCTION_TIMEOUT");
        for (name, value) in settings {
            command.env(name, value);
        }
        let out = tokio::time::timeout(Duration::from_secs(30), command.output())
            .await
            .expect("serve stops at once")
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        // One stderr line with "error", which the Functions host records as
        // an error and quotes when it reports the handler's exit.
        let line = stderr
            .lines()
            .find(|l| l.contains(expected))
            .unwrap_or_else(|| panic!("{stderr}"));
        assert!(line.starts_with("error: "), "{line}");
    }
}
