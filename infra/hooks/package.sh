#!/usr/bin/env bash
# Assembles the Function App package: the o365-host binary, functions/host.json,
# its launcher (functions/launch.sh, when host.json runs it), every
# functions/<name>/function.json, and the built components under components/
# (which the postdeploy hook publishes to the registry), in one directory that
# azd zips and deploys (azure.yaml: services.host.dist).
#
#   infra/hooks/package.sh [--binary FILE] [--functions DIR] [--components DIR] [--out DIR]
#
# --binary     an already built o365-host (default: `cargo build --release -p o365-host`)
# --functions  the Functions project: host.json and one folder per function (default: functions)
# --components where the built components are: audit.wasm, message_trace_graph.wasm,
#              message_trace_reporting.wasm (default: the release build's
#              <target>/release/guest/wasm32-wasip2/release, built with the binary)
# --out        the package directory, emptied first (default: .azure-package/host)
#
# O365_MAX_GLIBC (default 2.36, Debian 12, the Functions v4 Linux images) is the
# newest glibc symbol version the binary may need; the script refuses a binary
# that needs more, since it would not start on the Functions image. Exit 1 with
# a message naming what is wrong on any problem.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
binary="" functions="$root/functions" components="" out="$root/.azure-package/host"
# The production components (components/artifacts/build.rs builds them with the host).
component_files="audit.wasm message_trace_graph.wasm message_trace_reporting.wasm"
max_glibc="${O365_MAX_GLIBC:-2.36}"

fail() { echo "package.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="${2:?--binary needs a file}"; shift 2 ;;
    --functions) functions="${2:?--functions needs a directory}"; shift 2 ;;
    --components) components="${2:?--components needs a directory}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) fail "unknown argument \`$1\`; see --help" ;;
  esac
done

# The Functions project (written with the custom handler).
[ -f "$functions/host.json" ] || fail "no $functions/host.json: the Functions project (host.json and one folder per function) is missing; pass --functions DIR"
grep -q '"customHandler"' "$functions/host.json" \
  || fail "$functions/host.json has no \"customHandler\" section: Functions would not start o365-host"
launcher=""
if grep -q '"launch.sh"' "$functions/host.json"; then
  launcher="$functions/launch.sh"
  [ -f "$launcher" ] || fail "$functions/host.json runs launch.sh but $launcher is missing"
  grep -q 'o365-host' "$launcher" || fail "$launcher does not start o365-host"
else
  grep -q '"o365-host"' "$functions/host.json" \
    || fail "$functions/host.json starts neither \"o365-host\" nor \"launch.sh\" (customHandler.description): Functions would not start o365-host"
fi
function_dirs=()
for f in "$functions"/*/function.json; do
  [ -f "$f" ] && function_dirs+=("$(dirname "$f")")
done
[ ${#function_dirs[@]} -gt 0 ] || fail "no $functions/<name>/function.json: the package would hold no function"

# The binary.
if [ -z "$binary" ]; then
  echo "package.sh: building o365-host (release)" >&2
  (cd "$root" && cargo build --release --locked -p o365-host)
  binary="${CARGO_TARGET_DIR:-$root/target}/release/o365-host"
  [ -n "$components" ] || components="${CARGO_TARGET_DIR:-$root/target}/release/guest/wasm32-wasip2/release"
fi
[ -n "$components" ] || fail "--binary was given without --components: say where the components built with that binary are (<target>/<profile>/guest/wasm32-wasip2/release)"
for c in $component_files; do
  [ -f "$components/$c" ] || fail "no $components/$c: build the components (cargo build -p o365-host builds them) or pass --components DIR"
  head -c 4 "$components/$c" | od -An -c | grep -q 'a   s   m' || fail "$components/$c is not a WebAssembly file"
done
[ -f "$binary" ] && [ -x "$binary" ] || fail "$binary is not an executable file"

# glibc: the newest GLIBC_x.y symbol version the binary links against.
needed=""
if command -v objdump >/dev/null; then
  needed="$(objdump -T "$binary" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1 || true)"
fi
if [ -n "$needed" ]; then
  newest="$(printf '%s\n%s\n' "$needed" "$max_glibc" | sort -V | tail -1)"
  [ "$newest" = "$max_glibc" ] \
    || fail "$binary needs glibc $needed, newer than $max_glibc (O365_MAX_GLIBC) on the Functions image: build it on an older distribution (the Dockerfile's builder is Debian 12) or raise O365_MAX_GLIBC if the image has it"
else
  echo "package.sh: objdump not found or no glibc symbols; the glibc requirement was not checked" >&2
fi

# Assemble.
rm -rf "$out"
mkdir -p "$out"
cp "$binary" "$out/o365-host"
chmod 755 "$out/o365-host"
cp "$functions/host.json" "$out/host.json"
[ -z "$launcher" ] || cp "$launcher" "$out/launch.sh"
mkdir -p "$out/components"
for c in $component_files; do
  cp "$components/$c" "$out/components/$c"
done
names=()
for dir in "${function_dirs[@]}"; do
  name="$(basename "$dir")"
  mkdir -p "$out/$name"
  cp "$dir/function.json" "$out/$name/function.json"
  names+=("$name")
done
sha="$(sha256sum "$out/o365-host" | cut -d' ' -f1)"
{
  echo "binary_sha256=$sha"
  echo "glibc_needed=${needed:-unknown}"
  echo "functions=$(IFS=,; echo "${names[*]}")"
  for c in $component_files; do
    echo "component_sha256_${c%.wasm}=$(sha256sum "$out/components/$c" | cut -d' ' -f1)"
  done
  echo "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
} > "$out/package.txt"
echo "package.sh: $out: o365-host (glibc ${needed:-unknown}), host.json${launcher:+, launch.sh}, ${names[*]}, components: $component_files"
