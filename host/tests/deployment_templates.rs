//! The deployment templates against the host they deploy: every app setting
//! the Bicep sets is one the host reads (`o365-host config keys`, the real
//! binary) or one Azure Functions itself needs, the settings the host needs
//! in Azure are there and none is a secret, every parameter of `main.bicep`
//! is fed by `main.parameters.json`, every value the templates give passes
//! the host's own `config check`, the workbook queries only metrics in the
//! host's catalog (`telemetry::catalog`, each documented in docs/deploy.md)
//! in the shape the host's JSON log lines have, and `infra/hooks/package.sh`
//! assembles the layout Functions expects and refuses what would not run.
//! That the packaged host really emits every metric the workbook queries is
//! `host/tests/package.rs`.
//!
//! What this does not prove: that Azure accepts the templates (the Bicep CLI
//! is not installed here; run `az bicep build --file infra/main.bicep`), or
//! that the workbook's KQL runs (it needs a workspace with the host's logs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

#[path = "support/host_process.rs"]
mod host_process;
use host_process::{HOST, cache_dir};

/// Settings Azure Functions or its platform reads, which the host does not:
/// allowed in the templates although `config keys` does not list them. On
/// Flex Consumption the first two are set by `functionAppConfig.runtime`
/// and refused as app settings; they stay here for other plans.
const FUNCTIONS_SETTINGS: &[&str] = &[
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_WORKER_RUNTIME",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
];

/// Prefix of the Functions host's identity-based storage connection
/// (`AzureWebJobsStorage__accountName`, `__blobServiceUri`, `__credential`).
const FUNCTIONS_STORAGE_PREFIX: &str = "AzureWebJobsStorage__";

/// What the host needs in Azure to collect with the managed identity: without
/// one of these a deployed host has no tenant, no credential, no checkpoints
/// or no hub, or logs text that the workbook cannot read.
const REQUIRED_IN_AZURE: &[&str] = &[
    "ENTRA_TENANT_ID",
    "ENTRA_APP_CLIENT_ID",
    "ENTRA_APP_CLIENT_CERTIFICATE_KEYVAULT_NAME",
    "ENTRA_APP_CLIENT_CERTIFICATE_NAME",
    "AzureWebJobsStorage__accountName",
    "EventHub__fullyQualifiedNamespace",
    "AUDIT_LOGS_EVENT_HUB_NAME",
    "MESSAGE_TRACES_EVENT_HUB_NAME",
    "AUDIT_LOGS_INDEXER_SCHEDULE",
    "MESSAGE_TRACES_INDEXER_SCHEDULE",
    "O365_LOG_FORMAT",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `o365-host config keys --json`, run once: (name, secret) of every setting.
fn host_keys() -> &'static Vec<(String, bool)> {
    static KEYS: OnceLock<Vec<(String, bool)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let out = Command::new(HOST)
            .args(["config", "keys", "--json"])
            .env("O365_LOG", "warn")
            .output()
            .expect("o365-host runs");
        assert!(
            out.status.success(),
            "config keys failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: Vec<serde_json::Value> =
            serde_json::from_slice(&out.stdout).expect("config keys --json prints a JSON array");
        rows.iter()
            .map(|r| {
                (
                    r["name"]
                        .as_str()
                        .expect("every key has a name")
                        .to_string(),
                    r["secret"].as_bool().expect("every key says if secret"),
                )
            })
            .collect()
    })
}

/// The app settings a Bicep file sets, as (name, value expression). The
/// rule, kept simple on purpose: between the line `// app-settings:begin`
/// and the line `// app-settings:end`, every line of the form
/// `'NAME': value` sets NAME to the Bicep expression `value`. Missing
/// markers or an unreadable line between them are errors, so a reformatted
/// template cannot silently escape the check.
fn bicep_settings(bicep: &str) -> Result<Vec<(String, String)>, String> {
    let begin = bicep
        .lines()
        .position(|l| l.trim() == "// app-settings:begin")
        .ok_or("no `// app-settings:begin` line")?;
    let end = bicep
        .lines()
        .position(|l| l.trim() == "// app-settings:end")
        .ok_or("no `// app-settings:end` line")?;
    let mut settings = Vec::new();
    for line in bicep.lines().take(end).skip(begin + 1) {
        let line = line.trim();
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        let (name, value) = line
            .strip_prefix('\'')
            .and_then(|rest| rest.split_once("':"))
            .ok_or_else(|| format!("not a `'NAME': value` line: {line}"))?;
        settings.push((name.to_string(), value.trim().to_string()));
    }
    if settings.is_empty() {
        return Err("no setting between the markers".into());
    }
    Ok(settings)
}

/// The names alone.
fn bicep_app_settings(bicep: &str) -> Result<Vec<String>, String> {
    Ok(bicep_settings(bicep)?.into_iter().map(|(n, _)| n).collect())
}

/// Names the host does not read and Functions does not need: the drift.
fn drift(set: &[String], host: &[(String, bool)]) -> Vec<String> {
    set.iter()
        .filter(|name| {
            !host.iter().any(|(h, _)| h == *name)
                && !FUNCTIONS_SETTINGS.contains(&name.as_str())
                && !name.starts_with(FUNCTIONS_STORAGE_PREFIX)
        })
        .cloned()
        .collect()
}

fn function_app_settings() -> Vec<String> {
    bicep_app_settings(&read("infra/modules/function-app.bicep"))
        .unwrap_or_else(|e| panic!("infra/modules/function-app.bicep: {e}"))
}

#[test]
fn every_app_setting_in_the_bicep_is_read_by_the_host_or_by_functions() {
    let set = function_app_settings();
    let drift = drift(&set, host_keys());
    assert!(
        drift.is_empty(),
        "infra/modules/function-app.bicep sets {drift:?}, which `o365-host config keys` does not \
         list and Azure Functions does not need: rename it to the host's setting, or remove it"
    );
}

#[test]
fn the_drift_check_names_a_setting_nobody_reads() {
    let bicep = "var settings = {\n  // app-settings:begin\n  'ENTRA_TENANT_ID': tenantId\n  \
                 'O365_EVENT_TYPE': 'Audit.Exchange'\n  'FUNCTIONS_WORKER_RUNTIME': 'custom'\n  \
                 'AzureWebJobsStorage__accountName': account\n  // app-settings:end\n}\n";
    let set = bicep_app_settings(bicep).unwrap();
    assert_eq!(set.len(), 4);
    assert_eq!(drift(&set, host_keys()), ["O365_EVENT_TYPE"]);
    let e = bicep_app_settings("var s = {\n  'A': b\n}\n").unwrap_err();
    assert!(e.contains("app-settings:begin"), "{e}");
    let e = bicep_app_settings("// app-settings:begin\n  A: b\n// app-settings:end\n").unwrap_err();
    assert!(e.contains("not a `'NAME': value` line"), "{e}");
}

#[test]
fn the_bicep_sets_what_the_host_needs_in_azure_and_no_secret() {
    let set = function_app_settings();
    let missing: Vec<_> = REQUIRED_IN_AZURE
        .iter()
        .filter(|n| !set.iter().any(|s| s == *n))
        .collect();
    assert!(
        missing.is_empty(),
        "infra/modules/function-app.bicep does not set {missing:?}"
    );
    let secrets: Vec<_> = set
        .iter()
        .filter(|n| host_keys().iter().any(|(h, secret)| h == *n && *secret))
        .collect();
    assert!(
        secrets.is_empty(),
        "the Bicep sets secret settings {secrets:?}: the deployment uses the managed identity, \
         keep secrets out of app settings"
    );
    let mut unique = BTreeSet::new();
    let repeated: Vec<_> = set.iter().filter(|n| !unique.insert(*n)).collect();
    assert!(repeated.is_empty(), "set twice: {repeated:?}");
}

#[test]
fn every_parameter_of_main_bicep_without_default_is_in_the_parameters_file() {
    let bicep = read("infra/main.bicep");
    let params: serde_json::Value =
        serde_json::from_str(&read("infra/main.parameters.json")).expect("valid JSON");
    let given = params["parameters"]
        .as_object()
        .expect("a `parameters` object");
    let declared: Vec<(&str, bool)> = bicep
        .lines()
        .filter_map(|l| l.strip_prefix("param "))
        .map(|rest| {
            let name = rest.split_whitespace().next().unwrap();
            (name, rest.contains(" = "))
        })
        .collect();
    assert!(declared.len() >= 5, "params found: {declared:?}");
    for (name, has_default) in &declared {
        assert!(
            *has_default || given.contains_key(*name),
            "main.bicep's parameter `{name}` has no default and main.parameters.json does not set it"
        );
    }
    for name in given.keys() {
        assert!(
            declared.iter().any(|(d, _)| d == name),
            "main.parameters.json sets `{name}`, which main.bicep does not declare"
        );
    }
}

/// Example values for the settings whose value Azure decides (resource
/// names, the App Insights connection string) or the operator gives without
/// a default (tenant and app ids), keyed by the function-app module's
/// parameter. Every other value is a literal in the Bicep or a default of
/// `main.bicep`.
const EXAMPLES: &[(&str, &str)] = &[
    ("storageAccountName", "stexample0123"),
    (
        "appInsightsConnectionString",
        "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://example.in.applicationinsights.azure.com/",
    ),
    ("tenantId", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
    ("appClientId", "aaaaaaaa-1111-4111-8111-11111111111a"),
    ("keyVaultName", "kv-example0123"),
    ("eventHubsNamespace", "evhns-example.servicebus.windows.net"),
];

/// The value the deployment gives each setting: a literal in
/// function-app.bicep; or the module parameter, which main.bicep passes
/// from one of its own parameters with a literal default or a literal
/// `var`; or an example.
fn deployed_values() -> Vec<(String, String)> {
    let main = read("infra/main.bicep");
    let module = main
        .split("module functionApp ")
        .nth(1)
        .expect("main.bicep has `module functionApp`");
    let module = &module[..module.find("\n}").expect("the module block ends")];
    let literal = |expr: &str| {
        expr.strip_prefix('\'')
            .and_then(|e| e.strip_suffix('\''))
            .map(str::to_string)
    };
    let main_default = |param: &str| {
        main.lines()
            .filter_map(|l| {
                l.strip_prefix(&format!("param {param} string = "))
                    .or_else(|| l.strip_prefix(&format!("var {param} = ")))
            })
            .find_map(|v| literal(v.trim()))
    };
    function_app_settings_with_values()
        .into_iter()
        .map(|(name, expr)| {
            let value = literal(&expr)
                .or_else(|| {
                    let passed = module
                        .lines()
                        .find_map(|l| l.trim().strip_prefix(&format!("{expr}: ")))?;
                    main_default(passed.trim())
                })
                .or_else(|| {
                    EXAMPLES
                        .iter()
                        .find(|(param, _)| *param == expr)
                        .map(|(_, v)| v.to_string())
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{name} = {expr}: no literal, no main.bicep default, no example in EXAMPLES"
                    )
                });
            (name, value)
        })
        .collect()
}

fn function_app_settings_with_values() -> Vec<(String, String)> {
    bicep_settings(&read("infra/modules/function-app.bicep"))
        .unwrap_or_else(|e| panic!("infra/modules/function-app.bicep: {e}"))
}

#[test]
fn every_value_the_deployment_sets_passes_the_hosts_own_check() {
    let values = deployed_values();
    let schedule = values
        .iter()
        .find(|(n, _)| n == "AUDIT_LOGS_INDEXER_SCHEDULE")
        .unwrap();
    assert_eq!(
        schedule.1, "0 */5 * * * *",
        "resolved from main.bicep's default"
    );
    let out = Command::new(HOST)
        .args(["config", "check", "--json"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(values.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .env("O365_LOG", "warn")
        .output()
        .expect("o365-host runs");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "config check --json: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let errors: Vec<&str> = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    // An error about a value names the setting first (`NAME = `value` ...`).
    let wrong: Vec<&&str> = errors
        .iter()
        .filter(|e| {
            values
                .iter()
                .any(|(n, _)| e.starts_with(&format!("{n} = ")))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "the deployment sets values the host refuses: {wrong:#?}"
    );
    assert!(
        errors.is_empty(),
        "the host cannot run with the deployed settings: {errors:#?}"
    );
    let warnings = report["warnings"].as_array().expect("warnings");
    assert!(
        warnings.is_empty(),
        "the deployment's settings draw warnings: {warnings:#?}"
    );
}

#[path = "support/workbook.rs"]
mod workbook;

fn workbook_metrics() -> Vec<String> {
    workbook::workbook_metrics(&repo())
}

#[test]
fn the_workbook_shows_what_the_issue_asks_and_only_cataloged_metrics() {
    let queried = workbook_metrics();
    // Lag over time, events published, throttles, expired content and the
    // live component version, per tenant and source (issue 14, point 4).
    for needed in [
        "lag_seconds",
        "events_published",
        "throttles",
        "expired_items",
        "component_version",
    ] {
        assert!(
            queried.iter().any(|q| q == needed),
            "the workbook does not show {needed}"
        );
    }
    for name in &queried {
        assert!(
            o365_host::telemetry::catalog::find(name).is_some(),
            "the workbook queries metric `{name}`, which is not in \
             host/src/telemetry/catalog.rs: the host never emits it"
        );
    }
}

#[test]
fn every_cataloged_metric_is_documented_for_operators() {
    let docs = read("docs/deploy.md");
    for metric in o365_host::telemetry::catalog::METRICS {
        assert!(
            docs.contains(&format!("`{}`", metric.name)),
            "docs/deploy.md does not explain the metric `{}`",
            metric.name
        );
    }
}

/// What the workbook's KQL assumes of a log line, checked on the real
/// host's JSON logs (`--log-format json demo`, the embedded simulator): a
/// metric line carries `fields.metric`, a numeric `fields.value`, and
/// `fields.tenant` and `fields.source`, which the workbook filters on.
#[test]
fn the_hosts_json_log_lines_carry_what_the_workbook_reads() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_dir();
    let out = Command::new(HOST)
        .args(["--log-format", "json", "demo"])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("O365_COMPONENT_CACHE_DIR", cache)
        .output()
        .expect("o365-host runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed: {stderr}");
    let mut metrics = 0;
    // `demo` also prints progress for people; the log lines are the JSON ones.
    for line in stderr.lines().filter(|l| l.starts_with('{')) {
        let json: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
        let fields = &json["fields"];
        let Some(metric) = fields["metric"].as_str() else {
            continue;
        };
        metrics += 1;
        assert!(
            fields["tenant"].is_string() && fields["source"].is_string(),
            "{line}"
        );
        if metric == "lag_seconds" {
            assert!(fields["value"].is_number(), "{line}");
        }
    }
    assert!(
        stderr.contains("\"metric\":\"lag_seconds\""),
        "no lag line among {metrics} metric lines:\n{stderr}"
    );
}

/// A Functions project like the custom handler's: host.json naming
/// o365-host, two timer functions.
fn functions_fixture(dir: &Path, host_json: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("host.json"), host_json).unwrap();
    for name in ["fetchAuditLogs", "fetchMessageTraces"] {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        std::fs::write(
            dir.join(name).join("function.json"),
            r#"{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"%AUDIT_LOGS_INDEXER_SCHEDULE%"}]}"#,
        )
        .unwrap();
    }
    std::fs::write(dir.join("local.settings.json"), "{}").unwrap();
}

const HOST_JSON: &str = r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"o365-host","arguments":["serve"]},"enableForwardingHttpRequest":false}}"#;

/// Where the components built with this test's host are.
fn guests() -> String {
    Path::new(connector_artifacts::AUDIT_PATH)
        .parent()
        .unwrap()
        .display()
        .to_string()
}

fn package(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new("bash")
        .arg(repo().join("infra/hooks/package.sh"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("bash runs")
}

#[test]
fn the_package_script_assembles_binary_host_json_and_functions() {
    let tmp = tempfile::tempdir().unwrap();
    let functions = tmp.path().join("functions");
    let out = tmp.path().join("package");
    functions_fixture(&functions, HOST_JSON);
    std::fs::create_dir_all(out.join("stale")).unwrap();
    let result = package(
        &[
            "--binary",
            HOST,
            "--components",
            &guests(),
            "--functions",
            functions.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let mut files: Vec<String> = walk(&out)
        .iter()
        .map(|p| p.strip_prefix(&out).unwrap().display().to_string())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "components/audit.wasm",
            "components/message_trace_graph.wasm",
            "components/message_trace_reporting.wasm",
            "fetchAuditLogs/function.json",
            "fetchMessageTraces/function.json",
            "host.json",
            "o365-host",
            "package.txt"
        ],
        "no stale file, no local.settings.json"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.join("o365-host"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "the binary is executable");
    // The packaged binary is the host: it answers like the one built.
    let keys = Command::new(out.join("o365-host"))
        .args(["config", "keys"])
        .env("O365_LOG", "warn")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&keys.stdout).contains("EventHub__fullyQualifiedNamespace"));
    let info = std::fs::read_to_string(out.join("package.txt")).unwrap();
    assert!(
        info.contains("functions=fetchAuditLogs,fetchMessageTraces"),
        "{info}"
    );
    assert!(info.contains("glibc_needed=2."), "{info}");
}

/// The repository's own Functions project (written with the custom
/// handler, `functions/`), when this checkout has it: it packages, and it
/// has one timer function per source schedule the templates set. On a
/// checkout without `functions/` only the fixture above is packaged.
#[test]
fn the_repository_functions_project_packages_when_present() {
    let functions = repo().join("functions");
    if !functions.join("host.json").exists() {
        eprintln!("note: no functions/host.json in this checkout; only the fixture was packaged");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("package");
    let result = package(
        &[
            "--binary",
            HOST,
            "--components",
            &guests(),
            "--functions",
            functions.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let schedules: String = walk(&out)
        .iter()
        .filter(|p| p.ends_with("function.json"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    for setting in [
        "AUDIT_LOGS_INDEXER_SCHEDULE",
        "MESSAGE_TRACES_INDEXER_SCHEDULE",
    ] {
        assert!(
            function_app_settings().iter().any(|s| s == setting),
            "the templates do not set {setting}"
        );
        assert!(
            schedules.contains(&format!("%{setting}%")),
            "no packaged function.json runs on %{setting}%"
        );
    }
}

/// A Functions project the script must refuse: (case, host.json or none,
/// environment, what the error must name).
type Refusal<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);

#[test]
fn the_package_script_refuses_what_would_not_run_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("package");
    let cases: [Refusal; 4] = [
        ("none", "", &[], "host.json"),
        ("plain", r#"{"version":"2.0"}"#, &[], "customHandler"),
        (
            "other",
            r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"handler"}}}"#,
            &[],
            "\"o365-host\"",
        ),
        (
            "old-glibc",
            HOST_JSON,
            &[("O365_MAX_GLIBC", "2.17")],
            "glibc",
        ),
    ];
    for (name, host_json, env, expected) in cases {
        let functions = tmp.path().join(name);
        if host_json.is_empty() {
            std::fs::create_dir_all(&functions).unwrap();
        } else {
            functions_fixture(&functions, host_json);
        }
        let result = package(
            &[
                "--binary",
                HOST,
                "--components",
                &guests(),
                "--functions",
                functions.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            env,
        );
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(!out.join("o365-host").exists(), "{name}: nothing packaged");
    }
    // Components: each production one must be there and be WebAssembly.
    let functions = tmp.path().join("ok");
    functions_fixture(&functions, HOST_JSON);
    let partial = tmp.path().join("partial");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::copy(connector_artifacts::AUDIT_PATH, partial.join("audit.wasm")).unwrap();
    std::fs::write(partial.join("message_trace_graph.wasm"), "not wasm").unwrap();
    for (components, expected) in [
        (
            partial.clone(),
            "message_trace_graph.wasm is not a WebAssembly file",
        ),
        (tmp.path().join("none"), "no "),
    ] {
        let result = package(
            &[
                "--binary",
                HOST,
                "--components",
                components.to_str().unwrap(),
                "--functions",
                functions.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            &[],
        );
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert!(!out.join("o365-host").exists(), "nothing packaged");
    }
    let result = package(
        &["--binary", HOST, "--functions", functions.to_str().unwrap()],
        &[],
    );
    assert!(
        String::from_utf8_lossy(&result.stderr).contains("without --components"),
        "{result:?}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// `param` names of a Bicep file: (name, has a default).
fn bicep_params(bicep: &str) -> Vec<(String, bool)> {
    bicep
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("param "))
        .map(|rest| {
            let name = rest.split_whitespace().next().unwrap().to_string();
            (name, rest.contains('='))
        })
        .collect()
}

/// `output` names of a Bicep file.
fn bicep_outputs(bicep: &str) -> Vec<String> {
    bicep
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("output "))
        .map(|rest| rest.split_whitespace().next().unwrap().to_string())
        .collect()
}

/// The modules `main.bicep` uses: (symbol, path, the keys of its `params`).
fn bicep_modules(main: &str) -> Vec<(String, String, Vec<String>)> {
    let mut modules = Vec::new();
    let lines: Vec<&str> = main.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix("module ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let symbol = words.next().unwrap().to_string();
        let path = words.next().unwrap().trim_matches('\'').to_string();
        let mut keys = Vec::new();
        let mut in_params = false;
        for line in &lines[i + 1..] {
            if *line == "}" {
                break;
            }
            if line.trim() == "params: {" {
                in_params = true;
            } else if in_params && line.trim() == "}" {
                in_params = false;
            } else if in_params
                && line.starts_with("    ")
                && !line.starts_with("     ")
                && let Some((key, _)) = line.trim().split_once(':')
            {
                keys.push(key.to_string());
            }
        }
        modules.push((symbol, path, keys));
    }
    modules
}

/// What the Bicep compiler would check across files, since it cannot run
/// here: every module file exists, every argument `main.bicep` passes is a
/// parameter of the module, every module parameter without a default is
/// passed, every `<module>.outputs.<name>` it reads is an output of that
/// module, and every file a template loads exists.
#[test]
fn the_modules_main_bicep_calls_take_the_arguments_it_passes_and_have_the_outputs_it_reads() {
    let main = read("infra/main.bicep");
    let modules = bicep_modules(&main);
    assert!(modules.len() >= 7, "{modules:?}");
    assert!(
        modules
            .iter()
            .any(|(s, _, keys)| s == "functionApp"
                && keys.iter().any(|k| k == "additionalAppSettings")),
        "the parser reads the params blocks: {modules:?}"
    );
    for (symbol, path, keys) in &modules {
        let file = repo().join("infra").join(path);
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("module {symbol}: {}: {e}", file.display()));
        let params = bicep_params(&text);
        for key in keys {
            assert!(
                params.iter().any(|(p, _)| p == key),
                "main.bicep passes `{key}` to {path}, which has no such param"
            );
        }
        for (param, has_default) in &params {
            assert!(
                *has_default || keys.contains(param),
                "{path} requires `{param}`, which main.bicep does not pass"
            );
        }
        let outputs = bicep_outputs(&text);
        let read_prefix = format!("{symbol}.outputs.");
        for (i, _) in main.match_indices(&read_prefix) {
            let rest = &main[i + read_prefix.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                outputs.contains(&name),
                "main.bicep reads {symbol}.outputs.{name}, which {path} does not output"
            );
        }
        for (i, _) in text.match_indices("loadTextContent('") {
            let rest = &text[i + "loadTextContent('".len()..];
            let loaded = &rest[..rest.find('\'').unwrap()];
            let loaded = file.parent().unwrap().join(loaded);
            assert!(loaded.exists(), "{path} loads {}", loaded.display());
        }
    }
}

/// The metrics reach Application Insights as the custom handler's output
/// lines (docs/deploy.md, "Observability"): host.json must keep every such
/// trace (no sampling) at the level the host writes them.
#[test]
fn host_json_keeps_every_metric_line_for_application_insights() {
    let host: serde_json::Value =
        serde_json::from_str(&read("functions/host.json")).expect("host.json is JSON");
    let logging = &host["logging"];
    let sampling = &logging["applicationInsights"]["samplingSettings"];
    let excluded = sampling["excludedTypes"].as_str().unwrap_or("");
    assert!(
        sampling["isEnabled"] == false || excluded.split(';').any(|t| t == "Trace"),
        "traces are sampled: sums of metric lines would undercount ({sampling})"
    );
    assert_eq!(
        logging["logLevel"]["Host.Function.Console"], "Information",
        "the category of the handler's output lines"
    );
    let arguments = host["customHandler"]["description"]["arguments"].to_string();
    assert!(
        arguments.contains("\"--log-format\",\"json\""),
        "metric lines are JSON: {arguments}"
    );
}
