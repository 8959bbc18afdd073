"""Probes that tell when a cluster is ready for the lessons.

"Ready" means what the lessons rely on: every node Ready, the metrics API
(``v1beta1.metrics.k8s.io``) Available, and metrics actually flowing (node
metrics listed, pod metrics answering), which is what ``kubectl top`` reads.
"""

from __future__ import annotations

from typing import Callable

from kubernetes import client

from scalelab.errors import ScaleLabError
from scalelab.progress import Progress
from scalelab.wait import Probe, wait_for

METRICS_APISERVICE = "v1beta1.metrics.k8s.io"


def node_is_ready(node: client.V1Node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))


def nodes_ready(api: client.ApiClient, expected: int) -> Probe:
    def probe() -> tuple[bool, str]:
        nodes = client.CoreV1Api(api).list_node().items
        ready = sum(node_is_ready(n) for n in nodes)
        return ready >= expected and ready == len(nodes), f"{ready}/{max(expected, len(nodes))} nodes Ready"

    return probe


def metrics_api_state(api: client.ApiClient) -> tuple[bool, str]:
    """(available, reason) of the metrics APIService, as `kubectl get apiservice` shows it."""
    try:
        svc = client.ApiregistrationV1Api(api).read_api_service(METRICS_APISERVICE)
    except client.ApiException as exc:
        if exc.status == 404:
            return False, f"{METRICS_APISERVICE} is not registered (metrics-server not installed)"
        raise
    for cond in svc.status.conditions or []:
        if cond.type == "Available":
            return cond.status == "True", f"Available={cond.status} ({cond.reason or 'no reason'})"
    return False, "no Available condition yet"


def metrics_flowing(api: client.ApiClient, expected_nodes: int) -> Probe:
    def probe() -> tuple[bool, str]:
        available, reason = metrics_api_state(api)
        if not available:
            return False, f"metrics API: {reason}"
        metrics = client.CustomObjectsApi(api)
        nodes = metrics.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")["items"]
        metrics.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "pods")  # what `kubectl top pods` asks
        return len(nodes) >= expected_nodes, f"metrics for {len(nodes)}/{expected_nodes} nodes"

    return probe


def guarded(probe: Probe, health: Callable[[], str | None] | None, logs: str) -> Probe:
    """Fail at once, with the evidence, when a component has crashed instead of waiting out the timeout."""

    def checked() -> tuple[bool, str]:
        problem = health() if health else None
        if problem:
            raise ComponentCrashed(f"a cluster component crashed:\n{problem}",
                                   f"read the logs in {logs}; then `scalelab down && scalelab up`")
        return probe()

    return checked


class ComponentCrashed(ScaleLabError):
    """A control-plane process exited while we waited for it."""


def wait_ready(api: client.ApiClient, expected_nodes: int, progress: Progress, timeout: float = 300,
               health: Callable[[], str | None] | None = None, logs: str = "") -> None:
    fix = f"run `scalelab doctor`; component logs are in {logs}" if logs else "run `scalelab doctor`"
    progress.step(f"waiting for {expected_nodes} nodes to be Ready")
    wait_for(guarded(nodes_ready(api, expected_nodes), health, logs), "nodes to become Ready", timeout, progress,
             fix=fix, reraise=(ComponentCrashed,))
    progress.step("waiting for the metrics API and the first metrics (one or two scrapes, ~10-30s)")
    wait_for(guarded(metrics_flowing(api, expected_nodes), health, logs), "metrics to flow through metrics.k8s.io",
             timeout, progress, interval=2.0, fix=fix, reraise=(ComponentCrashed,))
