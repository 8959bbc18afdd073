"""Small helpers for cluster tests: objects as plain dicts and polling with a generous deadline."""

from __future__ import annotations

from typing import Any, Callable

from kubernetes import client

from scalelab import k8s
from scalelab.errors import WaitTimeout
from scalelab.traffic import EmulatedCPU
from scalelab.wait import wait_for


def deployment(name: str, image: str, replicas: int = 1, cpu: str | None = "200m",
               annotations: dict[str, str] | None = None) -> dict[str, Any]:
    resources = {"requests": {"cpu": cpu}} if cpu else {}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations or {}},
                "spec": {"containers": [{"name": "app", "image": image, "resources": resources}]},
            },
        },
    }


def eventually(check: Callable[[], Any], timeout: float, what: str, interval: float = 1.0,
               between: Callable[[], None] | None = None) -> Any:
    """Poll until ``check()`` is truthy (running ``between`` first each time) and return its value.

    The library's own wait, except that errors are not retried (a test should see
    them) and running out of time is a test failure.
    """
    def probe() -> tuple[bool, Any]:
        if between:
            between()
        value = check()
        return bool(value), value

    try:
        return wait_for(probe, what, timeout, interval=interval, reraise=(Exception,))
    except WaitTimeout as exc:
        raise AssertionError(exc.problem) from None


def running_pods(api: client.ApiClient, ns: str, app: str) -> list[client.V1Pod]:
    pods = client.CoreV1Api(api).list_namespaced_pod(ns, label_selector=f"app={app}").items
    return [p for p in pods if p.status.phase == "Running" and p.metadata.deletion_timestamp is None]


def spread_cpu(api: client.ApiClient, ns: str, app: str, total_millicores: int) -> int:
    """Emulate a load of ``total_millicores`` shared by the running pods (kwok reads the annotation)."""
    pods = running_pods(api, ns, app)
    EmulatedCPU(api).apply(pods, total_millicores / max(1, len(pods)))
    return len(pods)


def fresh_namespace(api: client.ApiClient, name: str) -> str:
    k8s.delete_namespace(api, name)
    k8s.ensure_namespace(api, name)
    return name
