"""Preflight: check every prerequisite and print the exact fix for each failure.

Used by ``scalelab doctor`` and by the first cell of lesson 00. A check is
``required`` when the chosen provider cannot work without it; missing optional
things (Docker when kwok is used) are shown but do not fail the preflight.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass

from scalelab import kubectl, needs, toolchain, versions
from scalelab.cluster.base import Provider
from scalelab.cluster.kind import docker_running, private_docker_socket, image_present, kind_binary, node_image
from scalelab.errors import MissingToolError

OK, FAIL, INFO = "ok", "FAIL", "info"

# Distribution name -> the pin in pyproject.toml, read from the installed metadata of scalelab itself.
PYTHON_PACKAGES = ("jupyterlab", "ipywidgets", "kubernetes", "plotly", "anywidget", "nbval", "pyyaml")
JUPYTER_PORT = 8888


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""

    def render(self) -> str:
        line = f"[{self.status:>4}] {self.name}: {self.detail}"
        return line + (f"\n       fix: {self.fix}" if self.status == FAIL and self.fix else "")


def pinned_versions() -> dict[str, str]:
    """Pins as declared by the installed scalelab package (``name==version``)."""
    pins = {}
    for req in importlib.metadata.requires("scalelab") or []:
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^;\s]+)", req)
        if match:
            pins[match[1].lower()] = match[2]
    return pins


def check_python_packages() -> Check:
    pins = pinned_versions()
    problems = []
    for name in PYTHON_PACKAGES:
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{name} missing")
            continue
        want = pins.get(name)
        if want and have != want:
            problems.append(f"{name} {have} (pinned {want})")
    if problems:
        return Check("python packages", FAIL, "; ".join(problems), "pip install -e .   (or: conda env update -f environment.yml)")
    return Check("python packages", OK, ", ".join(f"{n} {pins.get(n, '?')}" for n in PYTHON_PACKAGES))


def check_kubectl() -> Check:
    fix = kubectl.INSTALL_FIX
    path = shutil.which("kubectl")
    if not path:
        return Check("kubectl", FAIL, "not on PATH", fix)
    out = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True, text=True)
    match = re.search(r'"minor":\s*"(\d+)', out.stdout)
    if not match:
        return Check("kubectl", FAIL, f"{path} did not report its version", fix)
    skew = abs(int(match[1]) - versions.minor(versions.KUBERNETES))
    if skew > 1:
        return Check("kubectl", FAIL, f"{path} is 1.{match[1]}, more than one minor away from the cluster's "
                     f"{versions.KUBERNETES}", fix + "; make sure the environment's bin folder comes first on PATH")
    return Check("kubectl", OK, f"{path} (1.{match[1]})")


def check_docker(required: bool) -> Check:
    if docker_running():
        private = os.environ.get("DOCKER_HOST") == f"unix://{private_docker_socket()}"
        return Check("docker engine", OK, "running (Scale Lab's private engine: `make docker-stop` stops it)"
                     if private else "running")
    detail = "not running" if shutil.which("docker") else "not installed"
    if not required:
        return Check("docker engine", INFO, f"{detail}; not needed for the kwok provider")
    return Check("docker engine", FAIL, detail, "start Docker (Docker Desktop, or `sudo systemctl start docker`, or Scale Lab's own: `make docker`), "
                 "or use `scalelab up --provider kwok`")


def check_kind(required: bool) -> Check:
    try:
        return Check("kind", OK, kind_binary())
    except MissingToolError as err:
        if not required:
            return Check("kind", INFO, "not installed; not needed for the kwok provider")
        return Check("kind", FAIL, "not on PATH", err.fix)


def check_node_image() -> Check:
    """Which node image `scalelab up --provider kind` will use, and what to do where none can be pulled."""
    image = node_image()
    if image_present(image):
        offline = " (the offline build)" if image == versions.OFFLINE_KIND_NODE_IMAGE else ""
        return Check("kind node image", OK, image + offline)
    return Check("kind node image", INFO, f"{image} will be pulled by the first `scalelab up`; where no registry "
                 "answers, build it offline: python tools/offline-kind/build.py")


def check_binaries(required: bool) -> Check:
    missing = toolchain.missing()
    if not missing:
        return Check("control-plane binaries", OK, "cached: " + ", ".join(f"{c.name} {c.version}" for c in toolchain.ALL))
    names = ", ".join(f"{c.name} {c.version}" for c in missing)
    status = FAIL if required else INFO
    fix = "scalelab up --provider kwok   (downloads or builds them once: about 15-25 minutes cold on 2 cores)"
    if shutil.which("go") is None:
        fix = f"install Go {'.'.join(map(str, versions.GO_MINIMUM))}+, then: " + fix
    return Check("control-plane binaries", status, f"not cached: {names}", fix)


def check_cluster(provider: Provider) -> tuple[Check, Check]:
    """Cluster reachable, and the metrics API available (the second depends on the first)."""
    from kubernetes import client

    from scalelab.cluster import readiness

    if not provider.running():
        state = "stopped" if provider.exists() else "not created"
        return (Check("cluster", FAIL, f"'{provider.cluster}' ({provider.name}) is {state}", "scalelab up"),
                Check("metrics API", FAIL, "no cluster to ask", "scalelab up"))
    try:
        api = provider.api()
        version = client.VersionApi(api).get_code().git_version
    except Exception as exc:  # noqa: BLE001 - any failure here means "not reachable"
        return (Check("cluster", FAIL, f"'{provider.cluster}' does not answer: {str(exc)[:200]}",
                      "scalelab down && scalelab up"),
                Check("metrics API", FAIL, "no cluster to ask", "scalelab up"))
    cluster = Check("cluster", OK, f"'{provider.cluster}' ({provider.name}, {version}, context {provider.context})")
    available, reason = readiness.metrics_api_state(api)
    metrics = Check("metrics API", OK if available else FAIL, f"{readiness.METRICS_APISERVICE}: {reason}",
                    "scalelab up   (re-installs and waits for metrics-server)")
    return cluster, metrics


def check_shape(shape: needs.ClusterShape, provider: str) -> Check:
    """Pools, zones, nodes and free CPU against what every lesson and lab needs (scalelab.needs.NEEDS)."""
    problems, fix = needs.check_all(shape, provider)
    if problems:
        return Check("cluster shape", FAIL, f"{'; '.join(problems)}; this cluster has {shape.describe()}", fix)
    return Check("cluster shape", OK, f"{shape.describe()}: every lesson and lab fits")


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(provider: Provider) -> Check:
    ports = {JUPYTER_PORT: "JupyterLab"}
    ports.update(provider.required_ports() if not provider.running() else {})
    busy = [f"{port} ({what})" for port, what in ports.items() if not port_free(port)]
    if busy:
        return Check("free ports", INFO if busy == [f"{JUPYTER_PORT} (JupyterLab)"] else FAIL,
                     "in use: " + ", ".join(busy),
                     "stop what listens there (`ss -ltnp` shows it); for a stopped kwok cluster, "
                     "`scalelab down && scalelab up` recreates it on free ports (JupyterLab picks the next free port itself)")
    return Check("free ports", OK, ", ".join(f"{p} ({w})" for p, w in ports.items()))


def run_checks(provider: Provider) -> list[Check]:
    kind = provider.name == "kind"
    checks = [check_python_packages(), check_kubectl(), check_docker(kind), check_kind(kind), check_binaries(not kind)]
    if kind and docker_running():
        checks.append(check_node_image())
    cluster, metrics = check_cluster(provider)
    checks.extend((cluster, metrics))
    if cluster.status == OK:
        checks.append(check_shape(needs.read_shape(provider.api()), provider.name))
    checks.append(check_ports(provider))
    return checks


def report(checks: list[Check]) -> str:
    failed = [c for c in checks if c.status == FAIL]
    lines = [c.render() for c in checks]
    lines.append(f"\n{len(failed)} problem(s) found." if failed else "\nAll set: the lessons can run.")
    return "\n".join(lines)


def preflight() -> bool:
    """The doctor, from a notebook: print the checks for the cluster of the current context."""
    from scalelab import kube
    from scalelab.cluster import choose_provider, provider_of_context

    provider = choose_provider(provider_of_context(kube.current_context()) or "auto")
    checks = run_checks(provider)
    print(report(checks))
    return not any(c.status == FAIL for c in checks)
