//! `o365-host component publish|promote|rollback|list|inspect` as an
//! operator runs them, on a local registry and on a Blob registry
//! (Azurite), and the worked example: one tenant moved from the Reporting
//! Web Service version to the Graph version while `o365-host run` runs,
//! with no restart.

use chrono::Utc;
use o365_simulator::{ClientSpec, Simulator, SimulatorConfig, TenantSpec};
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt as _;

#[path = "support/host_process.rs"]
mod host_process;
use host_process::{command, run as host, text};

const CONTOSO: &str = "cccccccc-0000-4000-8000-00000000000c";
const FABRIKAM: &str = "ffffffff-0000-4000-8000-00000000000f";
const CLIENT: &str = "11111111-2222-4333-8444-555555555555";

/// Runs `args` on the registry in `registry`; stdout, or a panic with
/// stderr.
async fn ok(args: &[&str], registry: &str) -> String {
    let mut all = args.to_vec();
    all.extend(["--registry", registry]);
    let out = host(&all, &[]).await;
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Runs `args` on `registry`, expecting a failure; stderr.
async fn fails(args: &[&str], registry: &str) -> String {
    let mut all = args.to_vec();
    all.extend(["--registry", registry]);
    let out = host(&all, &[]).await;
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "{args:?} was accepted: {}",
        text(&out.stdout)
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_publishes_promotes_lists_inspects_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().to_str().unwrap();
    let reporting = connector_artifacts::MESSAGE_TRACE_REPORTING_PATH;
    let graph = connector_artifacts::MESSAGE_TRACE_GRAPH_PATH;

    let out = ok(&["component", "publish", reporting, "--promote"], reg).await;
    assert!(
        out.contains("published message-trace 0.1.0 (sha256 "),
        "{out}"
    );
    assert!(out.contains("promoted: message-trace runs 0.1.0;"), "{out}");
    let out = ok(&["component", "publish", graph], reg).await;
    assert!(out.contains("published message-trace 0.2.0"), "{out}");
    // Publishing the same file again changes nothing.
    let out = ok(&["component", "publish", graph], reg).await;
    assert!(out.contains("already published with this sha256"), "{out}");

    let out = ok(
        &[
            "component",
            "promote",
            "message-trace",
            "0.2.0",
            "--tenant",
            "contoso",
        ],
        reg,
    )
    .await;
    assert!(
        out.contains("promoted: message-trace for tenant contoso runs 0.2.0;"),
        "{out}"
    );
    let out = ok(&["component", "list"], reg).await;
    let line = |version: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(version))
            .unwrap_or_else(|| panic!("no {version} in {out}"))
            .to_string()
    };
    assert!(line("0.1.0").ends_with("<- current"), "{out}");
    assert!(line("0.2.0").ends_with("<- tenant contoso"), "{out}");
    assert!(line("0.2.0").contains("contract 0.1.0"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["component", "list", "--json"], reg).await).unwrap();
    assert_eq!(json[0]["name"], "message-trace");
    assert_eq!(json[0]["current"]["version"], "0.1.0");
    assert_eq!(json[0]["tenants"]["contoso"]["version"], "0.2.0");
    let sha = json[0]["versions"][1]["sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);

    // Inspect a registry version like a file: what it asks, what is granted.
    let out = ok(&["component", "inspect", "message-trace", "0.2.0"], reg).await;
    assert!(out.contains("component  message-trace 0.2.0"), "{out}");
    assert!(out.contains(&format!("sha256     {sha}")), "{out}");
    assert!(out.contains("verdict    admitted"), "{out}");
    // Without a version: the current one.
    let out = ok(&["component", "inspect", "message-trace"], reg).await;
    assert!(out.contains("component  message-trace 0.1.0"), "{out}");

    // Everyone to Graph, then back.
    ok(&["component", "promote", "message-trace", "0.2.0"], reg).await;
    let out = ok(&["component", "rollback", "message-trace"], reg).await;
    assert!(
        out.contains("rolled back: message-trace runs 0.1.0 again"),
        "{out}"
    );
    let out = ok(
        &[
            "component",
            "rollback",
            "message-trace",
            "--tenant",
            "contoso",
        ],
        reg,
    )
    .await;
    assert!(out.contains("follows message-trace/current.json"), "{out}");
    let err = fails(&["component", "rollback", "message-trace"], reg).await;
    assert!(err.contains("no earlier version to roll back to"), "{err}");
    let err = fails(&["component", "promote", "message-trace", "9.9.9"], reg).await;
    assert!(
        err.contains("has no version `9.9.9` in the registry (it has: 0.1.0, 0.2.0)"),
        "{err}"
    );
    let err = fails(&["component", "promote", "audit", "1.0.0"], reg).await;
    assert!(err.contains("no component named `audit`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_host_would_refuse_is_refused_at_publish_and_promote() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().to_str().unwrap();
    let files = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = files.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_string()
    };
    let graph = std::fs::read(connector_artifacts::MESSAGE_TRACE_GRAPH_PATH).unwrap();
    let other_contract = replace_all(
        &graph,
        b"o365:connector/connector@0.1.0",
        b"o365:connector/connector@0.9.0",
    );
    let cases: Vec<(String, &str)> = vec![
        (write("notes.wasm", b"hello"), "is not a WebAssembly file"),
        (
            write("module.wasm", b"\0asm\x01\0\0\0"),
            "is a core WebAssembly module, not a component",
        ),
        (
            write("other-world.wasm", b"\0asm\x0d\0\x01\0"),
            "is not an o365 connector: it does not export",
        ),
        (
            write("other-contract.wasm", &other_contract),
            "implements contract 0.9.0, but this host implements 0.1.0",
        ),
        (
            connector_artifacts::TESTBED_PATH.to_string(),
            "calls itself `testbed`, which is not a source this host runs (audit, message-trace)",
        ),
    ];
    for (file, expected) in &cases {
        let err = fails(&["component", "publish", file], reg).await;
        assert!(err.contains(expected), "{file}: {err}");
    }
    // A component asking for more than the grant (a token on a foreign host).
    let err = fails(
        &[
            "component",
            "publish",
            connector_artifacts::TESTBED_PATH,
            "--set",
            "TESTBED_MODE=steal-token",
            "--set",
            "TESTBED_API=https://manage.office.com",
            "--set",
            "TESTBED_AUDIENCE=https://manage.office.com",
            "--set",
            "TESTBED_FOREIGN_URL=https://evil.example/x",
        ],
        reg,
    )
    .await;
    assert!(
        err.contains("asks for more than the operator grants"),
        "{err}"
    );
    assert!(err.contains("evil.example"), "{err}");
    // Nothing of it reached the registry.
    let out = ok(&["component", "list"], reg).await;
    assert!(out.contains("empty"), "{out}");

    // A version damaged after its publication is refused at promote.
    ok(
        &[
            "component",
            "publish",
            connector_artifacts::MESSAGE_TRACE_GRAPH_PATH,
        ],
        reg,
    )
    .await;
    std::fs::write(
        dir.path().join("message-trace/0.2.0.wasm"),
        &graph[..graph.len() / 2],
    )
    .unwrap();
    let err = fails(&["component", "promote", "message-trace", "0.2.0"], reg).await;
    assert!(err.contains("the file was replaced or damaged"), "{err}");
    assert!(!dir.path().join("message-trace/current.json").exists());
}

fn replace_all(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let mut i = 0;
    let mut replaced = false;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            replaced = true;
        }
        i += 1;
    }
    assert!(replaced);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blob_registry_serves_the_same_commands_and_a_host_runs_its_current_version() {
    let azurite = azurite_support::Azurite::start();
    let storage = azurite.connection_string();
    let env = [("AzureWebJobsStorage", storage.as_str())];
    // With a storage account configured, the default registry is its
    // `components` container.
    let out = host(
        &[
            "component",
            "publish",
            connector_artifacts::MESSAGE_TRACE_GRAPH_PATH,
            "--promote",
        ],
        &env,
    )
    .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("to container components of http://127.0.0.1:"),
        "{stdout}"
    );
    let out = host(&["component", "list", "--json"], &env).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["current"]["version"], "0.2.0");

    // A host whose settings choose the Reporting version runs the
    // registry's current version (Graph) instead: the pointer wins over the
    // embedded default.
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let api = sim.url();
    let dir = tempfile::tempdir().unwrap();
    let out = host(
        &[
            "once",
            "--api",
            &api,
            "--authority",
            &api,
            "--tenant",
            o365_simulator::DEFAULT_TENANT,
            "--client-id",
            o365_simulator::DEFAULT_CLIENT_ID,
            "--client-secret",
            o365_simulator::DEFAULT_CLIENT_SECRET,
            "--sources",
            "message-trace",
            "--out-dir",
            dir.path().to_str().unwrap(),
        ],
        &[
            ("AzureWebJobsStorage", storage.as_str()),
            ("MESSAGE_TRACES_REQUESTS_PER_5_MINUTES", "0"),
        ],
    )
    .await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("message-trace: complete"), "{stderr}");
    assert!(stderr.contains("; message-trace 0.2.0 ("), "{stderr}");
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.path_and_query.contains("/tracing/messageTraces"))
    );
}

/// Two tenants, `contoso` and `fabrikam`, under one app registration.
async fn two_tenants() -> Simulator {
    Simulator::start(SimulatorConfig {
        tenants: vec![TenantSpec::new(CONTOSO, 3), TenantSpec::new(FABRIKAM, 4)],
        clients: vec![ClientSpec {
            client_id: CLIENT.into(),
            secret: Some("secret".into()),
            certificate_pem: None,
        }],
        ..SimulatorConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_moves_one_tenant_from_reporting_to_graph_while_the_host_runs() {
    let sim = two_tenants().await;
    let api = sim.url();
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry");
    let reg = registry.to_str().unwrap();
    let events = dir.path().join("events");
    let state = dir.path().join("state");
    ok(
        &[
            "component",
            "publish",
            connector_artifacts::MESSAGE_TRACE_REPORTING_PATH,
        ],
        reg,
    )
    .await;
    ok(
        &[
            "component",
            "publish",
            connector_artifacts::MESSAGE_TRACE_GRAPH_PATH,
        ],
        reg,
    )
    .await;

    let mut child = command(
        &[
            "run",
            "--api",
            &api,
            "--authority",
            &api,
            "--sources",
            "message-trace",
        ],
        &[
            ("O365_LOG", "info"),
            ("O365_TENANTS", "contoso,fabrikam"),
            ("O365_TENANT_CONTOSO__ENTRA_TENANT_ID", CONTOSO),
            ("O365_TENANT_FABRIKAM__ENTRA_TENANT_ID", FABRIKAM),
            ("ENTRA_APP_CLIENT_ID", CLIENT),
            ("ENTRA_APP_CLIENT_SECRET", "secret"),
            // Both tenants start on the legacy service, as their settings say.
            ("O365_MESSAGE_TRACE_COMPONENT", "reporting"),
            ("MESSAGE_TRACES_REQUESTS_PER_5_MINUTES", "0"),
            ("MESSAGE_TRACES_INDEXER_SCHEDULE", "*/2 * * * * *"),
            ("O365_COMPONENT_REGISTRY", reg),
            ("O365_COMPONENT_POLL_INTERVAL", "1s"),
            ("O365_STATE_DIR", state.to_str().unwrap()),
            ("O365_OUTPUT_DIR", events.to_str().unwrap()),
        ],
    )
    .stderr(std::process::Stdio::piped())
    .kill_on_drop(true)
    .spawn()
    .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    // Every line is kept, so that a failure shows what the host said.
    let mut said: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let mut next = async || {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .ok()
            .and_then(|l| l.ok().flatten());
        match line {
            Some(line) => {
                said.push(line.clone());
                line
            }
            None => panic!(
                "the host stopped or the scenario did not finish in time; it said (registry and failures, then the end):\n{}\n…\n{}",
                said.iter()
                    .filter(|l| l.contains("component") && !l.contains(": complete"))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n"),
                said[said.len().saturating_sub(10)..].join("\n")
            ),
        }
    };
    // Both tenants complete a cycle on the Reporting version.
    let mut seen = (false, false);
    while seen != (true, true) {
        let line = next().await;
        seen.0 |= line.starts_with("contoso message-trace: complete")
            && line.contains("message-trace 0.1.0 (");
        seen.1 |= line.starts_with("fabrikam message-trace: complete")
            && line.contains("message-trace 0.1.0 (");
    }

    // The operator moves contoso alone; no restart, no redeploy.
    let promoted = Instant::now();
    let since = Utc::now();
    ok(
        &[
            "component",
            "promote",
            "message-trace",
            "0.2.0",
            "--tenant",
            "contoso",
        ],
        reg,
    )
    .await;
    let promote_took = promoted.elapsed();
    let mut swapped_at = None;
    loop {
        let line = next().await;
        assert!(
            !(line.contains("component swapped")
                && line.contains(&format!("tenant=\"{FABRIKAM}\""))),
            "fabrikam was moved: {line}"
        );
        if line.contains("component swapped") && line.contains(&format!("tenant=\"{CONTOSO}\"")) {
            assert!(line.contains("message-trace 0.2.0"), "{line}");
            swapped_at = Some(promoted.elapsed());
        }
        // The next window opens a minute after the last (the host's
        // shortest slice): the first cycle after the swap with work to do.
        if swapped_at.is_some()
            && line.starts_with("contoso message-trace: complete")
            && !line.contains(" 0 of 0 slices")
        {
            assert!(line.contains("message-trace 0.2.0 ("), "{line}");
            break;
        }
        if line.starts_with("fabrikam message-trace: complete") {
            assert!(
                line.contains("message-trace 0.1.0 ("),
                "fabrikam stays: {line}"
            );
        }
    }
    child.kill().await.unwrap();
    let first_graph_call = sim
        .requests()
        .iter()
        .filter(|r| r.at >= since && r.path_and_query.contains("/tracing/messageTraces"))
        .map(|r| r.at)
        .min()
        .expect("contoso asked Graph after the promote");
    // The figures for the notes (not asserted: a benchmark, not a timed test).
    eprintln!(
        "promote command {promote_took:?}; swapped {:?} after it; first Graph call {} ms after it",
        swapped_at.unwrap(),
        (first_graph_call - since).num_milliseconds()
    );
    // Contoso's later events carry Graph's fields; fabrikam's only the
    // Reporting Web Service's.
    let records = |tenant: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(events.join(tenant).join("message-trace.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["record"].clone())
            .collect()
    };
    assert!(
        records("contoso")
            .iter()
            .any(|r| r.get("recipientAddress").is_some())
    );
    let fabrikam = records("fabrikam");
    assert!(!fabrikam.is_empty());
    assert!(fabrikam.iter().all(|r| r.get("RecipientAddress").is_some()));
}
