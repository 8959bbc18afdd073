"""Small helpers for cluster tests: objects as plain dicts and polling with a generous deadline."""

from __future__ import annotations

import time
from typing import Any, Callable

from kubernetes import client

from scalelab import k8s


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
    """Poll until ``check()`` is truthy; fail with ``what`` and the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if between:
            between()
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def running_pods(api: client.ApiClient, ns: str, app: str) -> list[client.V1Pod]:
    pods = client.CoreV1Api(api).list_namespaced_pod(ns, label_selector=f"app={app}").items
    return [p for p in pods if p.status.phase == "Running" and p.metadata.deletion_timestamp is None]


def spread_cpu(api: client.ApiClient, ns: str, app: str, total_millicores: int) -> int:
    """Emulate a load of ``total_millicores`` shared by the running pods (kwok reads the annotation)."""
    pods = running_pods(api, ns, app)
    core = client.CoreV1Api(api)
    for pod in pods:
        share = f"{max(1, total_millicores // max(1, len(pods)))}m"
        if (pod.metadata.annotations or {}).get("kwok.x-k8s.io/usage-cpu") != share:
            core.patch_namespaced_pod(pod.metadata.name, ns,
                                      {"metadata": {"annotations": {"kwok.x-k8s.io/usage-cpu": share}}})
    return len(pods)


def fresh_namespace(api: client.ApiClient, name: str) -> str:
    k8s.delete_namespace(api, name)
    k8s.ensure_namespace(api, name)
    return name
