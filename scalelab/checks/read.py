"""Reading helpers for checks: fetch an object or say plainly that it is missing.

Every helper raises :class:`~scalelab.checks.core.Wrong` with the kind, name
and namespace of what it could not find, so a learner who has not applied a
file yet is told exactly that.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kubernetes import client
from kubernetes.utils.quantity import parse_quantity

from scalelab.checks.core import Wrong


def quantity(value: Any) -> Decimal | None:
    """'250m' → 0.25, '64Mi' → 67108864, None → None (an unset field)."""
    if value is None or value == "":
        return None
    return parse_quantity(str(value))


def millicores(value: Any) -> int | None:
    q = quantity(value)
    return None if q is None else int(q * 1000)


def mebibytes(value: Any) -> int | None:
    q = quantity(value)
    return None if q is None else int(q / (1024 * 1024))


def _read(reader, kind: str, name: str, namespace: str, fix: str) -> Any:
    try:
        return reader(name, namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            raise Wrong(f"there is no {kind} '{name}' in namespace {namespace}. {fix}") from None
        raise


def deployment(lab: Any, name: str = "stream-api", fix: str = "") -> client.V1Deployment:
    return _read(client.AppsV1Api(lab.api).read_namespaced_deployment, "Deployment", name, lab.namespace,
                 fix or "Apply your file with the cell above.")


def hpa(lab: Any, name: str = "stream-api", fix: str = "") -> client.V2HorizontalPodAutoscaler:
    return _read(client.AutoscalingV2Api(lab.api).read_namespaced_horizontal_pod_autoscaler,
                 "HorizontalPodAutoscaler", name, lab.namespace, fix or "Apply hpa.yaml with the cell above.")


def container(dep: client.V1Deployment, name: str = "stream-api") -> client.V1Container:
    for c in dep.spec.template.spec.containers:
        if c.name == name:
            return c
    raise Wrong(f"Deployment {dep.metadata.name} has no container named '{name}' "
                f"(found: {', '.join(c.name for c in dep.spec.template.spec.containers)}). "
                "Keep the container's name as it was.")


def requests_and_limits(c: client.V1Container) -> tuple[dict[str, str], dict[str, str]]:
    """A container's resources.requests and resources.limits, empty where unset."""
    res = c.resources
    return (res.requests or {}) if res else {}, (res.limits or {}) if res else {}


def pods(lab: Any, selector: str = "app=stream-api") -> list[client.V1Pod]:
    """The pods of ``selector`` that are not being deleted."""
    items = client.CoreV1Api(lab.api).list_namespaced_pod(lab.namespace, label_selector=selector).items
    return [p for p in items if not p.metadata.deletion_timestamp]


def only(items: list[Any], kind: str, namespace: str, fix: str) -> Any:
    """The single object of a kind in the namespace (a LimitRange, a ResourceQuota, a PDB)."""
    if not items:
        raise Wrong(f"there is no {kind} in namespace {namespace}. {fix}")
    if len(items) > 1:
        names = ", ".join(i.metadata.name for i in items)
        raise Wrong(f"namespace {namespace} has {len(items)} {kind}s ({names}); keep exactly one, so it is "
                    f"clear which one applies: `kubectl -n {namespace} delete {kind.lower()} NAME`.")
    return items[0]


def stream_api_pdb(lab: Any) -> client.V1PodDisruptionBudget:
    """The namespace's one PodDisruptionBudget, which must select the stream-api pods."""
    pdbs = client.PolicyV1Api(lab.api).list_namespaced_pod_disruption_budget(lab.namespace).items
    pdb = only(pdbs, "PodDisruptionBudget", lab.namespace, "Apply pdb.yaml.")
    labels = (pdb.spec.selector.match_labels or {}) if pdb.spec.selector else {}
    if labels != {"app": "stream-api"}:
        raise Wrong(f"PodDisruptionBudget {pdb.metadata.name}: spec.selector.matchLabels is {labels or 'empty'}; "
                    "it must select the stream-api pods (app: stream-api), or it protects nothing.")
    return pdb
