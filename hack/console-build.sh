#!/usr/bin/env bash
# Builds the web console's app (console/app) into console/app/dist, which ferrite-console
# embeds. Needs Node.js 20 or newer with npm (the machines Ferrite is built on have them);
# installs Debian's nodejs and npm when npm is missing (as root). With --test it runs the app's
# unit tests instead of building.
set -euo pipefail
hack="$(cd "$(dirname "$0")" && pwd)"
cd "$hack/../console/app"
if ! command -v npm >/dev/null; then
  "$hack/install-packages.sh" nodejs npm
fi
# npm ci only when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo ">> npm ci in console/app"
  npm ci --no-audit --no-fund
fi
if [ "${1:-}" = --test ]; then
  exec npm test
fi
echo ">> building the console app into console/app/dist"
npm run build
touch dist/.gitkeep
