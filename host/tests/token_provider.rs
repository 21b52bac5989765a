//! `ClientCredentials` against the simulator's token endpoint, in process:
//! one request for concurrent callers, refresh before expiry, a dropped
//! token after a 401, a refused certificate read again once (and never in
//! a loop), and the hints an operator gets.

use o365_host::secrets::{PemFile, PemSource, SecretError};
use o365_host::tokens::{
    CertificateCredential, ClientCredentials, ClientCredentialsOptions, Secret, TokenError,
    TokenProvider,
};
use o365_simulator::{
    ClientSpec, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT, Simulator,
    SimulatorConfig, TestCertificate, TestKey,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const MANAGEMENT: &str = "https://manage.office.com";
const GRAPH: &str = "https://graph.microsoft.com";

async fn simulator(certificate: Option<&TestCertificate>, lifetime: Duration) -> Simulator {
    Simulator::start(SimulatorConfig {
        clients: vec![ClientSpec {
            client_id: DEFAULT_CLIENT_ID.into(),
            secret: Some(DEFAULT_CLIENT_SECRET.into()),
            certificate_pem: certificate.map(|c| c.certificate_pem.clone()),
        }],
        token_lifetime: lifetime,
        ..SimulatorConfig::default()
    })
    .await
    .unwrap()
}

fn token_statuses(sim: &Simulator) -> Vec<u16> {
    sim.requests()
        .iter()
        .filter(|r| r.path_and_query.ends_with("/oauth2/v2.0/token"))
        .map(|r| r.status)
        .collect()
}

fn provider(sim: &Simulator, mut options: ClientCredentialsOptions) -> Arc<ClientCredentials> {
    options.authority = sim.url();
    Arc::new(ClientCredentials::new(options, reqwest::Client::new()))
}

fn with_secret(secret: &str) -> ClientCredentialsOptions {
    ClientCredentialsOptions::with_secret(DEFAULT_CLIENT_ID, Secret::new(secret))
}

/// A PEM file whose reads are counted.
struct CountedFile {
    file: PemFile,
    reads: AtomicUsize,
}

#[async_trait::async_trait]
impl PemSource for CountedFile {
    async fn load(&self) -> Result<Secret, SecretError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.file.load().await
    }

    fn origin(&self) -> String {
        self.file.origin()
    }
}

async fn certificate_file(
    dir: &tempfile::TempDir,
    pem: &str,
) -> (std::path::PathBuf, Arc<CountedFile>) {
    let path = dir.path().join("app.pem");
    std::fs::write(&path, pem).unwrap();
    let source = Arc::new(CountedFile {
        file: PemFile::new(&path),
        reads: AtomicUsize::new(0),
    });
    (path, source)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_for_one_tenant_and_audience_share_one_request() {
    let sim = simulator(None, Duration::from_secs(3599)).await;
    let tokens = provider(&sim, with_secret(DEFAULT_CLIENT_SECRET));
    let calls = (0..20).map(|_| {
        let tokens = tokens.clone();
        tokio::spawn(async move { tokens.token(DEFAULT_TENANT, MANAGEMENT).await.unwrap() })
    });
    let mut values = Vec::new();
    for call in calls {
        values.push(call.await.unwrap().value.expose().to_string());
    }
    values.dedup();
    assert_eq!(values.len(), 1, "every caller got the same token");
    assert_eq!(token_statuses(&sim), [200]);

    // Another audience is another token; the first stays cached.
    let graph = tokens.token(DEFAULT_TENANT, GRAPH).await.unwrap();
    assert_ne!(graph.value.expose(), values[0]);
    tokens.token(DEFAULT_TENANT, MANAGEMENT).await.unwrap();
    assert_eq!(token_statuses(&sim), [200, 200]);

    // A 401 from the API drops the token; the next call fetches a new one.
    tokens.invalidate(DEFAULT_TENANT, MANAGEMENT);
    let fresh = tokens.token(DEFAULT_TENANT, MANAGEMENT).await.unwrap();
    assert_ne!(fresh.value.expose(), values[0]);
    assert_eq!(token_statuses(&sim), [200, 200, 200]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_within_the_refresh_margin_is_fetched_again() {
    // Tokens live 4 minutes; the provider refreshes 5 minutes early.
    let sim = simulator(None, Duration::from_secs(240)).await;
    let tokens = provider(&sim, with_secret(DEFAULT_CLIENT_SECRET));
    let first = tokens.token(DEFAULT_TENANT, MANAGEMENT).await.unwrap();
    let second = tokens.token(DEFAULT_TENANT, MANAGEMENT).await.unwrap();
    assert_ne!(first.value.expose(), second.value.expose());
    assert_eq!(token_statuses(&sim), [200, 200]);

    // With a margin shorter than the lifetime it is reused.
    let mut options = with_secret(DEFAULT_CLIENT_SECRET);
    options.refresh_margin = Duration::from_secs(60);
    let tokens = provider(&sim, options);
    tokens.token(DEFAULT_TENANT, MANAGEMENT).await.unwrap();
    tokens.token(DEFAULT_TENANT, MANAGEMENT).await.unwrap();
    assert_eq!(token_statuses(&sim), [200, 200, 200]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_says_to_use_the_secrets_value() {
    let sim = simulator(None, Duration::from_secs(3599)).await;
    let tokens = provider(&sim, with_secret("the-secret-id-not-its-value"));
    let err = tokens.token(DEFAULT_TENANT, MANAGEMENT).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, TokenError::Rejected { status: 401, .. }),
        "{text}"
    );
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(text.contains("Value (not its Secret ID)"), "{text}");
    assert!(!text.contains("the-secret-id-not-its-value"), "{text}");
    // The trace and correlation ids Entra appends stay out of the message.
    assert!(!text.contains("Trace ID"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_certificate_is_read_again_once_and_the_new_one_used() {
    let first = TestCertificate::valid(TestKey::First);
    let second = TestCertificate::valid(TestKey::Second);
    let sim = simulator(Some(&first), Duration::from_secs(3599)).await;
    let dir = tempfile::tempdir().unwrap();
    let (path, source) = certificate_file(&dir, &first.pem()).await;
    let credential = Arc::new(CertificateCredential::load(source.clone()).await.unwrap());
    let tokens = provider(
        &sim,
        ClientCredentialsOptions::with_certificate(DEFAULT_CLIENT_ID, credential),
    );
    tokens.token(DEFAULT_TENANT, MANAGEMENT).await.unwrap();
    assert_eq!(source.reads.load(Ordering::SeqCst), 1);

    // Rotation: the app trusts only the new certificate, the file holds it.
    sim.set_client_certificate(DEFAULT_CLIENT_ID, Some(&second.certificate_pem));
    std::fs::write(&path, second.pem()).unwrap();
    tokens.invalidate(DEFAULT_TENANT, MANAGEMENT);
    tokens.token(DEFAULT_TENANT, MANAGEMENT).await.unwrap();
    assert_eq!(token_statuses(&sim), [200, 401, 200]);
    assert_eq!(source.reads.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_certificate_is_not_retried_in_a_loop_and_is_named() {
    let registered = TestCertificate::valid(TestKey::First);
    let stored = TestCertificate::valid(TestKey::Second);
    let sim = simulator(Some(&registered), Duration::from_secs(3599)).await;
    let dir = tempfile::tempdir().unwrap();
    let (_, source) = certificate_file(&dir, &stored.pem()).await;
    let credential = Arc::new(CertificateCredential::load(source.clone()).await.unwrap());
    let thumbprint = credential.current().await.thumbprint();
    let tokens = provider(
        &sim,
        ClientCredentialsOptions::with_certificate(DEFAULT_CLIENT_ID, credential),
    );
    let err = tokens.token(DEFAULT_TENANT, MANAGEMENT).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("AADSTS700027"), "{text}");
    assert!(text.contains(&thumbprint), "{text}");
    assert!(text.contains("ENTRA_APP_CLIENT_CERTIFICATE_PATH"), "{text}");
    // The same certificate read again: no second request.
    assert_eq!(token_statuses(&sim), [401]);
    assert_eq!(source.reads.load(Ordering::SeqCst), 2);

    // Asking again within a minute neither reads the file nor retries.
    tokens.token(DEFAULT_TENANT, MANAGEMENT).await.unwrap_err();
    assert_eq!(token_statuses(&sim), [401, 401]);
    assert_eq!(source.reads.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_is_read_again_on_schedule_and_a_failed_read_keeps_the_old_one() {
    let first = TestCertificate::valid(TestKey::First);
    let dir = tempfile::tempdir().unwrap();
    let (path, source) = certificate_file(&dir, &first.pem()).await;
    let credential = CertificateCredential::load(source.clone())
        .await
        .unwrap()
        .reload_every(Duration::ZERO);
    let thumbprint = credential.current().await.thumbprint();
    assert_eq!(source.reads.load(Ordering::SeqCst), 2);

    // The file vanishes: the certificate in hand stays.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(credential.current().await.thumbprint(), thumbprint);
    assert_eq!(source.reads.load(Ordering::SeqCst), 3);

    // A new one appears: it is used from the next read on.
    let second = TestCertificate::valid(TestKey::Second);
    std::fs::write(&path, second.pem()).unwrap();
    assert_ne!(credential.current().await.thumbprint(), thumbprint);

    // With the default interval nothing is read again soon.
    let steady = CertificateCredential::load(source.clone()).await.unwrap();
    let reads = source.reads.load(Ordering::SeqCst);
    steady.current().await;
    steady.current().await;
    assert_eq!(source.reads.load(Ordering::SeqCst), reads);
}
