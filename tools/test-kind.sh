#!/usr/bin/env bash
# The kind layer: what only real containers show (tests/kind: burned CPU as metrics-server
# reports it, throttling, an OOMKill, the HPA on real CPU, a rollout gated by real readiness)
# and lessons 02, 03 and 04 under nbval, whose kind paths burn real CPU (the HPA lesson's
# replay included), throttle it, get a container OOMKilled and roll out real pods, on a kind
# fleet ("scalelab-kind-test", own
# kubeconfig, deleted at the end). KIND_LESSONS="lessons/… …" picks other lessons ("" for none).
#
# Starts a Docker engine when none answers (tools/offline-kind/docker-up.sh). Where the
# official kindest/node image cannot be pulled, builds the offline node image first
# (tools/offline-kind/build.py; cached). Exit 3, with "KIND LAYER NOT RUN: <reason>"
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
official=$(python -c 'from scalelab import versions; print(versions.KIND_NODE_IMAGE)')
if ! docker image inspect "$official" >/dev/null 2>&1 && ! timeout 120 docker pull -q "$official" >/dev/null 2>&1; then
  echo "the official node image cannot be pulled: building the offline one (tools/offline-kind/build.py)"
  python tools/offline-kind/build.py
fi
export SCALELAB_TEST_PROVIDER=kind SCALELAB_TEST_CLUSTER="${SCALELAB_TEST_CLUSTER:-scalelab-kind-test}"
lessons=${KIND_LESSONS-"lessons/02-requests-limits-quotas.ipynb lessons/03-horizontal-pod-autoscaling.ipynb lessons/04-declarative-rollouts.ipynb"}
# shellcheck disable=SC2086
exec python -m pytest tests/kind $lessons "$@"
