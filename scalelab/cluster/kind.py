"""The kind provider: the learner's default, a real cluster in Docker containers.

It runs exactly the commands a learner would type (listed by the ``*_command``
functions, which the unit tests check), then installs metrics-server with the
flag kind needs (``--kubelet-insecure-tls``) and waits for metrics to flow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml
from kubernetes import client

from scalelab import k8s, paths, versions
from scalelab.cluster.base import Provider, run_tool
from scalelab.errors import MissingToolError, ScaleLabError
from scalelab.progress import Progress

# The same names as kwok's FLEETS: "default" is the fleet every lesson and lab runs on
# ("fleet" is another name for it), "one-node" the smallest cluster, for tiny laptops.
CONFIGS = {"default": "default.yaml", "fleet": "default.yaml", "one-node": "one-node.yaml"}


def config_path(config: str | Path | None) -> Path:
    """A kind config: a name from kind-configs/ (default, fleet, one-node) or a file path."""
    if config is None:
        config = "default"
    if str(config) in CONFIGS:
        return paths.project_root() / "kind-configs" / CONFIGS[str(config)]
    path = Path(config)
    if not path.is_file():
        raise ScaleLabError(f"kind config '{config}' not found.",
                            f"pass one of {', '.join(CONFIGS)} or the path of a kind config file")
    return path


def create_command(cluster: str, config: Path, image: str = versions.KIND_NODE_IMAGE, kind: str = "kind") -> list[str]:
    return [kind, "create", "cluster", "--name", cluster, "--config", str(config), "--image", image, "--wait", "180s"]


def delete_command(cluster: str, kind: str = "kind") -> list[str]:
    return [kind, "delete", "cluster", "--name", cluster]


def start_command(cluster: str, nodes: list[str]) -> list[str]:
    """kind has no `start`; its nodes are containers that `docker start` resumes."""
    return ["docker", "start", *nodes]


def node_image() -> str:
    """The node image to create clusters from.

    ``SCALELAB_KIND_IMAGE`` wins; then the official kindest/node image, unless it
    is not present and the offline image (tools/offline-kind/build.py, for
    machines that cannot reach a registry) is: then that one. Otherwise the
    official image, which kind pulls.
    """
    chosen = os.environ.get("SCALELAB_KIND_IMAGE")
    if chosen:
        return chosen
    if not image_present(versions.KIND_NODE_IMAGE) and image_present(versions.OFFLINE_KIND_NODE_IMAGE):
        return versions.OFFLINE_KIND_NODE_IMAGE
    return versions.KIND_NODE_IMAGE


def image_present(image: str) -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0


def kind_binary() -> str:
    """`kind` from PATH, else the one tools/offline-kind/build.py built into the cache."""
    found = shutil.which("kind")
    if found:
        return found
    cached = paths.bin_dir("kind", versions.KIND) / "kind"
    if cached.exists():
        return str(cached)
    raise MissingToolError("kind is not installed.",
                           f"go install sigs.k8s.io/kind@{versions.KIND}  (or see kind's install page)")


def kind_available() -> bool:
    """Whether :func:`kind_binary` finds kind (the provider choice and the doctor agree on it)."""
    try:
        kind_binary()
    except MissingToolError:
        return False
    return True


def metrics_server_manifest() -> Path:
    return paths.project_root() / "manifests" / "cluster" / "metrics-server-kind.yaml"


def private_docker_socket() -> Path:
    """The socket of Scale Lab's own Docker engine (`make docker`; tools/offline-kind/docker-up.sh)."""
    return paths.cache_dir() / "docker" / "run" / "docker.sock"


def _docker_answers(env: dict[str, str]) -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, env=env).returncode == 0


def docker_running() -> bool:
    """Whether a Docker engine answers: yours (DOCKER_HOST or Docker's default), else Scale Lab's private one.

    When only the private engine answers, it becomes this process's DOCKER_HOST, so
    that kind and docker, started from here, reach it too.
    """
    if shutil.which("docker") is None:
        return False
    if _docker_answers(dict(os.environ)):
        return True
    socket = private_docker_socket()
    if "DOCKER_HOST" in os.environ or not socket.is_socket():
        return False
    if _docker_answers({**os.environ, "DOCKER_HOST": f"unix://{socket}"}):
        os.environ["DOCKER_HOST"] = f"unix://{socket}"
        return True
    return False


def node_count(config: Path) -> int:
    return len(yaml.safe_load(config.read_text()).get("nodes") or [{}])


class KindProvider(Provider):
    name = "kind"

    def __init__(self, cluster: str, config: str | Path | None = None) -> None:
        super().__init__(cluster, config)
        self.config = config_path(config)

    def _require(self) -> str:
        """The kind binary, once kind and a running Docker engine are both there."""
        kind = kind_binary()
        if not docker_running():
            raise MissingToolError("The Docker engine is not running, and kind needs it.",
                                   "start Docker (Docker Desktop, or `sudo systemctl start docker`, or Scale Lab's own: `make docker`), "
                                   "or use `scalelab up --provider kwok`")
        return kind

    def _run(self, cmd: list[str], progress: Progress) -> None:
        run_tool(cmd, " ".join(cmd), "run `scalelab doctor`; if a half-created cluster is left, `scalelab down`",
                 progress)

    def _nodes(self) -> list[str]:
        try:
            kind = kind_binary()
        except MissingToolError:
            return []
        out = subprocess.run([kind, "get", "nodes", "--name", self.cluster], capture_output=True, text=True)
        return out.stdout.split() if out.returncode == 0 else []

    def exists(self) -> bool:
        return bool(self._nodes())

    def existing_nodes(self) -> int | None:
        """One container per node, running or stopped."""
        return len(self._nodes()) or None

    def running(self) -> bool:
        nodes = self._nodes()
        if not nodes or not docker_running():
            return False
        out = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", *nodes], capture_output=True, text=True)
        return out.returncode == 0 and all(s == "true" for s in out.stdout.split())

    def create(self, progress: Progress) -> None:
        kind = self._require()
        image = node_image()
        if image == versions.OFFLINE_KIND_NODE_IMAGE:
            progress.step(f"using the offline node image {image} (built by tools/offline-kind/build.py)")
        self._run(create_command(self.cluster, self.config, image, kind), progress)

    def start(self, progress: Progress) -> None:
        self._require()
        self._run(start_command(self.cluster, self._nodes()), progress)

    def delete(self, progress: Progress) -> None:
        self._run(delete_command(self.cluster, self._require()), progress)

    def expected_nodes(self) -> int:
        return node_count(self.config)

    def prepare(self, api: client.ApiClient, progress: Progress) -> None:
        progress.step("$ " + k8s.apply_command(metrics_server_manifest().relative_to(paths.project_root())))
        k8s.apply_file(api, metrics_server_manifest())
