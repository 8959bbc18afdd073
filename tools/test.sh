#!/usr/bin/env bash
# The whole test suite, on both providers: unit tests, the kwok layer (cluster tests, every
# lesson and lab under nbval and a second time, the lab mutation suite, browser tests) and the
# kind layer (tests/kind, every lesson and lab on a kind cluster), overlapped by tools/suite.py.
# The first run builds the pinned binaries and kind's offline node image into ~/.cache/scalelab
# (about 15 minutes on 2 cores, cached after that). Arguments go to tools/suite.py
# (e.g. `--only kwok`, or `-- -k lesson` for pytest).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/tools/env.sh"
cd "$ROOT"
exec python tools/suite.py "$@"
