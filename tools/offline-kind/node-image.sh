#!/usr/bin/env bash
# Make sure a kind node image is there: the official kindest/node image if it is present or
# can be pulled (bounded to 120 s), otherwise the offline one (tools/offline-kind/build.py,
# cached: seconds when nothing changed). Needs a running Docker engine (docker-up.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=tools/docker-host.sh
source "$ROOT/tools/docker-host.sh"
official=$(python -c 'from scalelab import versions; print(versions.KIND_NODE_IMAGE)')
if docker image inspect "$official" >/dev/null 2>&1; then
  echo "node image: the official $official is present"; exit 0
fi
if timeout 120 docker pull -q "$official" >/dev/null 2>&1; then
  echo "node image: pulled the official $official"; exit 0
fi
echo "node image: the official one cannot be pulled here: building the offline one (tools/offline-kind/build.py)"
exec python tools/offline-kind/build.py
