#!/usr/bin/env bash
# Everything a learner needs, in one command: environment, cluster, JupyterLab on the lessons.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/tools/env.sh"
scalelab up --provider "${SCALELAB_PROVIDER:-auto}"
cd "$ROOT"
exec jupyter lab --notebook-dir="$ROOT" "lessons/"
