#!/bin/sh
# Starts o365-host as the Functions custom handler: host.json runs
# `/bin/sh launch.sh --log-format json serve` in the package directory.
#
# Why a launcher rather than host.json naming o365-host itself: azd zips the
# package without Unix modes, so o365-host arrives without its executable
# bit; the Functions host then tries to chmod it (Flex and Linux Consumption
# only), which fails where the package is mounted read-only, and the handler
# never starts. `sh launch.sh` needs no executable bit; this script runs the
# binary directly when it is executable, and otherwise through the dynamic
# loader, which runs a binary that cannot be executed by itself. (Through the
# loader, o365-host finds host.json by FUNCTIONS_APP_ROOT_PATH, which the
# Functions host sets, instead of next to its executable.) docs/deploy.md,
# "The executable bit", says more.
set -eu
dir="$(cd "$(dirname "$0")" && pwd)"
bin="$dir/o365-host"
if [ ! -f "$bin" ]; then
  echo "launch.sh: error: $bin is missing: the deployment package is incomplete; deploy it again (azd deploy)" >&2
  exit 1
fi
if [ -x "$bin" ]; then
  exec "$bin" "$@"
fi
loader="${O365_DYNAMIC_LOADER:-/lib64/ld-linux-x86-64.so.2}"
if [ -x "$loader" ]; then
  echo "launch.sh: warning: $bin is not executable (the zip deployment dropped its mode); starting it through $loader" >&2
  exec "$loader" "$bin" "$@"
fi
echo "launch.sh: error: $bin is not executable and the dynamic loader $loader is missing: deploy a package whose o365-host keeps its mode, or set O365_DYNAMIC_LOADER" >&2
exit 126
