//! Azurite for tests: [`Azurite::start`] runs the Azure Storage emulator
//! (Blob, Queue and Table services) on free ports with a fresh temporary
//! workspace, waits until it answers, and stops it when dropped.
//!
//! Azurite comes from npm, pinned by `tests/azurite/package-lock.json`.
//! If it is not installed yet, the first test to need it runs
//! `tests/azurite/install.sh` (once, under a file lock, saying so) instead
//! of skipping: a test that needs storage never passes without having run
//! against Azurite. It runs with `--skipApiVersionCheck`, because the Azure
//! SDK for Rust sends a newer `x-ms-version` (2026-04-06 for
//! `azure_storage_blob` 1.1) than Azurite 3.35 knows (2025-01-05), and with
//! `--disableTelemetry`.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Azurite's published development account.
pub const ACCOUNT: &str = "devstoreaccount1";
/// Azurite's published development key (public, not a secret).
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A running Azurite, stopped on drop.
pub struct Azurite {
    child: Child,
    /// Port of the Blob service.
    pub blob_port: u16,
    /// Port of the Queue service.
    pub queue_port: u16,
    log: PathBuf,
    _workspace: tempfile::TempDir,
}

impl Azurite {
    /// Starts Azurite on free ports, installing it first if needed. Panics
    /// with what to do when it cannot be installed or does not answer.
    pub fn start() -> Self {
        let bin = ensure_installed();
        let workspace = tempfile::tempdir().expect("a temporary directory for Azurite");
        let log = workspace.path().join("azurite.log");
        let [blob_port, queue_port, table_port] = free_ports();
        let errors = std::fs::File::create(&log).expect("Azurite's log file");
        let child = Command::new(&bin)
            .arg("--location")
            .arg(workspace.path().join("data"))
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &blob_port.to_string(),
            ])
            .args([
                "--queueHost",
                "127.0.0.1",
                "--queuePort",
                &queue_port.to_string(),
            ])
            .args([
                "--tableHost",
                "127.0.0.1",
                "--tablePort",
                &table_port.to_string(),
            ])
            .args(["--skipApiVersionCheck", "--disableTelemetry", "--silent"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(errors)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let mut azurite = Self {
            child,
            blob_port,
            queue_port,
            log,
            _workspace: workspace,
        };
        azurite.wait_until_ready();
        azurite
    }

    /// The connection string of the development account at this instance,
    /// as an `AzureWebJobsStorage` value.
    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={};QueueEndpoint=http://127.0.0.1:{}/{ACCOUNT};",
            self.blob_endpoint(),
            self.queue_port
        )
    }

    /// The Blob service endpoint, `http://127.0.0.1:PORT/devstoreaccount1`.
    pub fn blob_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.blob_port)
    }

    /// What Azurite wrote to stderr so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = [self.blob_port, self.queue_port]
                .iter()
                .all(|port| TcpStream::connect(("127.0.0.1", *port)).is_ok());
            if ready {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("Azurite exited at start ({status}): {}", self.log());
            }
            if Instant::now() > deadline {
                panic!(
                    "Azurite did not answer on port {} within 60 s",
                    self.blob_port
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The directory with `package.json` and `install.sh`.
fn home() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `azurite` launcher, after running `install.sh` if it is missing.
fn ensure_installed() -> PathBuf {
    let bin = home().join("node_modules/.bin/azurite");
    if bin.exists() {
        return bin;
    }
    // One installer at a time across test processes.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(home().join(".install.lock"))
        .expect("the install lock file in tests/azurite");
    lock.lock().expect("locking tests/azurite/.install.lock");
    if !bin.exists() {
        eprintln!("Azurite is not installed: running tests/azurite/install.sh (npm ci) once");
        let status = Command::new(home().join("install.sh"))
            .status()
            .unwrap_or_else(|e| {
                panic!("running tests/azurite/install.sh: {e}; install Node.js 20+ and npm")
            });
        assert!(
            status.success() && bin.exists(),
            "tests/azurite/install.sh failed ({status}): the Blob storage tests need Azurite; install Node.js 20+ and npm, then run it by hand"
        );
    }
    bin
}

/// Three distinct ports free at the time of asking.
fn free_ports() -> [u16; 3] {
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    [ports[0], ports[1], ports[2]]
}
