#!/bin/sh
# azd `postdeploy` hook of the `host` service: publishes the components the
# package carries (.azure-package/host/components/*.wasm, built with the host)
# to the component registry in the deployment's storage account (container
# `components`) and promotes the ones the deployment runs, with the host's own
# CLI:
#
#   O365_COMPONENT_REGISTRY=blob AzureWebJobsStorage__accountName=<account> \
#     o365-host component publish FILE.wasm [--promote]
#
# so `azd deploy` ships host and components, and a component-only update is
# `azd hooks run postdeploy` (or this script with the files to ship) with no
# host deploy. Publishing is idempotent: a version already published with the
# same sha256 is kept, and promoting the current version changes nothing. A
# version number reused for different bytes is refused by the registry: bump
# the component's version.
#
#   infra/hooks/postdeploy.sh [FILE.wasm ...]
#
# No FILE: every component in the package; audit.wasm is promoted, and of the
# two message-trace components the one O365_MESSAGE_TRACE_COMPONENT names
# (`graph`, the default, or `reporting`; set it in the azd environment when the
# app runs `reporting`), the other is only published. With FILEs: each is
# published and promoted.
#
# Environment (azd passes its environment, with the provision outputs):
#   AZURE_STORAGE_ACCOUNT_NAME       the deployment's storage account
#   O365_REGISTRY_CONNECTION_STRING  instead of the account name: a connection
#                                    string (Azurite, in the tests)
#   O365_HOST                        the o365-host to run (default: the package's,
#                                    which package.sh built on this machine)
#   O365_PACKAGE_DIR                 the package (default: .azure-package/host)
# The CLI signs in as you (az / azd login): azd gives AZURE_PRINCIPAL_ID
# Storage Blob Data Contributor on the account. Exit 1, naming the component
# and why, when one cannot be published or promoted.
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
package="${O365_PACKAGE_DIR:-$root/.azure-package/host}"
host="${O365_HOST:-$package/o365-host}"

fail() { echo "postdeploy: error: $*" >&2; exit 1; }

[ -x "$host" ] || fail "$host is not an executable o365-host: run \`azd package\` (or infra/hooks/package.sh) first, or set O365_HOST"

# The registry: the account's `components` container, never a storage the
# caller's shell happens to configure.
unset AzureWebJobsStorage AzureWebJobsStorage__accountName AzureWebJobsStorage__blobServiceUri 2>/dev/null || true
if [ -n "${O365_REGISTRY_CONNECTION_STRING:-}" ]; then
  AzureWebJobsStorage="$O365_REGISTRY_CONNECTION_STRING"
  export AzureWebJobsStorage
  where="the storage of O365_REGISTRY_CONNECTION_STRING"
elif [ -n "${AZURE_STORAGE_ACCOUNT_NAME:-}" ]; then
  AzureWebJobsStorage__accountName="$AZURE_STORAGE_ACCOUNT_NAME"
  export AzureWebJobsStorage__accountName
  where="storage account $AZURE_STORAGE_ACCOUNT_NAME"
else
  fail "AZURE_STORAGE_ACCOUNT_NAME is not set: run this through azd (azd deploy, azd hooks run postdeploy), or export it (azd env get-value AZURE_STORAGE_ACCOUNT_NAME)"
fi
O365_COMPONENT_REGISTRY=blob
export O365_COMPONENT_REGISTRY

publish() { # FILE PROMOTE(yes|no)
  file="$1"
  [ -f "$file" ] || fail "no component $file"
  if [ "$2" = yes ]; then
    echo "postdeploy: publishing and promoting $(basename "$file") to the registry in $where"
    "$host" component publish "$file" --promote \
      || fail "$(basename "$file") was not published or promoted (the reason is above); the host keeps running the version it runs"
  else
    echo "postdeploy: publishing $(basename "$file") to the registry in $where (not promoted)"
    "$host" component publish "$file" \
      || fail "$(basename "$file") was not published (the reason is above)"
  fi
}

if [ $# -gt 0 ]; then
  for file in "$@"; do
    publish "$file" yes
  done
else
  dir="$package/components"
  [ -d "$dir" ] || fail "no $dir: the package carries no components; package it again (infra/hooks/package.sh)"
  case "${O365_MESSAGE_TRACE_COMPONENT:-graph}" in
    graph) graph=yes reporting=no ;;
    reporting) graph=no reporting=yes ;;
    *) fail "O365_MESSAGE_TRACE_COMPONENT is \`$O365_MESSAGE_TRACE_COMPONENT\`: give graph or reporting (the embedded message-trace components), as the app's setting does" ;;
  esac
  publish "$dir/audit.wasm" yes
  publish "$dir/message_trace_graph.wasm" "$graph"
  publish "$dir/message_trace_reporting.wasm" "$reporting"
fi
echo "postdeploy: done; \`o365-host component list\` (with O365_COMPONENT_REGISTRY=blob and AzureWebJobsStorage__accountName) shows what is current. The host swaps a promoted version in at its next slice."
