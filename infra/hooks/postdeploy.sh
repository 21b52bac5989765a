#!/bin/sh
# azd `postdeploy` hook of the `host` service.
#
# PLACEHOLDER: publishing components to the registry comes with the hot-swap
# issue. It will, for each component built under
# target/.../wasm32-wasip2/release/*.wasm:
#   1. upload it as components/<name>/<version>.wasm to the storage account
#      AZURE_STORAGE_ACCOUNT_NAME (the operator's Entra login; azd grants
#      Storage Blob Data Contributor to AZURE_PRINCIPAL_ID);
#   2. point components/<name>/current.json at it (version, sha256);
# so that `azd deploy` ships host and components, and a component-only update
# needs no host deploy. Today the components are embedded in the host binary,
# so the deployed host already runs them: nothing is lost by skipping this.
set -eu
echo "postdeploy: component publishing is not implemented yet (placeholder, see infra/hooks/postdeploy.sh)."
echo "postdeploy: it will upload the components to https://${AZURE_STORAGE_ACCOUNT_NAME:-<storage account>}.blob.core.windows.net/components/<name>/<version>.wasm and promote them (current.json)."
echo "postdeploy: the deployed host runs the components embedded in its binary."
exit 0
