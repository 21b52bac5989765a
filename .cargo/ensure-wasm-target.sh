#!/usr/bin/env bash
# Cargo runs every rustc call through this script (`build.rustc-wrapper` in
# .cargo/config.toml). Its one job: before anything compiles, make sure the
# toolchain has the wasm32-wasip2 standard library that the guest
# components are built for.
#
# Why here: rustup installs the targets named in rust-toolchain.toml by
# itself only where auto-install is on, and many machines turn it off
# (RUSTUP_AUTO_INSTALL=0). Cargo's first call is `rustc -vV`, made before
# any crate compiles, so a missing target is added (or, where that is not
# possible, reported with the command to run) in the first seconds of a
# build instead of after the host's dependencies have compiled.
# components/artifacts/build.rs checks again (for builds that bypass this
# wrapper through RUSTC_WRAPPER) and prints the one-line notice.
#
# Every other call goes straight to rustc. Bash, not sh: dash drops
# environment variables whose names are not identifiers, and cargo passes
# some (`CARGO_BIN_EXE_o365-host`) that rustc must see. Cargo on Windows
# cannot run this script: there, build from WSL, or set RUSTC_WRAPPER to an
# empty value, which turns the wrapper off (the build script still adds
# the target, later in the build).
case " $* " in
*" -vV "*) ;;
*) exec "$@" ;;
esac

target=wasm32-wasip2
# The compiler is the argument before `-vV` (clippy puts its driver first).
rustc=
for arg; do
    [ "$arg" = -vV ] && break
    rustc=$arg
done
sysroot=$("$rustc" --print sysroot 2>/dev/null) || exec "$@"
[ -d "$sysroot/lib/rustlib/$target/lib" ] && exec "$@"

command="rustup target add $target${RUSTUP_TOOLCHAIN:+ --toolchain $RUSTUP_TOOLCHAIN}"
if command -v rustup >/dev/null 2>&1; then
    if rustup target add "$target" ${RUSTUP_TOOLCHAIN:+--toolchain "$RUSTUP_TOOLCHAIN"} >&2 &&
        [ -d "$sysroot/lib/rustlib/$target/lib" ]; then
        # Tells build.rs to print the notice (cargo hides this call's output).
        : >"$sysroot/lib/rustlib/$target/installed-by-o365-build" 2>/dev/null
        exec "$@"
    fi
    reason="\`$command\` failed (offline? its messages are above)"
else
    reason="rustup is not installed, so the target cannot be added automatically"
fi
cat >&2 <<MSG
error: the $target target is missing from this Rust toolchain ($sysroot)
       and could not be installed: $reason.
       The connector components are built for it. Install it, then build again:

           $command

       (Without rustup, install the $target standard library the way your Rust
       distribution provides it.)
MSG
exit 1
