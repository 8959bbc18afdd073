#!/usr/bin/env bash
# Start a Docker engine on a machine that has none running, for the offline kind path.
#
# Installs Debian's docker.io when dockerd is missing, registers runc-shim (runc
# minus CAP_SYS_RESOURCE, which this kind of sandbox cannot grant) as the default
# runtime, and starts dockerd in the background with its log in the cache.
# Exit 0 once `docker info` answers; otherwise exit 1 with the reason on the
# last line of output ("docker: <reason>"), so callers can print it.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${SCALELAB_CACHE:-$HOME/.cache/scalelab}"
LOG="$CACHE/logs/dockerd.log"
mkdir -p "$CACHE/logs"
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo -n"

if docker info >/dev/null 2>&1; then
  echo "docker: an engine is already running"; exit 0
fi
if ! command -v dockerd >/dev/null; then
  echo "installing Debian's docker.io (dockerd, containerd, runc)"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq docker.io; } </dev/null \
    >>"$CACHE/logs/apt-docker.log" 2>&1 || { echo "docker: apt-get install docker.io failed (see $CACHE/logs/apt-docker.log)"; exit 1; }
fi
$sudo install -D -m 0755 "$HERE/runc-shim" /usr/local/libexec/scalelab/runc-shim
$sudo mkdir -p /etc/docker
$sudo tee /etc/docker/daemon.json >/dev/null <<JSON
{
  "runtimes": {"scalelab-runc": {"path": "/usr/local/libexec/scalelab/runc-shim"}},
  "default-runtime": "scalelab-runc",
  "storage-driver": "overlay2",
  "log-driver": "json-file"
}
JSON
echo "starting dockerd (log: $LOG)"
( $sudo setsid dockerd >>"$LOG" 2>&1 </dev/null & )
for _ in $(seq 60); do
  docker info >/dev/null 2>&1 && { echo "docker: engine running ($(docker info -f '{{.ServerVersion}} {{.Driver}} cgroup v{{.CgroupVersion}}'))"; exit 0; }
  sleep 1
done
echo "--- last lines of $LOG"; tail -n 15 "$LOG"
echo "docker: dockerd did not answer within 60 s (see $LOG)"
exit 1
