#!/usr/bin/env bash
# The whole test suite. Cluster and notebook tests start their own kwok cluster
# ("scalelab-test") once per session; the first run builds the control-plane
# binaries into ~/.cache/scalelab (tens of minutes cold, cached after that).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/tools/env.sh"
cd "$ROOT"
scalelab binaries
exec python -m pytest "$@"
