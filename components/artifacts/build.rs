//! Compiles the guest components with a nested `cargo build --target
//! wasm32-wasip2`, so that a plain `cargo build` / `cargo test` on a fresh
//! machine produces them: nothing else to install or run. The nested build
//! uses its own target directory (beside this build's) so that it neither
//! waits on nor invalidates the outer build.
//!
//! The same technique as wasmtime's `test-programs-artifacts` crate.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (package name, constant prefix, embedded in the host binary?)
const GUESTS: &[(&str, &str, bool)] = &[
    ("audit", "AUDIT", true),
    ("message-trace-graph", "MESSAGE_TRACE_GRAPH", true),
    ("message-trace-reporting", "MESSAGE_TRACE_REPORTING", true),
    ("testbed", "TESTBED", false),
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.join("../..").canonicalize().unwrap();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out.
    let guest_target = out_dir
        .ancestors()
        .nth(3)
        .map(|profile_dir| profile_dir.join("guest"))
        .unwrap_or_else(|| out_dir.join("guest"));

    for dir in ["wit", "components", "tests/components", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }

    build_guests(&workspace, &guest_target);

    let wasm_dir = guest_target.join("wasm32-wasip2").join("release");
    let mut code = String::new();
    for (package, constant, embed) in GUESTS {
        let path = wasm_dir.join(format!("{}.wasm", package.replace('-', "_")));
        assert!(path.exists(), "guest build produced no {}", path.display());
        let path = path.display().to_string();
        writeln!(code, "/// Path of the compiled `{package}` component.").unwrap();
        writeln!(code, "pub const {constant}_PATH: &str = {path:?};").unwrap();
        if *embed {
            writeln!(code, "/// The compiled `{package}` component, embedded.").unwrap();
            writeln!(
                code,
                "pub const {constant}_WASM: &[u8] = include_bytes!({path:?});"
            )
            .unwrap();
        }
    }
    std::fs::write(out_dir.join("artifacts.rs"), code).unwrap();
}

fn build_guests(workspace: &Path, target_dir: &Path) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(target_dir);
    for (package, _, _) in GUESTS {
        cmd.args(["-p", package]);
    }
    // Flags meant for the outer (native) build must not leak into the guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the guest components: {e}"));
    if !status.success() {
        panic!(
            "building the guest components for wasm32-wasip2 failed ({status}).\n\
             If the target is missing, `rustup target add wasm32-wasip2` installs it \
             (rust-toolchain.toml asks rustup to do so automatically)."
        );
    }
}
