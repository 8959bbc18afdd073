#!/usr/bin/env bash
# A Docker engine for the kind path, without touching the machine's own Docker.
#
#   docker-up.sh           use the engine that answers (yours, or Scale Lab's private one); else
#                          say how to get one and exit 1
#   docker-up.sh --start   the same, but start Scale Lab's private engine when none answers
#                          (CI=true implies --start: a CI machine is there to be used)
#   docker-up.sh --stop    stop Scale Lab's private engine (its images stay in the cache)
#
# The private engine is a dockerd of its own: socket, data root, exec root, pid file and
# config all under <cache>/docker, its config passed with --config-file, so the system's
# /etc/docker/daemon.json and /var/lib/docker are neither read nor written. Where this
# machine cannot grant CAP_SYS_RESOURCE (some sandboxes), runc-shim (runc minus that one
# capability) is that engine's default runtime, never the system's. Programs reach it
# through DOCKER_HOST (tools/env.sh and scalelab set it when it is the engine that answers).
# Nothing is installed here: where dockerd is missing, the message says how to install it.
#
# Exit 0 once an engine answers; otherwise 1, with the reason as the last line of output
# ("docker: <reason>").
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${SCALELAB_CACHE:-$HOME/.cache/scalelab}"
HOME_DIR="$CACHE/docker"
SOCKET="$HOME_DIR/run/docker.sock"
PIDFILE="$HOME_DIR/run/dockerd.pid"
LOG="$CACHE/logs/dockerd.log"
PRIVATE="unix://$SOCKET"

mode=use
case "${1:-}" in
  --start) mode=start ;;
  --stop) mode=stop ;;
  "") [ "${CI:-}" = true ] && mode=start ;;
  *) echo "usage: $0 [--start|--stop]"; exit 2 ;;
esac

private_answers() { DOCKER_HOST="$PRIVATE" docker info >/dev/null 2>&1; }

if [ "$mode" = stop ]; then
  if [ -f "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null; then
    for _ in $(seq 30); do private_answers || break; sleep 1; done
    echo "docker: Scale Lab's private engine stopped (its images stay in $HOME_DIR/data)"
  else
    echo "docker: Scale Lab's private engine is not running"
  fi
  exit 0
fi

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  echo "docker: an engine is already running${DOCKER_HOST:+ at $DOCKER_HOST}"; exit 0
fi
if [ -z "${DOCKER_HOST:-}" ] && command -v docker >/dev/null && private_answers; then
  echo "docker: Scale Lab's private engine is running (DOCKER_HOST=$PRIVATE)"; exit 0
fi
if [ "$mode" = use ]; then
  echo "docker: no Docker engine answers. Start yours (Docker Desktop, or \`sudo systemctl start docker\`),"\
       "or let Scale Lab run a private one under $HOME_DIR: \`make docker\`"
  exit 1
fi
if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
  echo "docker: dockerd is not installed; install Docker (Debian/Ubuntu: \`sudo apt-get install docker.io\`), then run this again"
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "docker: a private engine needs root (dockerd does); start your own Docker instead, or run \`sudo make docker\`"
  exit 1
fi

mkdir -p "$HOME_DIR/data" "$HOME_DIR/exec" "$HOME_DIR/run" "$CACHE/logs"
runtime=""
# CAP_SYS_RESOURCE is bit 24 of the bounding set; kind's privileged nodes ask for every capability.
if (( (16#$(awk '/^CapBnd/ {print $2}' /proc/self/status) >> 24 & 1) == 0 )); then
  install -m 0755 "$HERE/runc-shim" "$HOME_DIR/runc-shim"
  runtime=', "runtimes": {"scalelab-runc": {"path": "'"$HOME_DIR/runc-shim"'"}}, "default-runtime": "scalelab-runc"'
  echo "docker: this machine withholds CAP_SYS_RESOURCE: the private engine runs containers through runc-shim"
fi
cat >"$HOME_DIR/daemon.json" <<JSON
{"hosts": ["$PRIVATE"], "data-root": "$HOME_DIR/data", "exec-root": "$HOME_DIR/exec", "pidfile": "$PIDFILE",
 "storage-driver": "overlay2", "log-driver": "json-file"$runtime}
JSON
echo "docker: starting Scale Lab's private engine (socket $SOCKET, log $LOG)"
( setsid dockerd --config-file "$HOME_DIR/daemon.json" >>"$LOG" 2>&1 </dev/null & )
for _ in $(seq "${SCALELAB_DOCKER_WAIT:-60}"); do
  if private_answers; then
    echo "docker: private engine running ($(DOCKER_HOST="$PRIVATE" docker info -f '{{.ServerVersion}} {{.Driver}} cgroup v{{.CgroupVersion}}'));"\
         "stop it with \`make docker-stop\`"
    exit 0
  fi
  sleep 1
done
echo "--- last lines of $LOG"; tail -n 15 "$LOG"
echo "docker: the private dockerd did not answer within ${SCALELAB_DOCKER_WAIT:-60} s (see $LOG)"
exit 1
