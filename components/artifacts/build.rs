//! Compiles the guest components with a nested `cargo build --target
//! wasm32-wasip2`, so that a plain `cargo build` / `cargo test` on a fresh
//! machine produces them: nothing else to install or run. The nested build
//! uses its own target directory (beside this build's) so that it neither
//! waits on nor invalidates the outer build.
//!
//! The same technique as wasmtime's `test-programs-artifacts` crate.
//!
//! A fresh machine may lack the `wasm32-wasip2` standard library: rustup
//! installs the targets named in `rust-toolchain.toml` by itself only where
//! auto-install is on, and many machines turn it off (`RUSTUP_AUTO_INSTALL=0`).
//! `.cargo/ensure-wasm-target.sh` (cargo's rustc wrapper) adds it through
//! rustup in the first second of a build, as `cargo-component` does; this
//! script says so in one line, and checks again for builds that bypass the
//! wrapper (a `RUSTC_WRAPPER` such as sccache). Cargo schedules this script
//! late in a cold build, which is why the early check is the wrapper's.

use std::env;
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hash, Hasher};
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
    let guest_target = guest_target_dir(&workspace, &out_dir);

    for dir in ["wit", "components", "tests/components", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    let stamp = out_dir.join(NOTICE_STAMP);
    if !stamp.exists() {
        let _ = std::fs::write(&stamp, b"");
    }
    println!("cargo:rerun-if-changed={}", stamp.display());

    ensure_wasm_target();
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

/// Where the nested guest build keeps its files: `<target>/<profile>/guest`.
/// When the target directory lies outside the workspace (a `CARGO_TARGET_DIR`
/// shared by several checkouts), each checkout gets its own guest directory,
/// so that two checkouts never overwrite each other's `.wasm` files.
fn guest_target_dir(workspace: &Path, out_dir: &Path) -> PathBuf {
    // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out.
    let Some(profile_dir) = out_dir.ancestors().nth(3) else {
        return out_dir.join("guest");
    };
    if profile_dir.starts_with(workspace) {
        return profile_dir.join("guest");
    }
    let mut hasher = DefaultHasher::new();
    workspace.hash(&mut hasher);
    profile_dir.join(format!("guest-{:016x}", hasher.finish()))
}

const WASM_TARGET: &str = "wasm32-wasip2";

/// Left by `.cargo/ensure-wasm-target.sh` in the target's directory when it
/// installed the target for this build, so that this script can say so
/// (cargo hides the output of the wrapper's call).
const INSTALLED_MARKER: &str = "installed-by-o365-build";

/// Makes sure the toolchain that runs this build has the `wasm32-wasip2`
/// standard library, installing it through rustup if it is missing, and
/// says in one line when it was installed for this build.
fn ensure_wasm_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let toolchain = env::var("RUSTUP_TOOLCHAIN").ok();
    let command = match &toolchain {
        Some(name) => format!("rustup target add {WASM_TARGET} --toolchain {name}"),
        None => format!("rustup target add {WASM_TARGET}"),
    };
    let notice = format!(
        "cargo:warning=the {WASM_TARGET} target was missing from this toolchain; \
         installed it with `{command}` (the connector components are built for it)"
    );
    let libdir = wasm_libdir(&rustc);
    if let Some(libdir) = &libdir {
        let marker = libdir.with_file_name(INSTALLED_MARKER);
        if std::fs::remove_file(&marker).is_ok() {
            say_once(&notice);
        }
        if has_std(libdir) {
            return;
        }
    }
    // Reached when the build bypassed the wrapper (RUSTC_WRAPPER is set).
    eprintln!("installing the {WASM_TARGET} target: {command}");
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", WASM_TARGET]);
    if let Some(name) = &toolchain {
        rustup.args(["--toolchain", name]);
    }
    let outcome = match rustup.status() {
        Ok(status) if status.success() && libdir.as_deref().is_some_and(has_std) => {
            say_once(&notice);
            return;
        }
        Ok(status) => format!("`{command}` failed ({status}); see its output above"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            "rustup is not installed, so the target cannot be added automatically".to_string()
        }
        Err(e) => format!("could not run rustup: {e}"),
    };
    panic!(
        "\n\nThe {WASM_TARGET} target is missing from this Rust toolchain and could not be \
         installed: {outcome}.\n\
         Install it, then build again:\n\n    {command}\n\n\
         (Without rustup, install the {WASM_TARGET} standard library the way your \
         Rust distribution provides it.)\n"
    );
}

/// Prints `notice` (a `cargo:warning`) in this build only. Cargo repeats a
/// build script's warnings on every build for as long as the script does
/// not run again, so a stamp touched now makes the next build run it once
/// more, silently; after that its output holds no warning.
fn say_once(notice: &str) {
    println!("{notice}");
    if let Some(out_dir) = env::var_os("OUT_DIR") {
        let _ = std::fs::write(
            PathBuf::from(out_dir).join(NOTICE_STAMP),
            b"notice printed\n",
        );
    }
}

/// See [`say_once`].
const NOTICE_STAMP: &str = "wasm-target-notice.stamp";

/// Where `rustc` keeps (or would keep) the wasm target's libraries.
fn wasm_libdir(rustc: &str) -> Option<PathBuf> {
    let output = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
}

/// Whether `libdir` holds a standard library.
fn has_std(libdir: &Path) -> bool {
    std::fs::read_dir(libdir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|entry| entry.file_name().to_string_lossy().starts_with("libstd-"))
    })
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
             The compiler's messages above say why."
        );
    }
}
