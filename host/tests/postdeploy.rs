//! `infra/hooks/postdeploy.sh`, the azd hook that ships the packaged
//! components, run as azd runs it (with `sh`, in the azd environment) against
//! a real Blob registry (Azurite) with the real `o365-host component` CLI
//! from the package: what it publishes and promotes is read back from the
//! registry and compared with the package's own digests (`package.txt`).

use o365_host::azure::storage::BlobAccount;
use o365_host::registry::{BlobRegistry, Registry};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

const HOST: &str = env!("CARGO_BIN_EXE_o365-host");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The package `package.sh` makes of this test's host and components.
fn package(out: &Path) -> BTreeMap<String, String> {
    let guests = Path::new(connector_artifacts::AUDIT_PATH).parent().unwrap();
    let result = Command::new("bash")
        .arg(repo().join("infra/hooks/package.sh"))
        .args(["--binary", HOST, "--components"])
        .arg(guests)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    std::fs::read_to_string(out.join("package.txt"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The hook with `env` (and nothing of this process's environment but PATH
/// and HOME, which the CLI's sign-in would use), as `sh`.
fn postdeploy(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new("sh");
    command
        .arg(repo().join("infra/hooks/postdeploy.sh"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .env("O365_LOG", "warn")
        .env(
            "O365_COMPONENT_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("postdeploy-component-cache"),
        );
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("sh runs")
}

fn registry(azurite: &azurite_support::Azurite) -> Registry {
    let account = BlobAccount::from_connection_string(&azurite.connection_string()).unwrap();
    Registry::new(Arc::new(BlobRegistry::new(Arc::new(account), "components")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postdeploy_publishes_the_packaged_components_and_promotes_the_ones_the_app_runs() {
    let azurite = azurite_support::Azurite::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("package");
    let info = package(&dir);
    let connection = azurite.connection_string();
    let env = [
        ("O365_PACKAGE_DIR", dir.to_str().unwrap()),
        ("O365_REGISTRY_CONNECTION_STRING", connection.as_str()),
        // What the caller's shell may hold must not redirect the hook.
        (
            "AzureWebJobsStorage",
            "UseDevelopmentStorage=false;nonsense",
        ),
    ];
    let run = postdeploy(&[], &env);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "{}\n{stderr}",
        String::from_utf8_lossy(&run.stdout)
    );

    let registry = registry(&azurite);
    // audit: published and current, the packaged bytes.
    let (audit, _) = registry
        .pointer("audit", None)
        .await
        .unwrap()
        .expect("audit promoted");
    assert_eq!(audit.sha256, info["component_sha256_audit"]);
    // message-trace: the Graph component (the default) is current; the
    // Exchange reporting one is published, not promoted.
    let (trace, _) = registry
        .pointer("message-trace", None)
        .await
        .unwrap()
        .expect("message-trace promoted");
    assert_eq!(trace.sha256, info["component_sha256_message_trace_graph"]);
    let published: Vec<String> = registry
        .versions("message-trace")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.sha256)
        .collect();
    assert!(
        published.contains(&info["component_sha256_message_trace_reporting"]),
        "{published:?}"
    );

    // Again (a second `azd deploy` of the same build): nothing changes.
    let again = postdeploy(&[], &env);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let (same, _) = registry.pointer("audit", None).await.unwrap().unwrap();
    assert_eq!(same.version, audit.version);
    assert_eq!(registry.versions("audit").await.unwrap().len(), 1);

    // The app runs Exchange reporting: that one becomes current.
    let mut reporting = env.to_vec();
    reporting.push(("O365_MESSAGE_TRACE_COMPONENT", "reporting"));
    let switched = postdeploy(&[], &reporting);
    assert!(
        switched.status.success(),
        "{}",
        String::from_utf8_lossy(&switched.stderr)
    );
    let (trace, _) = registry
        .pointer("message-trace", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        trace.sha256,
        info["component_sha256_message_trace_reporting"]
    );

    // A component-only update: the file given is published and promoted.
    let graph = dir.join("components/message_trace_graph.wasm");
    let only = postdeploy(&[graph.to_str().unwrap()], &env);
    assert!(
        only.status.success(),
        "{}",
        String::from_utf8_lossy(&only.stderr)
    );
    let (trace, _) = registry
        .pointer("message-trace", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(trace.sha256, info["component_sha256_message_trace_graph"]);
}

/// A run the hook must refuse: (case, environment, arguments, what the
/// error must say).
type Refusal<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>, &'a str);

#[test]
fn postdeploy_refuses_what_it_cannot_do_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("package");
    package(&dir);
    let package_dir = dir.to_str().unwrap();
    let cases: [Refusal; 4] = [
        (
            "no account",
            vec![("O365_PACKAGE_DIR", package_dir)],
            vec![],
            "AZURE_STORAGE_ACCOUNT_NAME is not set",
        ),
        (
            "no package",
            vec![
                ("O365_PACKAGE_DIR", "/nonexistent"),
                ("AZURE_STORAGE_ACCOUNT_NAME", "st0"),
            ],
            vec![],
            "is not an executable o365-host",
        ),
        (
            "unknown message-trace choice",
            vec![
                ("O365_PACKAGE_DIR", package_dir),
                ("AZURE_STORAGE_ACCOUNT_NAME", "st0"),
                ("O365_MESSAGE_TRACE_COMPONENT", "mine.wasm"),
            ],
            vec![],
            "give graph or reporting",
        ),
        (
            "missing file",
            vec![
                ("O365_PACKAGE_DIR", package_dir),
                ("AZURE_STORAGE_ACCOUNT_NAME", "st0"),
            ],
            vec!["/nonexistent/audit.wasm"],
            "no component /nonexistent/audit.wasm",
        ),
    ];
    for (name, env, args, expected) in cases {
        let run = postdeploy(&args, &env);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
    }
}

#[test]
fn a_component_the_registry_refuses_fails_the_hook_naming_it() {
    let azurite = azurite_support::Azurite::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("package");
    package(&dir);
    // Not a component: the CLI refuses it, the hook stops and names it.
    let bad = tmp.path().join("broken.wasm");
    std::fs::write(&bad, b"\0asm not really").unwrap();
    let connection = azurite.connection_string();
    let run = postdeploy(
        &[bad.to_str().unwrap()],
        &[
            ("O365_PACKAGE_DIR", dir.to_str().unwrap()),
            ("O365_REGISTRY_CONNECTION_STRING", connection.as_str()),
        ],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("broken.wasm was not published or promoted"),
        "{stderr}"
    );
}
