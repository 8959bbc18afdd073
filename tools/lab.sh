#!/usr/bin/env bash
# Everything a learner needs, in one command: environment, cluster, JupyterLab on the lessons.
# Extra arguments go to `jupyter lab` (tools/jupyter-lab.sh, which also handles running as root).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/tools/env.sh"
scalelab up --provider "${SCALELAB_PROVIDER:-auto}"
exec bash "$ROOT/tools/jupyter-lab.sh" "$@"
