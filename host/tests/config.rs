//! Configuration as an operator meets it: `config check` names every wrong
//! setting with its fix and never prints a secret; `once` refuses a wrong
//! configuration before any network call; `config keys` lists what the
//! deployment templates may set; one deployment serves several tenants,
//! each with its own credentials, files and checkpoints, and one tenant's
//! failure or throttling holds none of the others.

use o365_simulator::{
    ClientSpec, FaultKind, FaultRule, Simulator, SimulatorConfig, Target, TenantSpec,
};
use std::path::Path;
use std::process::Output;

#[path = "support/host_process.rs"]
mod host_process;
use host_process::{run, text};

const TENANT_A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const TENANT_B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
const CLIENT_A: &str = "aaaaaaaa-1111-4111-8111-11111111111a";
const CLIENT_B: &str = "bbbbbbbb-1111-4111-8111-11111111111b";

#[tokio::test]
async fn config_check_names_every_wrong_setting_with_its_fix_and_no_secret() {
    let out = run(
        &["config", "check"],
        &[
            ("ENTRA_TENANT_ID", "contoso.onmicrosoft.com"),
            ("ENTRA_APP_CLIENT_SECRET", "hunter2-very-secret"),
            ("O365_CLOUD", "mars"),
            ("AUDIT_LOGS_EVENT_HUB_NAME", "security events"),
            ("MESSAGE_TRACES_INDEXER_SCHEDULE", "*/5 * * * *"),
            (
                "APP_PROXY_URI",
                "http://user:proxy-password@proxy.example:3128",
            ),
            ("O365_EVENT_TYPE", "Audit.Exchange"),
        ],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    for expected in [
        "ENTRA_TENANT_ID = `contoso.onmicrosoft.com` is not a GUID",
        "O365_CLOUD = `mars` is not a cloud; use one of public, gcchigh, dod, china",
        "AUDIT_LOGS_EVENT_HUB_NAME = `security events` is not a name Event Hubs accepts",
        "MESSAGE_TRACES_INDEXER_SCHEDULE = `*/5 * * * *` is not a valid schedule: it has 5 fields",
        "ENTRA_APP_CLIENT_ID is not set but ENTRA_APP_CLIENT_SECRET is",
        "O365_EVENT_TYPE is not a setting anything reads; did you mean O365_EVENT_TYPES?",
        "ENTRA_APP_CLIENT_SECRET                        (set, 19 characters, redacted)",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }
    assert!(stdout.contains("5 problem(s)"), "{stdout}");
    for secret in ["hunter2-very-secret", "proxy-password"] {
        assert!(!stdout.contains(secret), "{secret} printed:\n{stdout}");
        assert!(!text(&out.stderr).contains(secret));
    }
}

#[tokio::test]
async fn config_check_passes_a_usable_configuration_and_shows_where_values_come_from() {
    let out = run(
        &[
            "config",
            "check",
            "--json",
            "--set",
            "O365_EVENT_TYPES=Audit.Exchange",
        ],
        &[
            ("ENTRA_TENANT_ID", TENANT_A),
            ("ENTRA_APP_CLIENT_ID", CLIENT_A),
            ("ENTRA_APP_CLIENT_SECRET", "s3cret-value"),
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let setting = |name: &str| {
        json["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .clone()
    };
    assert_eq!(setting("ENTRA_TENANT_ID")["origin"], "environment");
    assert_eq!(setting("O365_EVENT_TYPES")["value"], "Audit.Exchange");
    assert_eq!(setting("O365_EVENT_TYPES")["origin"], "set");
    assert_eq!(setting("O365_LISTING_OVERLAP")["origin"], "default");
    assert_eq!(
        setting("MESSAGE_TRACES_EVENT_HUB_NAME")["value"],
        "securityevents"
    );
    assert!(!text(&out.stdout).contains("s3cret-value"));
    assert_eq!(json["errors"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn once_refuses_a_wrong_configuration_before_any_network_call() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let api = sim.url();
    let out = run(
        &["once", "--api", &api, "--authority", &api],
        &[
            ("ENTRA_TENANT_ID", "not-a-guid"),
            ("ENTRA_APP_CLIENT_ID", CLIENT_A),
            ("ENTRA_APP_CLIENT_SECRET", "s"),
            ("AUDIT_LOGS_INDEXER_SCHEDULE", "0 */5 * * *"),
            ("O365_STATE_DIR", dir.path().to_str().unwrap()),
        ],
    )
    .await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("ENTRA_TENANT_ID = `not-a-guid` is not a GUID"),
        "{stderr}"
    );
    assert!(
        stderr.contains("AUDIT_LOGS_INDEXER_SCHEDULE = `0 */5 * * *`"),
        "{stderr}"
    );
    assert!(
        sim.requests().is_empty(),
        "a request was made: {:?}",
        sim.requests()
    );
}

#[tokio::test]
async fn config_keys_lists_host_and_component_settings() {
    let out = run(&["config", "keys"], &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let names: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    for name in [
        "ENTRA_TENANT_ID",
        "ENTRA_APP_CLIENT_CERTIFICATE_KEYVAULT_NAME",
        "EventHub__fullyQualifiedNamespace",
        "AUDIT_LOGS_INDEXER_SCHEDULE",
        "O365_EVENT_TYPES",
        "O365_IGNORED_SOURCES",
        "MESSAGE_TRACES_MIN_AGE",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
    }
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "a name is listed twice");
}

/// Two tenants, each with its own app registration; `b` is listed first.
async fn two_tenants() -> Simulator {
    Simulator::start(SimulatorConfig {
        tenants: vec![TenantSpec::new(TENANT_A, 1), TenantSpec::new(TENANT_B, 2)],
        clients: vec![
            ClientSpec {
                client_id: CLIENT_A.into(),
                secret: Some("secret-a".into()),
                certificate_pem: None,
            },
            ClientSpec {
                client_id: CLIENT_B.into(),
                secret: Some("secret-b".into()),
                certificate_pem: None,
            },
        ],
        ..SimulatorConfig::default()
    })
    .await
    .unwrap()
}

async fn once_for_two_tenants(sim: &Simulator, dir: &Path, secret_b: &str) -> Output {
    let api = sim.url();
    let state = dir.join("state");
    let events = dir.join("events");
    run(
        &[
            "once",
            "--api",
            &api,
            "--authority",
            &api,
            "--sources",
            "audit",
        ],
        &[
            ("O365_TENANTS", "b,a"),
            ("O365_TENANT_A__ENTRA_TENANT_ID", TENANT_A),
            ("O365_TENANT_A__ENTRA_APP_CLIENT_ID", CLIENT_A),
            ("O365_TENANT_A__ENTRA_APP_CLIENT_SECRET", "secret-a"),
            ("O365_TENANT_B__ENTRA_TENANT_ID", TENANT_B),
            ("O365_TENANT_B__ENTRA_APP_CLIENT_ID", CLIENT_B),
            ("O365_TENANT_B__ENTRA_APP_CLIENT_SECRET", secret_b),
            ("O365_REQUESTS_PER_MINUTE", "0"),
            ("O365_STATE_DIR", state.to_str().unwrap()),
            ("O365_OUTPUT_DIR", events.to_str().unwrap()),
        ],
    )
    .await
}

fn tenants_of(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["tenant"].to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_with_a_revoked_secret_fails_alone() {
    let sim = two_tenants().await;
    let dir = tempfile::tempdir().unwrap();
    let out = once_for_two_tenants(&sim, dir.path(), "wrong-secret").await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("a audit: complete"), "{stderr}");
    assert!(stderr.contains("b audit: "), "{stderr}");
    assert!(!stderr.contains("b audit: complete"), "{stderr}");
    let a = tenants_of(&dir.path().join("events/a/audit.jsonl"));
    assert!(!a.is_empty());
    assert!(
        a.iter().all(|t| t == &format!("\"{TENANT_A}\"")),
        "a foreign event in a's file"
    );
    assert!(tenants_of(&dir.path().join("events/b/audit.jsonl")).is_empty());
    assert!(dir.path().join("state").read_dir().unwrap().count() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_tenant_does_not_hold_the_others() {
    let sim = two_tenants().await;
    // `b` is listed first; run one after the other, `a` would finish after
    // `b`'s wait.
    sim.faults().add(
        FaultRule::new(
            Target::SubscriptionsList,
            FaultKind::TooManyRequests {
                retry_after_secs: Some(6),
            },
        )
        .tenant(TENANT_B)
        .times(1),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = once_for_two_tenants(&sim, dir.path(), "secret-b").await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let a = stderr.find("a audit: complete").expect(&stderr);
    let b = stderr.find("b audit: complete").expect(&stderr);
    assert!(a < b, "a waited for b:\n{stderr}");
    let b_events = tenants_of(&dir.path().join("events/b/audit.jsonl"));
    assert!(b_events.iter().all(|t| t == &format!("\"{TENANT_B}\"")) && !b_events.is_empty());
}
