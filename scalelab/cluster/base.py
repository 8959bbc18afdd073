"""The provider interface and the steps every provider shares (up, status, reset)."""

from __future__ import annotations

import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client

from scalelab import guard, kube, paths
from scalelab.cluster import readiness
from scalelab.errors import ClusterShapeError, NoClusterError, ScaleLabError
from scalelab.names import POOL_LABEL, TUTORIAL_LABEL, ZONE_LABEL
from scalelab.progress import Progress
from scalelab.wait import wait_for


def run_tool(cmd: list[str], shown: str, fix: str, progress: Progress | None = None,
             env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a provider's command line tool (kind, kwokctl, docker), echoing it as ``$ shown``.

    A failure raises with the tool's own last words and ``fix``, so the learner
    sees why and what to do, not a Python traceback.
    """
    if progress:
        progress.step(f"$ {shown}")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise ScaleLabError(f"`{shown}` failed:\n{out.stderr.strip()[-2000:]}", fix)
    return out


class Provider(ABC):
    """A way to run the tutorial cluster. Subclasses only start and stop it."""

    name: str

    def __init__(self, cluster: str, config: str | Path | None = None) -> None:
        self.cluster = cluster
        self.asked_config = config  # what the learner passed as --config (None: the default, or what runs)

    @property
    def context(self) -> str:
        """The kube context the provider's tool writes: ``kind-<cluster>`` or ``kwok-<cluster>``."""
        return f"{self.name}-{self.cluster}"

    @abstractmethod
    def exists(self) -> bool: ...

    @abstractmethod
    def running(self) -> bool: ...

    @abstractmethod
    def create(self, progress: Progress) -> None: ...

    @abstractmethod
    def start(self, progress: Progress) -> None:
        """Start an existing, stopped cluster."""

    @abstractmethod
    def delete(self, progress: Progress) -> None: ...

    @abstractmethod
    def expected_nodes(self) -> int: ...

    @abstractmethod
    def prepare(self, api: client.ApiClient, progress: Progress) -> None:
        """Install what the lessons need on top of a bare cluster (idempotent)."""

    def logs_hint(self) -> str:
        """Where to look when something in the cluster misbehaves."""
        return ""

    def health_problem(self) -> str | None:
        """A reason the cluster cannot become ready (a crashed component), or None."""
        return None

    def required_ports(self) -> dict[int, str]:
        """Loopback ports that must be free before the cluster is created."""
        return {}

    def existing_nodes(self) -> int | None:
        """How many nodes the existing cluster has, or None when that cannot be told without starting it."""
        if not self.running():
            return None
        return len(client.CoreV1Api(kube.api_client(self.context)).list_node().items)

    def check_config_matches(self) -> None:
        """An existing cluster is reused as it is; when ``--config`` asks for another shape, say so.

        Reusing it silently would leave the learner on a fleet other than the one they asked for (one
        node when they asked for the pools a lab needs), and `prepare` would mix two fleets.
        """
        if self.asked_config is None:
            return
        have, want = self.existing_nodes(), self.expected_nodes()
        if have is not None and have != want:
            raise ClusterShapeError(
                f"cluster '{self.cluster}' ({self.name}) already exists with {have} node(s); "
                f"--config {self.asked_config} describes {want}.",
                f"to switch, recreate it: `scalelab down && scalelab up --config {self.asked_config}` (its "
                "tutorial namespaces go with it); to keep the one you have, run `scalelab up` without --config")

    # --- shared behaviour ---------------------------------------------------------------

    def up(self, progress: Progress, timeout: float = 600) -> bool:
        """Create or reuse the cluster and wait until lessons can run. Returns True if anything changed."""
        if self.running():
            self.check_config_matches()
            guard.remember(self.context)
            kube.use_context(self.context)
            api = kube.api_client(self.context)
            ok, _ = readiness.nodes_ready(api, self.expected_nodes())()
            if ok and readiness.metrics_flowing(api, self.expected_nodes())()[0]:
                progress.step(f"cluster '{self.cluster}' ({self.name}) is already up and ready; nothing to do")
                return False
            progress.step(f"cluster '{self.cluster}' is running but not ready; repairing")
        elif self.exists() and self._creation_marker().exists():
            progress.step(f"cluster '{self.cluster}' was left half-made by an interrupted `scalelab up`; "
                          "deleting it to create it afresh")
            self.delete(progress)
            self._create(progress)
        elif self.exists():
            self.check_config_matches()
            progress.step(f"starting the stopped cluster '{self.cluster}' ({self.name})")
            self.start(progress)
        else:
            self._create(progress)
        guard.remember(self.context)
        kube.use_context(self.context)
        api = kube.api_client(self.context)
        self.prepare(api, progress)
        readiness.wait_ready(api, self.expected_nodes(), progress, timeout=timeout,
                             health=self.health_problem, logs=self.logs_hint())
        progress.step(f"cluster '{self.cluster}' is ready (context {self.context})")
        return True

    def _creation_marker(self):
        """Present while ``create`` runs: if it is still there, the creation never finished."""
        return paths.state_dir() / f"creating-{self.name}-{self.cluster}"

    def _create(self, progress: Progress) -> None:
        """Create the cluster, leaving either a whole one or none: an interrupted creation
        (Ctrl-C, an error) removes what it made; a killed one leaves the marker for the next `up`."""
        progress.step(f"creating cluster '{self.cluster}' with the {self.name} provider")
        marker = self._creation_marker()
        marker.write_text("a `scalelab up` is creating this cluster; if it is no longer running, the next one "
                          "deletes the half-made cluster and starts again\n")
        try:
            self.create(progress)
        except BaseException:
            progress.step(f"creating '{self.cluster}' did not finish: removing the half-made cluster")
            try:
                if self.exists():
                    self.delete(progress)
                marker.unlink(missing_ok=True)
            except Exception:  # noqa: BLE001 - the marker stays, and the next `up` cleans up
                pass
            raise
        marker.unlink(missing_ok=True)

    def down(self, progress: Progress) -> None:
        if not self.exists():
            progress.step(f"no cluster '{self.cluster}' ({self.name}); nothing to delete")
        else:
            self.delete(progress)
            progress.step(f"deleted cluster '{self.cluster}'")
        self._creation_marker().unlink(missing_ok=True)
        guard.forget(self.context)

    def api(self) -> client.ApiClient:
        if not self.running():
            raise NoClusterError(f"the tutorial cluster '{self.cluster}' ({self.name}) is not running.",
                                 "start it with `scalelab up`")
        return kube.api_client(self.context)

    def status(self) -> "ClusterStatus":
        status = ClusterStatus(provider=self.name, cluster=self.cluster, context=self.context,
                               exists=self.exists(), running=False)
        if not status.exists or not self.running():
            return status
        status.running = True
        api = kube.api_client(self.context)
        status.version = client.VersionApi(api).get_code().git_version
        for node in client.CoreV1Api(api).list_node().items:
            labels = node.metadata.labels or {}
            status.nodes.append(NodeSummary(
                name=node.metadata.name, ready=readiness.node_is_ready(node),
                pool=labels.get(POOL_LABEL, "-"), zone=labels.get(ZONE_LABEL, "-"),
                cpu=(node.status.allocatable or {}).get("cpu", "?"),
                memory=(node.status.allocatable or {}).get("memory", "?")))
        status.metrics_available, status.metrics_reason = readiness.metrics_api_state(api)
        status.namespaces = tutorial_namespaces(api)
        return status


def tutorial_namespaces(api: client.ApiClient) -> list[str]:
    items = client.CoreV1Api(api).list_namespace(label_selector=f"{TUTORIAL_LABEL}=true").items
    return sorted(ns.metadata.name for ns in items)


def reset(api: client.ApiClient, progress: Progress) -> list[str]:
    """Delete every tutorial namespace (and only those); wait until they are gone."""
    names = tutorial_namespaces(api)
    core = client.CoreV1Api(api)
    for name in names:
        progress.step(f"deleting namespace {name}")
        core.delete_namespace(name)

    def gone() -> tuple[bool, str]:
        left = [n for n in names if n in {ns.metadata.name for ns in core.list_namespace().items}]
        return not left, f"still terminating: {', '.join(left) or 'none'}"

    if names:
        wait_for(gone, "tutorial namespaces to be deleted", 180, progress)
    return names


@dataclass
class NodeSummary:
    name: str
    ready: bool
    pool: str
    zone: str
    cpu: str
    memory: str


@dataclass
class ClusterStatus:
    provider: str
    cluster: str
    context: str
    exists: bool
    running: bool
    version: str = ""
    nodes: list[NodeSummary] = field(default_factory=list)
    metrics_available: bool = False
    metrics_reason: str = ""
    namespaces: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = [f"provider:   {self.provider}", f"cluster:    {self.cluster}", f"context:    {self.context}"]
        if not self.running:
            state = "stopped" if self.exists else "not created"
            lines.append(f"state:      {state} (start it with `scalelab up`)")
            return "\n".join(lines)
        lines += ["state:      running", f"kubernetes: {self.version}",
                  f"metrics:    {'Available' if self.metrics_available else 'NOT available'} ({self.metrics_reason})",
                  f"namespaces: {', '.join(self.namespaces) or '(no tutorial namespaces)'}",
                  f"nodes:      {len(self.nodes)}"]
        for n in self.nodes:
            lines.append(f"  {n.name:<24} {'Ready' if n.ready else 'NotReady':<9} pool={n.pool:<8} zone={n.zone:<10} "
                         f"cpu={n.cpu:<5} memory={n.memory}")
        return "\n".join(lines)
