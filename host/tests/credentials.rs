//! The app's credentials as an operator sets them, through the real
//! binary: a certificate PEM from a local file, from Key Vault read with the
//! managed identity (App Service style, the real `ManagedIdentityCredential`
//! and `SecretClient` against the simulator over HTTPS), a certificate Entra
//! ID does not know, rotation in Key Vault without a restart, and no secret
//! in any log line.

use o365_simulator::{
    ClientSpec, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_IDENTITY_HEADER, DEFAULT_TENANT,
    RequestRecord, Simulator, SimulatorConfig, TestCertificate, TestKey,
};
use std::path::{Path, PathBuf};
use std::process::Output;

const HOST: &str = env!("CARGO_BIN_EXE_o365-host");
const SECRET_NAME: &str = "app-cert";

/// Every setting that names a credential, so the developer's environment
/// cannot leak into a test.
const CREDENTIAL_SETTINGS: &[&str] = &[
    "ENTRA_APP_CLIENT_ID",
    "ENTRA_APP_CLIENT_SECRET",
    "ENTRA_APP_CLIENT_CERTIFICATE_PATH",
    "ENTRA_APP_CLIENT_CERTIFICATE_KEYVAULT_NAME",
    "ENTRA_APP_CLIENT_CERTIFICATE_NAME",
    "ENTRA_TENANT_ID",
    "ENTRA_AUTHORITY_HOST",
    "O365_STATIC_TOKEN",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "MSI_ENDPOINT",
    "AZURE_CLIENT_ID",
    "APP_PROXY_URI",
    "APP_PROXY_TOKEN",
    "O365_EXTRA_CA_CERT",
];

/// A simulator whose app has certificate `registered` (and a secret only
/// when `with_secret`), over HTTP and HTTPS.
async fn simulator(registered: Option<&TestCertificate>, with_secret: bool) -> Simulator {
    Simulator::start(SimulatorConfig {
        tls: true,
        clients: vec![ClientSpec {
            client_id: DEFAULT_CLIENT_ID.into(),
            secret: with_secret.then(|| DEFAULT_CLIENT_SECRET.into()),
            certificate_pem: registered.map(|c| c.certificate_pem.clone()),
        }],
        ..SimulatorConfig::default()
    })
    .await
    .unwrap()
}

struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// `o365-host <command> --sources audit` against `sim` (APIs and
    /// authority on its HTTPS listener), with `env` as the only
    /// credential settings.
    fn command(
        &self,
        sim: &Simulator,
        command: &[&str],
        env: &[(&str, String)],
    ) -> tokio::process::Command {
        let https = sim.https_url().unwrap();
        let ca = self.file("ca.pem", &sim.ca_pem().unwrap());
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-component-cache");
        let mut cmd = tokio::process::Command::new(HOST);
        for name in CREDENTIAL_SETTINGS {
            cmd.env_remove(name);
        }
        cmd.args(command)
            .args([
                "--api",
                &https,
                "--tenant",
                DEFAULT_TENANT,
                "--sources",
                "audit",
            ])
            .args(["--set", "O365_REQUESTS_PER_MINUTE=0"])
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .arg("--out-dir")
            .arg(self.dir.path().join("events"))
            .env("ENTRA_TENANT_ID", DEFAULT_TENANT)
            .env("ENTRA_APP_CLIENT_ID", DEFAULT_CLIENT_ID)
            .env("ENTRA_AUTHORITY_HOST", &https)
            .env("O365_EXTRA_CA_CERT", &ca)
            .env("O365_COMPONENT_CACHE_DIR", cache)
            .env("O365_LOG", "info")
            .kill_on_drop(true);
        for (name, value) in env {
            cmd.env(name, value);
        }
        cmd
    }

    async fn once(&self, sim: &Simulator, env: &[(&str, String)]) -> Output {
        self.command(sim, &["once"], env)
            .output()
            .await
            .expect("o365-host runs")
    }

    fn published(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("events/audit.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

/// Settings that read the certificate from the simulator's Key Vault with
/// its managed identity.
fn key_vault_env(sim: &Simulator) -> Vec<(&'static str, String)> {
    vec![
        ("IDENTITY_ENDPOINT", sim.identity_endpoint()),
        ("IDENTITY_HEADER", DEFAULT_IDENTITY_HEADER.to_string()),
        (
            "ENTRA_APP_CLIENT_CERTIFICATE_KEYVAULT_NAME",
            sim.https_url().unwrap(),
        ),
        ("ENTRA_APP_CLIENT_CERTIFICATE_NAME", SECRET_NAME.to_string()),
    ]
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn requests_to(sim: &Simulator, path_start: &str) -> Vec<RequestRecord> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path_and_query.starts_with(path_start))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_in_a_local_pem_file_gets_tokens() {
    let certificate = TestCertificate::valid(TestKey::First);
    // The app has no secret: only the certificate can get a token.
    let sim = simulator(Some(&certificate), false).await;
    let run = Run::new();
    let pem = run.file("app.pem", &certificate.pem());
    let out = run
        .once(
            &sim,
            &[(
                "ENTRA_APP_CLIENT_CERTIFICATE_PATH",
                pem.display().to_string(),
            )],
        )
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(run.published() > 0);
    let tokens = requests_to(&sim, &format!("/{DEFAULT_TENANT}/oauth2/v2.0/token"));
    assert!(tokens.iter().all(|r| r.status == 200), "{tokens:?}");
    assert!(!tokens.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_in_key_vault_is_read_with_the_managed_identity() {
    let certificate = TestCertificate::valid(TestKey::First);
    let sim = simulator(Some(&certificate), false).await;
    sim.set_secret(
        SECRET_NAME,
        &certificate.pem(),
        Some("application/x-pem-file"),
    );
    let run = Run::new();
    let out = run.once(&sim, &key_vault_env(&sim)).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(run.published() > 0);

    // Key Vault's challenge first, then the managed identity's token for
    // Key Vault, then the secret with it.
    let vault = requests_to(&sim, &format!("/secrets/{SECRET_NAME}"));
    let statuses: Vec<u16> = vault.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 200], "{vault:?}");
    assert!(vault[0].authorization.is_none());
    assert!(
        vault[1]
            .authorization
            .as_deref()
            .unwrap()
            .starts_with("Bearer sim.")
    );
    let identity = requests_to(&sim, "/msi/token");
    assert_eq!(identity.len(), 1, "{identity:?}");
    assert!(
        identity[0]
            .path_and_query
            .contains("resource=https%3A%2F%2Fvault.azure.net")
    );
    assert_eq!(identity[0].status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_entra_does_not_know_fails_naming_the_thumbprint_and_the_fix() {
    let registered = TestCertificate::valid(TestKey::First);
    let stored = TestCertificate::valid(TestKey::Second);
    let sim = simulator(Some(&registered), false).await;
    sim.set_secret(SECRET_NAME, &stored.pem(), None);
    let run = Run::new();
    let out = run.once(&sim, &key_vault_env(&sim)).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    let thumbprint =
        o365_host::tokens::ClientCertificate::from_pem(&stored.pem(), std::time::SystemTime::now())
            .unwrap()
            .thumbprint();
    for needle in [
        "AADSTS700027",
        thumbprint.as_str(),
        "is not registered on app",
        "Certificates & secrets",
        "Key Vault secret `app-cert`",
    ] {
        assert!(stderr.contains(needle), "no {needle} in: {stderr}");
    }
    assert_eq!(run.published(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_pem_or_two_credentials_stop_the_start_with_the_setting_named() {
    let certificate = TestCertificate::valid(TestKey::First);
    let other = TestCertificate::valid(TestKey::Second);
    let sim = simulator(Some(&certificate), true).await;
    let run = Run::new();
    let mismatched = run.file(
        "mismatched.pem",
        &format!("{}{}", certificate.key_pem, other.certificate_pem),
    );
    let out = run
        .once(
            &sim,
            &[(
                "ENTRA_APP_CLIENT_CERTIFICATE_PATH",
                mismatched.display().to_string(),
            )],
        )
        .await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("ENTRA_APP_CLIENT_CERTIFICATE_PATH")
            && stderr.contains("does not belong to the certificate"),
        "{stderr}"
    );

    let out = run
        .once(
            &sim,
            &[
                ("ENTRA_APP_CLIENT_SECRET", DEFAULT_CLIENT_SECRET.to_string()),
                (
                    "ENTRA_APP_CLIENT_CERTIFICATE_PATH",
                    mismatched.display().to_string(),
                ),
            ],
        )
        .await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr
            .contains("ENTRA_APP_CLIENT_SECRET and ENTRA_APP_CLIENT_CERTIFICATE_PATH are all set"),
        "{stderr}"
    );

    // A missing Key Vault secret names the secret, the vault and the settings.
    let out = run.once(&sim, &key_vault_env(&sim)).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Key Vault secret `app-cert`")
            && stderr.contains("ENTRA_APP_CLIENT_CERTIFICATE_NAME")
            && stderr.contains("was not found in this key vault"),
        "{stderr}"
    );
    assert_eq!(run.published(), 0);
}
