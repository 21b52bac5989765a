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
use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "support/host_process.rs"]
mod host_process;
use host_process::{HOST, cache_dir, text};

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
        // APIs where Entra ID is: HTTPS unless `env` names another authority.
        let api = env
            .iter()
            .find(|(name, _)| *name == "ENTRA_AUTHORITY_HOST")
            .map_or(https.clone(), |(_, value)| value.clone());
        let ca = self.file("ca.pem", &sim.ca_pem().unwrap());
        let cache = cache_dir();
        let mut cmd = tokio::process::Command::new(HOST);
        for name in CREDENTIAL_SETTINGS {
            cmd.env_remove(name);
        }
        cmd.args(command)
            .args([
                "--api",
                &api,
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
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the app authenticates with its certificate")
            && !stderr.contains("expires within 30 days"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_expiring_within_30_days_works_and_warns() {
    let now = std::time::SystemTime::now();
    let day = std::time::Duration::from_secs(86400);
    let certificate =
        TestCertificate::new(TestKey::First, now - 300 * day, now + 20 * day).unwrap();
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
    let stderr = text(&out.stderr);
    let warning = stderr
        .lines()
        .find(|l| l.contains("expires within 30 days"))
        .unwrap_or_else(|| panic!("no expiry warning: {stderr}"));
    assert!(
        warning.contains("WARN") && warning.contains("thumbprint="),
        "{warning}"
    );
    assert!(run.published() > 0);
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
            .contains("ENTRA_APP_CLIENT_SECRET and ENTRA_APP_CLIENT_CERTIFICATE_PATH are both set"),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_rotated_in_key_vault_is_picked_up_without_a_restart() {
    let first = TestCertificate::valid(TestKey::First);
    let second = TestCertificate::valid(TestKey::Second);
    let sim = simulator(Some(&first), false).await;
    sim.set_secret(SECRET_NAME, &first.pem(), None);
    let run = Run::new();
    let mut child = run
        .command(&sim, &["run"], &key_vault_env(&sim))
        // Every two seconds, in the Functions timer syntax.
        .env("AUDIT_LOGS_INDEXER_SCHEDULE", "*/2 * * * * *")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(90);
    let mut seen = Vec::new();
    let mut next_complete = async || loop {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .expect("a cycle within the deadline")
            .unwrap()
            .expect("run keeps running");
        seen.push(line.clone());
        assert!(!line.starts_with("audit: INCOMPLETE"), "{seen:#?}");
        if line.starts_with("audit: complete") {
            return seen.clone();
        }
    };
    next_complete().await;

    // Rotation as an operator does it: the app registration now trusts
    // only the new certificate, Key Vault holds the new PEM, and the
    // tokens signed for with the old one stop working.
    sim.set_client_certificate(DEFAULT_CLIENT_ID, Some(&second.certificate_pem));
    sim.set_secret(SECRET_NAME, &second.pem(), None);
    sim.revoke_tokens();
    // Cycles this close together find nothing new to ask for; forgetting
    // the checkpoint makes the next one call the API again.
    std::fs::remove_dir_all(run.dir.path().join("state")).unwrap();
    let reads_before = requests_to(&sim, &format!("/secrets/{SECRET_NAME}"))
        .iter()
        .filter(|r| r.status == 200)
        .count();
    // The cycle running now may have started before the rotation: wait
    // for the one that meets it.
    let mut log = Vec::new();
    for _ in 0..5 {
        log = next_complete().await;
        if log
            .iter()
            .any(|l| l.contains("the app's certificate changed"))
        {
            break;
        }
    }
    child.kill().await.unwrap();

    let reads_after = requests_to(&sim, &format!("/secrets/{SECRET_NAME}"))
        .iter()
        .filter(|r| r.status == 200)
        .count();
    assert_eq!(
        reads_after,
        reads_before + 1,
        "one read of the new PEM: {log:#?} {:#?}",
        sim.requests()
    );
    let token_statuses: Vec<u16> =
        requests_to(&sim, &format!("/{DEFAULT_TENANT}/oauth2/v2.0/token"))
            .iter()
            .map(|r| r.status)
            .collect();
    assert!(
        token_statuses.contains(&401) && token_statuses.last() == Some(&200),
        "refused once with the old certificate, then a token: {token_statuses:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("the app's certificate changed")),
        "{log:#?}"
    );
}

/// A forward proxy for plain-http targets that requires `token`, as
/// `APP_PROXY_URI` / `APP_PROXY_TOKEN` point at.
/// Returns its URL and how many requests it forwarded.
async fn forwarding_proxy(token: &'static str) -> (String, Arc<AtomicUsize>) {
    use axum::body::Body;
    use axum::extract::Request;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let forwarded = Arc::new(AtomicUsize::new(0));
    let count = forwarded.clone();
    let app = axum::Router::new().fallback(move |request: Request| {
        let client = client.clone();
        let count = count.clone();
        async move {
            let authorized = request
                .headers()
                .get("proxy-authorization")
                .and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {token}"));
            if !authorized {
                return axum::http::Response::builder()
                    .status(407)
                    .body(Body::empty())
                    .unwrap();
            }
            count.fetch_add(1, Ordering::SeqCst);
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let mut forward = client.request(parts.method.clone(), parts.uri.to_string());
            for (name, value) in &parts.headers {
                if name != "proxy-authorization" && name != "host" {
                    forward = forward.header(name, value);
                }
            }
            let Ok(answer) = forward.body(body).send().await else {
                return axum::http::Response::builder()
                    .status(502)
                    .body(Body::from(format!(
                        "the proxy cannot forward {}",
                        parts.uri
                    )))
                    .unwrap();
            };
            let mut response = axum::http::Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                response = response.header(name, value);
            }
            response
                .body(Body::from(answer.bytes().await.unwrap()))
                .unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), forwarded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_any_log_line_even_at_trace_level() {
    const PROXY_TOKEN: &str = "proxy-token-7f3a9c";
    let certificate = TestCertificate::valid(TestKey::First);
    let sim = simulator(Some(&certificate), true).await;
    sim.set_secret(SECRET_NAME, &certificate.pem(), None);
    let (proxy, forwarded) = forwarding_proxy(PROXY_TOKEN).await;
    let run = Run::new();
    let mut output = String::new();

    // A cycle with the client secret, through the proxy with its token
    // (APIs and Entra ID on the plain listener, so the proxy sees them).
    let api = sim.url();
    let secret_run = run.command(
        &sim,
        &["once"],
        &[
            ("ENTRA_APP_CLIENT_SECRET", DEFAULT_CLIENT_SECRET.to_string()),
            ("APP_PROXY_URI", proxy.clone()),
            ("APP_PROXY_TOKEN", PROXY_TOKEN.to_string()),
            ("ENTRA_AUTHORITY_HOST", api.clone()),
            ("O365_LOG", "trace".to_string()),
        ],
    );
    let out = { secret_run }.output().await.unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        forwarded.load(Ordering::SeqCst) > 10,
        "the proxy carried the cycle"
    );
    output.push_str(&text(&out.stdout));
    output.push_str(&text(&out.stderr));

    // A cycle with the certificate from Key Vault via the managed identity
    // (from a fresh checkpoint, so that it calls the API too).
    std::fs::remove_dir_all(run.dir.path().join("state")).unwrap();
    let mut env = key_vault_env(&sim);
    env.push(("O365_LOG", "trace".to_string()));
    let out = run.once(&sim, &env).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    output.push_str(&text(&out.stdout));
    output.push_str(&text(&out.stderr));

    // The log is really at trace level and covers both paths.
    assert!(output.lines().filter(|l| l.contains("TRACE")).count() > 100);
    let thumbprint = o365_host::tokens::ClientCertificate::from_pem(
        &certificate.pem(),
        std::time::SystemTime::now(),
    )
    .unwrap()
    .thumbprint();
    assert!(output.contains(&thumbprint));

    let mut secrets: Vec<String> = vec![
        DEFAULT_CLIENT_SECRET.to_string(),
        PROXY_TOKEN.to_string(),
        DEFAULT_IDENTITY_HEADER.to_string(),
    ];
    // Every line of the private key's base64.
    secrets.extend(
        certificate
            .key_pem
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 20)
            .map(str::to_string),
    );
    let issued = sim.issued_tokens();
    assert!(
        issued.len() >= 3,
        "Entra and managed-identity tokens: {issued:?} {:#?}",
        sim.requests()
            .iter()
            .filter(|r| !r.path_and_query.contains("activity"))
            .collect::<Vec<_>>()
    );
    secrets.extend(issued);
    let presented = sim.presented_credentials();
    assert!(
        presented.iter().any(|c| c.starts_with("eyJ")),
        "an assertion was sent"
    );
    // An assertion's signature alone is enough to recognise it.
    secrets.extend(
        presented
            .iter()
            .filter_map(|c| c.rsplit('.').next())
            .map(str::to_string),
    );
    for secret in &secrets {
        if let Some(line) = output.lines().find(|l| l.contains(secret.as_str())) {
            panic!("a secret reached the log: {line}");
        }
    }
}
