#!/usr/bin/env bash
# Assembles the Function App package: the o365-host binary, functions/host.json
# and every functions/<name>/function.json, in one directory that azd zips and
# deploys (azure.yaml: services.host.dist).
#
#   infra/hooks/package.sh [--binary FILE] [--functions DIR] [--out DIR]
#
# --binary     an already built o365-host (default: `cargo build --release -p o365-host`)
# --functions  the Functions project: host.json and one folder per function (default: functions)
# --out        the package directory, emptied first (default: .azure-package/host)
#
# O365_MAX_GLIBC (default 2.36, Debian 12, the Functions v4 Linux images) is the
# newest glibc symbol version the binary may need; the script refuses a binary
# that needs more, since it would not start on the Functions image. Exit 1 with
# a message naming what is wrong on any problem.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
binary="" functions="$root/functions" out="$root/.azure-package/host"
max_glibc="${O365_MAX_GLIBC:-2.36}"

fail() { echo "package.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="${2:?--binary needs a file}"; shift 2 ;;
    --functions) functions="${2:?--functions needs a directory}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) fail "unknown argument \`$1\`; see --help" ;;
  esac
done

# The Functions project (written with the custom handler).
[ -f "$functions/host.json" ] || fail "no $functions/host.json: the Functions project (host.json and one folder per function) is missing; pass --functions DIR"
grep -q '"customHandler"' "$functions/host.json" \
  || fail "$functions/host.json has no \"customHandler\" section: Functions would not start o365-host"
grep -q '"o365-host"' "$functions/host.json" \
  || fail "$functions/host.json does not name \"o365-host\" as the custom handler's executable (customHandler.description.defaultExecutablePath)"
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
fi
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
  echo "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
} > "$out/package.txt"
echo "package.sh: $out: o365-host (glibc ${needed:-unknown}), host.json, ${names[*]}"
