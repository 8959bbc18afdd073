"""Thin helpers over the official client: apply manifests the way `kubectl apply --server-side` does.

Server-side apply makes every apply idempotent (re-running a notebook cell
changes nothing) and records Scale Lab as the field manager, so a lesson can
show who owns which field.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import yaml
from kubernetes import client, dynamic

from scalelab.wait import wait_for

from scalelab.names import FIELD_MANAGER, POOL_LABEL, TUTORIAL_LABEL


def cpu_millicores(quantity: str | float | None) -> float:
    """A CPU quantity in millicores: '250m' → 250, '2' → 2000, '123456789n' → 123.46, None → 0."""
    if quantity is None or quantity == "":
        return 0.0
    q = str(quantity)
    scale = {"n": 1e-6, "u": 1e-3, "m": 1.0}
    if q[-1] in scale:
        return float(q[:-1]) * scale[q[-1]]
    return float(q) * 1000


def pod_cpu(api: client.ApiClient, namespace: str, selector: str | None = None) -> dict[str, float]:
    """Millicores per pod, as `kubectl top pods` shows them (metrics API; a pod not scraped yet is absent)."""
    items = client.CustomObjectsApi(api).list_namespaced_custom_object(
        "metrics.k8s.io", "v1beta1", namespace, "pods", label_selector=selector)["items"]
    return {i["metadata"]["name"]: sum(cpu_millicores(c["usage"]["cpu"]) for c in i["containers"]) for i in items}


def pod_is_ready(pod: client.V1Pod) -> bool:
    """Running, not being deleted, and its Ready condition true: what a Service would send traffic to."""
    if pod.metadata.deletion_timestamp or pod.status.phase != "Running":
        return False
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def scale(api: client.ApiClient, namespace: str, deployment: str, replicas: int) -> None:
    """`kubectl scale deployment/NAME --replicas=N` (through the scale subresource, as an HPA does)."""
    client.AppsV1Api(api).patch_namespaced_deployment_scale(deployment, namespace,
                                                            {"spec": {"replicas": max(0, int(replicas))}})


def rollout_status(api: client.ApiClient, namespace: str, deployment: str) -> tuple[bool, str]:
    """(finished, summary) as `kubectl rollout status` judges it: every replica updated and ready."""
    d = client.AppsV1Api(api).read_namespaced_deployment(deployment, namespace)
    s = d.status
    done = (s.observed_generation == d.metadata.generation and (s.updated_replicas or 0) == d.spec.replicas
            and (s.ready_replicas or 0) == d.spec.replicas and not s.unavailable_replicas)
    return done, f"{s.ready_replicas or 0}/{d.spec.replicas} ready, {s.updated_replicas or 0} updated"


def selector_of(api: client.ApiClient, namespace: str, deployment: str) -> str:
    """The Deployment's pod selector as a label-selector string (``app=stream-api``)."""
    d = client.AppsV1Api(api).read_namespaced_deployment(deployment, namespace)
    return ",".join(f"{k}={v}" for k, v in (d.spec.selector.match_labels or {}).items())


def load_manifests(path: Path | str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a manifest file."""
    with open(path) as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def apply_objects(api: client.ApiClient, objects: Iterable[dict[str, Any]],
                  namespace: str | None = None) -> list[str]:
    """Server-side apply each object; returns ``kind/name`` of each, in order.

    ``namespace`` overrides the documents' own namespace for namespaced kinds
    (the lessons apply the same manifest into their own namespace).
    """
    dyn = dynamic.DynamicClient(api)
    applied = []
    for obj in objects:
        resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        meta = obj.setdefault("metadata", {})
        ns = None
        if resource.namespaced:
            ns = namespace or meta.get("namespace") or "default"
            meta["namespace"] = ns
        resource.server_side_apply(body=obj, name=meta["name"], namespace=ns,
                                   field_manager=FIELD_MANAGER, force_conflicts=True)
        applied.append(f"{obj['kind']}/{meta['name']}")
    return applied


def apply_file(api: client.ApiClient, path: Path | str, namespace: str | None = None) -> list[str]:
    """`kubectl apply --server-side -f PATH` from Python."""
    return apply_objects(api, load_manifests(path), namespace)


def ensure_namespace(api: client.ApiClient, name: str, timeout: float = 60) -> None:
    """Create a tutorial namespace (labelled so `scalelab reset` finds it); no-op if it exists.

    Waits for the namespace's ``default`` ServiceAccount: until the controller
    has made it, creating a pod there is refused ("serviceaccount not found").
    """
    apply_objects(api, [{"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": name, "labels": {TUTORIAL_LABEL: "true"}}}])
    core = client.CoreV1Api(api)

    def has_default_sa() -> tuple[bool, str]:
        found = core.list_namespaced_service_account(name, field_selector="metadata.name=default").items
        return bool(found), "default ServiceAccount " + ("ready" if found else "not created yet")

    wait_for(has_default_sa, f"namespace {name} to get its default ServiceAccount", timeout)


def delete_namespace(api: client.ApiClient, name: str, timeout: float = 120) -> None:
    """Delete a namespace and wait until it is gone, so the next run starts clean."""
    core = client.CoreV1Api(api)
    try:
        core.delete_namespace(name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise

    def gone() -> tuple[bool, str]:
        try:
            phase = core.read_namespace(name).status.phase
        except client.ApiException as exc:
            if exc.status == 404:
                return True, "deleted"
            raise
        return False, f"namespace {name} is {phase}"

    wait_for(gone, f"namespace {name} to be deleted", timeout)


def diff_paths(live: Any, desired: Any, prefix: str = "") -> list[str]:
    """Dotted paths where ``desired`` differs from ``live``, looking only at what ``desired`` sets.

    This is the question `kubectl diff` answers: what would applying this file change?
    Fields the file does not mention (status, defaults, other managers' fields) are ignored.
    """
    if isinstance(desired, dict) and isinstance(live, dict):
        out: list[str] = []
        for key, value in desired.items():
            out += diff_paths(live.get(key), value, f"{prefix}.{key}" if prefix else key)
        return out
    if isinstance(desired, list) and isinstance(live, list) and len(desired) == len(live):
        out = []
        for i, (a, b) in enumerate(zip(live, desired)):
            out += diff_paths(a, b, f"{prefix}[{i}]")
        return out
    return [] if _same(live, desired) else [prefix]


def _same(live: Any, desired: Any) -> bool:
    if live == desired:
        return True
    # The API server normalises quantities and numbers ("1" vs 1, "500m" vs "0.5").
    return str(live) == str(desired)


def diff_file(api: client.ApiClient, path: Path | str, namespace: str) -> dict[str, list[str]]:
    """`kubectl diff -f PATH`: for each object in the file, the fields applying it would change."""
    dyn = dynamic.DynamicClient(api)
    result = {}
    for obj in load_manifests(path):
        resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        name = obj["metadata"]["name"]
        try:
            live = resource.get(name=name, namespace=namespace if resource.namespaced else None).to_dict()
        except dynamic.exceptions.NotFoundError:
            result[f"{obj['kind']}/{name}"] = ["(new object)"]
            continue
        desired = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        result[f"{obj['kind']}/{name}"] = diff_paths(live, desired)
    return result


def cordon(api: client.ApiClient, node: str, unschedulable: bool = True) -> None:
    """`kubectl cordon NODE` (or `uncordon` with ``unschedulable=False``)."""
    client.CoreV1Api(api).patch_node(node, {"spec": {"unschedulable": unschedulable}})


def drain(api: client.ApiClient, node: str, timeout: float = 180) -> list[str]:
    """`kubectl drain NODE --ignore-daemonsets`: cordon, then evict every pod, respecting PodDisruptionBudgets.

    An eviction that would break a PodDisruptionBudget is refused (HTTP 429);
    like kubectl we retry until the budget allows it (the controller has started
    a replacement elsewhere) or ``timeout`` runs out. Returns the evicted pods.
    """
    core = client.CoreV1Api(api)
    cordon(api, node)
    deadline = time.monotonic() + timeout
    evicted: list[str] = []
    while True:
        pods = [p for p in core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
                if not p.metadata.deletion_timestamp
                and not any(o.kind == "DaemonSet" for o in (p.metadata.owner_references or []))]
        if not pods:
            return evicted
        for pod in pods:
            body = client.V1Eviction(metadata=client.V1ObjectMeta(name=pod.metadata.name,
                                                                  namespace=pod.metadata.namespace))
            try:
                core.create_namespaced_pod_eviction(pod.metadata.name, pod.metadata.namespace, body)
                evicted.append(f"{pod.metadata.namespace}/{pod.metadata.name}")
            except client.ApiException as exc:
                if exc.status not in (404, 429):  # gone already / budget says "not now"
                    raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"drain of {node}: {len(pods)} pod(s) still there after {timeout:.0f}s "
                               "(a PodDisruptionBudget may not allow evicting them)")
        time.sleep(1)


def busiest_node(api: client.ApiClient, namespace: str, selector: str, pool: str | None = None) -> str:
    """The node running most pods of ``selector`` (preferring nodes of ``pool``): what maintenance would hurt most."""
    core = client.CoreV1Api(api)
    on_node = Counter(p.spec.node_name for p in core.list_namespaced_pod(namespace, label_selector=selector).items
                      if p.spec.node_name and not p.metadata.deletion_timestamp)
    if not on_node:
        raise ValueError(f"no scheduled pods match {selector} in {namespace}")
    pools = {n.metadata.name: (n.metadata.labels or {}).get(POOL_LABEL) for n in core.list_node().items}
    preferred = [n for n in on_node if pools.get(n) == pool] or list(on_node)
    return max(preferred, key=lambda n: on_node[n])
