#!/usr/bin/env bash
# The kind layer: what only real containers show (tests/kind: burned CPU as metrics-server
# reports it, throttling, an OOMKill, the HPA on real CPU, a rollout gated by real readiness)
# and every lesson and lab under nbval, on the kind cluster a learner gets from `scalelab up`
# ("scalelab-kind-test", own kubeconfig, deleted at the end). KIND_NOTEBOOKS="lessons/… …"
# picks other notebooks ("" for none).
#
# Starts a Docker engine when none answers (tools/offline-kind/docker-up.sh). Where the
# official kindest/node image cannot be pulled, builds the offline node image first
# (tools/offline-kind/node-image.sh; cached). Exit 3, with "KIND LAYER NOT RUN: <reason>"
# as the last line, when no Docker engine can be started here.
# Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/tools/env.sh"
cd "$ROOT"
if ! bash tools/offline-kind/docker-up.sh; then
  echo "KIND LAYER NOT RUN: no Docker engine could be started on this machine (reason above)"
  exit 3
fi
bash tools/offline-kind/node-image.sh
export SCALELAB_TEST_PROVIDER=kind SCALELAB_TEST_CLUSTER="${SCALELAB_TEST_CLUSTER:-scalelab-kind-test}"
# Lab 2 is left out for now, and says so: its check replays the viral spike against the HPA on
# really burned CPU, and with the reference solution it missed the 1 % objective in 2 of 3 runs
# on kind (it passes on kwok every time). Issue 11 stays open until it is reliable here.
notebooks=${KIND_NOTEBOOKS-"lessons labs/01-right-size labs/03-ship-v2 labs/04-spread"}
case " $notebooks " in *02-viral-spike*) ;; *) echo "kind layer: lab 2 (viral spike) is NOT run on kind: its spike verdict is not yet reliable on real CPU (see tools/test-kind.sh)";; esac
# shellcheck disable=SC2086
exec python -m pytest -p no:cacheprovider tests/kind $notebooks "$@"
