#!/usr/bin/env bash
# Installs Azurite, the Azure Storage emulator the Blob checkpoint tests run
# against, into tests/azurite/node_modules from the committed
# package-lock.json (npm ci: the exact versions, nothing global). Idempotent:
# does nothing when the pinned version is already there. Needs Node.js 20+
# and npm.
set -euo pipefail
cd "$(dirname "$0")"
want=$(node -p "require('./package-lock.json').packages['node_modules/azurite'].version")
have=$(node -p "try { require('./node_modules/azurite/package.json').version } catch { '' }" 2>/dev/null || true)
if [ "$have" = "$want" ] && [ -x node_modules/.bin/azurite ]; then
  exit 0
fi
echo "installing Azurite $want into $(pwd)/node_modules (npm ci)" >&2
npm ci --no-audit --no-fund --loglevel=error
