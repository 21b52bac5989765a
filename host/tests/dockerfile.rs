//! The `Dockerfile` (o365-host outside Azure, as a container).
//!
//! Offline, in every `cargo test`: what can be judged without a container
//! engine — the build context keeps what the build needs and drops the
//! rest, the binary the build stage produces is the one the runtime stage
//! copies and starts, the command is a real subcommand that stops on the
//! image's stop signal as documented, the environment the image sets is
//! settings the host reads, and both stages are the same Debian release
//! (the binary needs the build stage's glibc).
//!
//! With an engine: `docker_image_builds_and_runs` (ignored by default; it
//! is a release build of the whole workspace, tens of minutes) builds the
//! image and runs the demo in it. Run it with
//! `cargo test -p o365-host --test dockerfile -- --ignored` where `docker`
//! reaches a daemon (DOCKER_HOST or the default socket).

use std::path::{Path, PathBuf};
use std::process::Command;

const HOST: &str = env!("CARGO_BIN_EXE_o365-host");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The Dockerfile's instructions: (keyword, arguments), continuation lines
/// joined, comments dropped.
fn instructions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let (keyword, rest) = current.split_once(' ').unwrap_or((&current, ""));
        out.push((keyword.to_uppercase(), rest.trim().to_string()));
        current.clear();
    }
    out
}

fn all(keyword: &str) -> Vec<String> {
    instructions()
        .into_iter()
        .filter(|(k, _)| k == keyword)
        .map(|(_, v)| v)
        .collect()
}

fn json_array(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not an exec-form array ({e}): {text}"))
}

#[test]
fn the_build_context_keeps_what_the_build_needs_and_drops_the_rest() {
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore");
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for heavy in [
        "target/",
        ".git/",
        "tests/azurite/node_modules/",
        ".azure-package/",
    ] {
        assert!(
            ignored.contains(&heavy),
            ".dockerignore does not drop {heavy}"
        );
    }
    // `COPY . .` then `cargo build --locked`: these must reach the build.
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "rust-toolchain.toml",
        ".cargo/config.toml",
        "wit/connector.wit",
        "components/artifacts/build.rs",
        "host/Cargo.toml",
    ] {
        assert!(repo().join(needed).exists(), "{needed} is missing");
        assert!(
            !ignored
                .iter()
                .any(|i| needed.starts_with(i.trim_start_matches('/'))),
            ".dockerignore drops {needed}, which the build needs"
        );
    }
    let copies = all("COPY");
    assert!(copies.iter().any(|c| c == ". ."), "{copies:?}");
}

#[test]
fn the_runtime_stage_starts_the_binary_the_build_stage_built() {
    let runs = all("RUN").join(" ");
    assert!(
        runs.contains("cargo build --release --locked -p o365-host"),
        "{runs}"
    );
    // The build stage puts target/release/o365-host where the runtime stage
    // copies it from, and the entrypoint is that file.
    assert!(
        runs.contains("cp target/release/o365-host /usr/local/bin/o365-host"),
        "{runs}"
    );
    let from_build: Vec<String> = all("COPY")
        .into_iter()
        .filter(|c| c.starts_with("--from=build"))
        .collect();
    assert_eq!(
        from_build,
        ["--from=build /usr/local/bin/o365-host /usr/local/bin/o365-host"]
    );
    let entrypoint = json_array(&all("ENTRYPOINT")[0]);
    assert_eq!(entrypoint, ["/usr/local/bin/o365-host"]);
    // The package name is the binary name (host/Cargo.toml [[bin]]).
    assert!(
        Path::new(HOST)
            .file_name()
            .is_some_and(|n| n == "o365-host")
    );

    // Both stages are Debian 12: the binary needs the glibc it was built on.
    let froms = all("FROM");
    assert_eq!(froms.len(), 2, "{froms:?}");
    assert!(froms[0].contains("bookworm") && froms[0].ends_with("AS build"));
    assert!(froms[1].contains("bookworm"), "{froms:?}");
    // The runtime has what the binary links (libssl3) and TLS roots.
    assert!(runs.contains("libssl3") && runs.contains("ca-certificates"));
}

#[test]
fn the_command_and_the_environment_are_the_hosts() {
    // CMD is a subcommand of this host.
    let command = json_array(&all("CMD")[0]);
    let help = Command::new(HOST)
        .args(&command)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        help.status.success(),
        "`o365-host {command:?} --help` fails"
    );
    // `run` stops cleanly on SIGINT (its doc says so); the image's stop
    // signal is SIGINT because as PID 1 it would ignore SIGTERM's default.
    assert_eq!(command, ["run"]);
    assert_eq!(all("STOPSIGNAL"), ["SIGINT"]);
    let run_help = String::from_utf8_lossy(&help.stdout);
    assert!(
        run_help.to_lowercase().contains("until stopped"),
        "{run_help}"
    );

    // Every ENV name is a setting the host reads.
    let keys = Command::new(HOST)
        .args(["config", "keys"])
        .env("O365_LOG", "warn")
        .output()
        .unwrap();
    let keys = String::from_utf8_lossy(&keys.stdout).into_owned();
    let env = all("ENV").join(" ");
    let names: Vec<&str> = env
        .split_whitespace()
        .filter_map(|pair| pair.split_once('=').map(|(n, _)| n))
        .collect();
    assert!(names.len() >= 4, "{names:?}");
    for name in names {
        assert!(
            keys.lines().any(|k| k == name),
            "the image sets {name}, which the host does not read"
        );
    }
    // The state the image keeps is in its volume.
    let volume = json_array(&all("VOLUME")[0]);
    assert_eq!(volume, ["/var/lib/o365"]);
    assert!(env.contains("O365_STATE_DIR=/var/lib/o365/"));
}

/// Builds the image and runs the demo in it (the embedded simulator: no
/// network). Needs a container engine; see the module docs.
#[test]
#[ignore = "needs a Docker engine and a release build of the workspace (tens of minutes)"]
fn docker_image_builds_and_runs() {
    let tag = "o365-host:dockerfile-test";
    let build = Command::new("docker")
        .args(["build", "-t", tag, "."])
        .current_dir(repo())
        .status()
        .expect("docker runs");
    assert!(build.success(), "docker build failed");
    let version = Command::new("docker")
        .args(["run", "--rm", tag, "--version"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("o365-host "),
        "{version:?}"
    );
    let demo = Command::new("docker")
        .args([
            "run",
            "--rm",
            tag,
            "demo",
            "--hours",
            "1",
            "--dir",
            "/tmp/demo",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&demo.stderr);
    assert!(
        demo.status.success(),
        "demo in the container failed:\n{stderr}"
    );
    assert!(stderr.contains("checkpoints: /tmp/demo/state"), "{stderr}");
}
