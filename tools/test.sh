#!/usr/bin/env bash
# The whole test suite. Cluster and notebook tests start their own kwok cluster
# ("scalelab-test") once per session; the first run builds the control-plane
# binaries into ~/.cache/scalelab (tens of minutes cold, cached after that).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/tools/env.sh"
cd "$ROOT"
scalelab binaries
# The browser tests (tests/browser, run last) drive Chromium with playwright-core from npm:
# install it when node_modules is missing or package-lock.json changed since the last install.
browser="$ROOT/tests/browser"
stamp="$browser/node_modules/.installed-$(sha256sum "$browser/package-lock.json" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  if command -v npm >/dev/null; then
    npm ci --prefix "$browser" --no-audit --no-fund --loglevel=error
    touch "$stamp"
  else
    echo "npm not found: the browser tests will fail (install Node.js 20+, or deselect them: -m 'not browser')"
  fi
fi
exec python -m pytest "$@"
