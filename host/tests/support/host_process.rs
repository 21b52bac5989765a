//! Running the `o365-host` binary from a test as an operator would: only the
//! settings the test gives (nothing inherited from the developer's shell),
//! quiet logs, and one compile cache shared by the test binaries so each
//! does not compile the embedded components again.
//!
//! Included with `#[path = "support/host_process.rs"] mod host_process;`;
//! a test binary may use only part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;

/// The binary under test.
pub const HOST: &str = env!("CARGO_BIN_EXE_o365-host");

/// The compile cache the test binaries share.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-component-cache")
}

/// `o365-host args` with only `env` (and `PATH`) as its environment.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(HOST);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("O365_COMPONENT_CACHE_DIR", cache_dir())
        .env("O365_LOG", "warn")
        .args(args)
        .envs(env.iter().copied());
    command
}

/// Runs [`command`] to the end.
pub async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(args, env).output().await.expect("o365-host runs")
}

/// Output bytes as text, for assertions and failure messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
