"""Thin helpers over the official client: apply manifests the way `kubectl apply --server-side` does.

Server-side apply makes every apply idempotent (re-running a notebook cell
changes nothing) and records Scale Lab as the field manager, so a lesson can
show who owns which field. Scale Lab applies with ``force_conflicts``: the
kubectl equivalent of every apply here is
``kubectl apply --server-side --field-manager=scalelab --force-conflicts``,
and that is the line the notebooks and manifests print.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

import urllib3
import yaml
from kubernetes import client, dynamic

from scalelab import guard
from scalelab.errors import ContextNotAllowedError, ScaleLabError
from scalelab.wait import wait_for

# The cluster did not answer: connection refused or reset, a timeout, a broken response.
UNREACHABLE = (urllib3.exceptions.HTTPError, ConnectionError, OSError)
# ... or answered with an error status: either way nothing was learnt about the objects asked for.
UNREADABLE = (client.ApiException, *UNREACHABLE)

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


def memory_mebibytes(quantity: str | None) -> float:
    """A memory quantity in MiB: '96Mi' → 96, '102400Ki' → 100, '1Gi' → 1024, '1048576' → 1, None → 0."""
    if not quantity:
        return 0.0
    q = str(quantity)
    binary = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40}
    decimal = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    if q[-2:] in binary:
        return float(q[:-2]) * binary[q[-2:]] / 2 ** 20
    if q[-1] in decimal:
        return float(q[:-1]) * decimal[q[-1]] / 2 ** 20
    return float(q) / 2 ** 20


def pod_memory(api: client.ApiClient, namespace: str, selector: str | None = None) -> dict[str, float]:
    """MiB per pod (working set), as `kubectl top pods` shows them (a pod not scraped yet is absent)."""
    items = client.CustomObjectsApi(api).list_namespaced_custom_object(
        "metrics.k8s.io", "v1beta1", namespace, "pods", label_selector=selector)["items"]
    return {i["metadata"]["name"]: sum(memory_mebibytes(c["usage"]["memory"]) for c in i["containers"])
            for i in items}


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


def field_owners(managed_fields: Iterable[Any] | None, path: str) -> list[str]:
    """The field managers that own ``path`` ("spec.replicas"), from an object's ``metadata.managedFields``.

    Each as ``manager`` or ``manager (through /subresource)``: what
    `kubectl get … -o yaml --show-managed-fields` shows, entry by entry.
    """
    owners = []
    for entry in managed_fields or []:
        node: Any = entry.fields_v1 or {}
        for key in path.split("."):
            node = node.get(f"f:{key}") if isinstance(node, dict) else None
        if node is not None:
            owners.append(entry.manager + (f" (through /{entry.subresource})" if entry.subresource else ""))
    return owners


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


def apply_command(path: Path | str, namespace: str | None = None) -> str:
    """The kubectl line that does what :func:`apply_file` does (``path`` as the learner types it)."""
    scope = f" -n {namespace}" if namespace else ""
    return f"kubectl apply --server-side --field-manager={FIELD_MANAGER} --force-conflicts{scope} -f {path}"


def apply_file(api: client.ApiClient, path: Path | str, namespace: str | None = None) -> list[str]:
    """`kubectl apply --server-side --field-manager=scalelab --force-conflicts [-n NAMESPACE] -f PATH` from Python."""
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
    """Delete a namespace and wait until it is gone, so the next run starts clean.

    On an opted-in cluster (not created by Scale Lab) only a namespace with the
    tutorial label is deleted; any other is refused.
    """
    core = client.CoreV1Api(api)
    if guard.is_opted_in(api):
        try:
            labels = core.read_namespace(name).metadata.labels or {}
        except client.ApiException as exc:
            if exc.status == 404:
                return
            raise
        if labels.get(TUTORIAL_LABEL) != "true":
            raise ContextNotAllowedError(
                f"Refusing to delete namespace {name}: it lacks the label {TUTORIAL_LABEL}=true, so Scale Lab did "
                f"not create it, and this cluster was opted in ({guard.ALLOW_ENV}), not created by Scale Lab.",
                f"delete it yourself if it is really yours: kubectl delete namespace {name}")
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
    """For each object in the file, the fields applying it with :func:`apply_file` would change.

    The question `kubectl diff --server-side --field-manager=scalelab --force-conflicts -n NAMESPACE -f PATH`
    answers. Without those two flags kubectl would dry-run the apply as manager ``kubectl`` and, for a
    field ``scalelab`` set to another value, report a conflict instead of a diff. This comparison is
    made here (:func:`diff_paths`), not by a dry run, so it names no field manager at all.
    """
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
    """`kubectl cordon NODE` (or `uncordon` with ``unschedulable=False``); only on a cluster Scale Lab created."""
    guard.require_created(api, f"{'cordon' if unschedulable else 'uncordon'} node {node}")
    client.CoreV1Api(api).patch_node(node, {"spec": {"unschedulable": unschedulable}})


CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"  # a static pod: the kubelet runs it from a file, not the API
SYSTEM_NAMESPACE = "kube-system"


def is_control_plane(node: client.V1Node) -> bool:
    return any(label in (node.metadata.labels or {}) for label in CONTROL_PLANE_LABELS)


def _owner_kinds(pod: client.V1Pod) -> list[str]:
    return [o.kind for o in (pod.metadata.owner_references or []) if o.controller]


def _is_daemon_or_static(pod: client.V1Pod) -> bool:
    return MIRROR_ANNOTATION in (pod.metadata.annotations or {}) or "DaemonSet" in _owner_kinds(pod)


def drain_plan(pods: Iterable[client.V1Pod], delete_emptydir_data: bool = False) -> tuple[list[client.V1Pod], list[str]]:
    """What `kubectl drain NODE --ignore-daemonsets` does with the pods on a node: (pods it evicts, refusals).

    Like kubectl: static (mirror) pods and DaemonSet pods stay; a pod no
    controller would recreate, or one with emptyDir data, is refused (kubectl
    needs --force or --delete-emptydir-data), and then nothing is evicted at all.
    """
    evict: list[client.V1Pod] = []
    refused: list[str] = []
    for pod in pods:
        if pod.metadata.deletion_timestamp or _is_daemon_or_static(pod):
            continue
        name = f"{pod.metadata.namespace}/{pod.metadata.name}"
        finished = (pod.status.phase if pod.status else None) in ("Succeeded", "Failed")
        if not finished and not _owner_kinds(pod):
            refused.append(f"{name} declares no controller (kubectl drain needs --force)")
        elif not finished and not delete_emptydir_data and any(
                v.empty_dir is not None for v in (pod.spec.volumes or [])):
            refused.append(f"{name} has local storage, an emptyDir (kubectl drain needs --delete-emptydir-data)")
        else:
            evict.append(pod)
    return evict, refused


class DrainRefused(ScaleLabError):
    """`kubectl drain` would refuse this node: some pod would be lost, not moved."""


def drain(api: client.ApiClient, node: str, timeout: float = 180, delete_emptydir_data: bool = False) -> list[str]:
    """`kubectl drain NODE --ignore-daemonsets`: cordon, then evict every pod, respecting PodDisruptionBudgets.

    Only what that command evicts (:func:`drain_plan`); if it would refuse a pod,
    :class:`DrainRefused` is raised before anything changes. An eviction that
    would break a PodDisruptionBudget is refused (HTTP 429); like kubectl we
    retry until the budget allows it (the controller has started a replacement
    elsewhere) or ``timeout`` runs out. Returns the evicted pods.
    """
    guard.require_created(api, f"drain node {node}")
    core = client.CoreV1Api(api)

    def on_node() -> tuple[list[client.V1Pod], list[str]]:
        return drain_plan(core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items,
                          delete_emptydir_data)

    _, refused = on_node()
    if refused:
        raise DrainRefused(f"`kubectl drain {node} --ignore-daemonsets` would refuse: {'; '.join(refused)}.",
                           "drain another node (a worker that runs no cluster add-ons), or move those pods first")
    cordon(api, node)
    deadline = time.monotonic() + timeout
    evicted: list[str] = []
    while True:
        pods, _ = on_node()
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


def why_not_drain(node: client.V1Node, pods_on_node: Sequence[client.V1Pod], nodes: Sequence[client.V1Node]) -> str | None:
    """Why maintenance should not take ``node`` now (None: it may).

    Never a control-plane node; never a node running the cluster's own services
    (static control-plane pods, CoreDNS, metrics-server: pods of kube-system that
    are not per-node DaemonSet pods), nor one `kubectl drain` would refuse; and
    never the last schedulable node of its pool, whose pods would have nowhere to go.
    """
    if is_control_plane(node):
        return "control plane"
    system = sorted(p.metadata.name for p in pods_on_node if p.metadata.namespace == SYSTEM_NAMESPACE
                    and not p.metadata.deletion_timestamp and "DaemonSet" not in _owner_kinds(p))
    if system:
        return f"runs the cluster's own {', '.join(system)}"
    _, refused = drain_plan(pods_on_node)
    if refused:
        return refused[0]
    pool = (node.metadata.labels or {}).get(POOL_LABEL)
    others = [n for n in nodes if n.metadata.name != node.metadata.name and not n.spec.unschedulable
              and not is_control_plane(n) and (n.metadata.labels or {}).get(POOL_LABEL) == pool]
    if not others:
        return f"the only schedulable node of pool {pool or '(none)'}"
    return None


def choose_node_to_drain(nodes: Sequence[client.V1Node], pods: Sequence[client.V1Pod], namespace: str,
                         selector: dict[str, str], pool: str | None = None) -> str:
    """The node maintenance would hurt most: most pods matching ``selector`` in ``namespace`` (nodes of
    ``pool`` first), among those :func:`why_not_drain` allows. Ties go to the first name in order."""
    by_node: dict[str, list[client.V1Pod]] = {}
    for p in pods:
        if p.spec.node_name:
            by_node.setdefault(p.spec.node_name, []).append(p)
    ours = Counter(p.spec.node_name for p in pods if p.spec.node_name and p.metadata.namespace == namespace
                   and not p.metadata.deletion_timestamp
                   and all((p.metadata.labels or {}).get(k) == v for k, v in selector.items()))
    if not ours:
        raise ValueError(f"no scheduled pods match {selector} in {namespace}")
    reasons = {n.metadata.name: why_not_drain(n, by_node.get(n.metadata.name, []), nodes)
               for n in nodes if n.metadata.name in ours}
    allowed = sorted(name for name, why in reasons.items() if why is None)
    if not allowed:
        listed = "; ".join(f"{name}: {why}" for name, why in sorted(reasons.items()))
        raise DrainRefused(f"no node running these pods can be drained safely ({listed}).",
                           "scale the Deployment up so its pods reach more workers, or use the default fleet "
                           "(`scalelab up`)")
    pools = {n.metadata.name: (n.metadata.labels or {}).get(POOL_LABEL) for n in nodes}
    preferred = [n for n in allowed if pools.get(n) == pool] or allowed
    return min(preferred, key=lambda n: (-ours[n], n))


def busiest_node(api: client.ApiClient, namespace: str, selector: str, pool: str | None = None) -> str:
    """The node running most pods of ``selector`` (preferring nodes of ``pool``) that may be drained safely:
    what maintenance would hurt most (see :func:`choose_node_to_drain`)."""
    core = client.CoreV1Api(api)
    labels = dict(term.split("=", 1) for term in selector.split(","))
    return choose_node_to_drain(core.list_node().items, core.list_pod_for_all_namespaces().items,
                                namespace, labels, pool)
