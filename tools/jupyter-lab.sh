#!/usr/bin/env bash
# JupyterLab on the lessons, the last step of `make lab` (tools/lab.sh starts the cluster first).
# Extra arguments go to `jupyter lab` (the tests add --no-browser and a loopback port).
# As root (normal in containers, cloud IDEs and CI machines) JupyterLab refuses to start
# unless given --allow-root, so it gets it, with a one-line warning.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Loopback only, said explicitly: the server runs code as you, so it must not listen on the network.
args=(--notebook-dir="$ROOT" --ServerApp.ip=127.0.0.1)
if [ "$(id -u)" -eq 0 ]; then
  echo "warning: running as root, so JupyterLab starts with --allow-root (fine in a container; on your own machine, prefer your user)" >&2
  args+=(--allow-root)
fi
exec jupyter lab "${args[@]}" "$@" lessons/
