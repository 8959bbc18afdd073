# Sourced (env.sh, node-image.sh, test-kind.sh): when no Docker engine answers at DOCKER_HOST or
# Docker's default socket, but Scale Lab's private engine does (tools/offline-kind/docker-up.sh
# --start), point DOCKER_HOST at it for this shell and what it starts (kind, docker, build.py).
if [ -z "${DOCKER_HOST:-}" ] && command -v docker >/dev/null && ! docker info >/dev/null 2>&1; then
  _scalelab_docker="${SCALELAB_CACHE:-$HOME/.cache/scalelab}/docker/run/docker.sock"
  if [ -S "$_scalelab_docker" ] && DOCKER_HOST="unix://$_scalelab_docker" docker info >/dev/null 2>&1; then
    export DOCKER_HOST="unix://$_scalelab_docker"
  fi
  unset _scalelab_docker
fi
