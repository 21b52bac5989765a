#!/bin/sh
# azd `prepackage` hook of the `host` service: a release build of o365-host
# assembled with the Functions project into .azure-package/host (azure.yaml's
# `dist`), which azd then zips and deploys to the Flex Consumption app.
# POSIX sh (azd runs hooks with `sh`); the work is in package.sh (bash).
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
exec bash "$root/infra/hooks/package.sh" --out "$root/.azure-package/host"
