"""Reading helpers for checks: fetch an object or say plainly that it is missing.

Every helper raises :class:`~scalelab.checks.core.Wrong` with the kind, name
and namespace of what it could not find, so a learner who has not applied a
file yet is told exactly that.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kubernetes import client
from kubernetes.utils.quantity import parse_quantity

from scalelab.checks.core import Wrong
from scalelab.names import POOL_LABEL


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


@dataclass(frozen=True)
class Resources:
    """A container's requests and limits as its pods get them, and where each value came from."""

    requests: dict[str, Decimal]
    limits: dict[str, Decimal]
    source: dict[str, str]  # "requests.cpu" -> "resources.requests.cpu", "resources.limits.cpu" or "LimitRange NAME"

    def millicores(self, kind: str) -> int | None:
        value = getattr(self, kind).get("cpu")
        return None if value is None else int(value * 1000)

    def mebibytes(self, kind: str) -> int | None:
        value = getattr(self, kind).get("memory")
        return None if value is None else int(value / (1024 * 1024))

    def text(self, field: str) -> str:
        """'requests.cpu' → '200m', with where it came from when the container did not set it itself."""
        kind, res = field.split(".")
        value = getattr(self, kind).get(res)
        if value is None:
            return "not set"
        shown = f"{int(value * 1000)}m" if res == "cpu" else f"{value / (1024 * 1024):g}Mi"
        source = self.source.get(field, "")
        return shown if source == f"resources.{field}" else f"{shown} (from {source})"


def effective_resources(lab: Any, c: client.V1Container) -> Resources:
    """What a pod of this container gets, as the API server fills it in.

    Pod defaulting first: a limit without a request makes the request equal to
    the limit (on Pods only, so a Deployment's template still shows it unset).
    Then the LimitRanger admission plugin: whatever is still unset comes from
    the namespace's LimitRanges of type Container (``default`` for limits,
    ``defaultRequest`` for requests), the first one that sets it.
    """
    req, lim = requests_and_limits(c)
    requests = {k: quantity(v) for k, v in req.items() if quantity(v) is not None}
    limits = {k: quantity(v) for k, v in lim.items() if quantity(v) is not None}
    source = {f"requests.{k}": f"resources.requests.{k}" for k in requests}
    source.update({f"limits.{k}": f"resources.limits.{k}" for k in limits})
    for k, v in limits.items():
        if k not in requests:
            requests[k], source[f"requests.{k}"] = v, f"resources.limits.{k}"
    ranges = client.CoreV1Api(lab.api).list_namespaced_limit_range(lab.namespace).items
    for lr in ranges:
        for item in lr.spec.limits or []:
            if item.type != "Container":
                continue
            for values, target, kind in ((item.default, limits, "limits"),
                                         (item.default_request, requests, "requests")):
                for k, v in (values or {}).items():
                    if k not in target and quantity(v) is not None:
                        target[k], source[f"{kind}.{k}"] = quantity(v), f"LimitRange {lr.metadata.name}"
    return Resources(requests, limits, source)


def selects(selector: Any, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (``matchLabels`` and ``matchExpressions``) selects an object with ``labels``.

    An absent selector selects nothing; an empty one selects everything.
    """
    if selector is None:
        return False
    for key, value in (getattr(selector, "match_labels", None) or {}).items():
        if labels.get(key) != value:
            return False
    for expr in getattr(selector, "match_expressions", None) or []:
        values = expr.values or []
        if expr.operator == "In" and labels.get(expr.key) not in values:
            return False
        if expr.operator == "NotIn" and expr.key in labels and labels[expr.key] in values:
            return False
        if expr.operator == "Exists" and expr.key not in labels:
            return False
        if expr.operator == "DoesNotExist" and expr.key in labels:
            return False
    return True


def describe_selector(selector: Any) -> str:
    """A selector as `kubectl get -l` would take it: 'app=stream-api', 'app in (stream-api)'; 'nothing' if absent."""
    if selector is None:
        return "nothing (no selector)"
    terms = [f"{k}={v}" for k, v in (selector.match_labels or {}).items()]
    for e in selector.match_expressions or []:
        if e.operator in ("In", "NotIn"):
            terms.append(f"{e.key} {e.operator.lower()} ({', '.join(e.values or [])})")
        else:
            terms.append(e.key if e.operator == "Exists" else f"!{e.key}")
    return ",".join(terms) or "everything (an empty selector)"


def stream_api_selector_problem(selector: Any, what: str, pod_labels: dict[str, str] | None = None) -> str | None:
    """Why ``selector`` does not pick out exactly the stream-api pods, or None when it does.

    Judged by what it selects (the pods' labels: ``pod_labels``, the Deployment's
    template labels when known), so matchLabels and matchExpressions that mean
    the same are both right.
    """
    if not selects(selector, pod_labels or STREAM_API_LABELS):
        return (f"{what} is {describe_selector(selector)}: it does not select the stream-api pods (labels "
                "app: stream-api)")
    if selects(selector, {"app": "another-service"}):
        return (f"{what} is {describe_selector(selector)}: it selects other services' pods as well as the "
                "stream-api ones; select app: stream-api only")
    return None


STREAM_API_LABELS = {"app": "stream-api"}


def scaled(value: Any, total: int, round_up: bool) -> int:
    """An int-or-percent field as Kubernetes resolves it against ``total`` (e.g. '25%' of 4 → 1)."""
    text = str(value)
    if text.endswith("%"):
        share = total * int(text[:-1]) / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(text)


def pools(nodes: dict[str, dict[str, str]]) -> set[str]:
    """The pools (``scalelab.dev/pool``) of some nodes, given as {name: labels}."""
    return {labels[POOL_LABEL] for labels in nodes.values() if POOL_LABEL in labels}


def nodes_allowed(spec: client.V1PodSpec, nodes: dict[str, dict[str, str]], affinity: bool = True
                  ) -> dict[str, dict[str, str]]:
    """The nodes ({name: labels}) a pod with ``spec`` may be scheduled on, by its nodeSelector and (unless
    ``affinity`` is False) its required node affinity, as the scheduler decides it."""
    allowed = {n: labels for n, labels in nodes.items()
               if all(labels.get(k) == v for k, v in (spec.node_selector or {}).items())}
    required = (affinity and spec.affinity and spec.affinity.node_affinity
                and spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution)
    if required:
        allowed = {n: labels for n, labels in allowed.items()
                   if any(_term_matches(t, n, labels) for t in required.node_selector_terms or [])}
    return allowed


def _term_matches(term: client.V1NodeSelectorTerm, name: str, labels: dict[str, str]) -> bool:
    """A required node-affinity term against one node: its expressions and fields all hold (terms are ORed;
    an empty term matches nothing)."""
    checks = [(e, labels.get(e.key), e.key in labels) for e in term.match_expressions or []]
    checks += [(f, name, True) for f in term.match_fields or [] if f.key == "metadata.name"]
    if not checks or len(checks) < len(term.match_expressions or []) + len(term.match_fields or []):
        return False
    for req, value, present in checks:
        values = req.values or []
        if req.operator == "In" and (not present or value not in values):
            return False
        if req.operator == "NotIn" and present and value in values:
            return False
        if req.operator == "Exists" and not present:
            return False
        if req.operator == "DoesNotExist" and present:
            return False
        if req.operator in ("Gt", "Lt"):
            try:
                have, bound = int(value), int(values[0])
            except (TypeError, ValueError, IndexError):
                return False
            if (req.operator == "Gt" and not have > bound) or (req.operator == "Lt" and not have < bound):
                return False
    return True


def fingerprint(api: client.ApiClient, *objects: Any) -> str:
    """A short digest of objects (specs): equal digests mean a check would judge the same thing."""
    body = json.dumps([api.sanitize_for_serialization(o) for o in objects], sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


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
    """The namespace's one PodDisruptionBudget, which must select the stream-api pods (and only them)."""
    pdbs = client.PolicyV1Api(lab.api).list_namespaced_pod_disruption_budget(lab.namespace).items
    pdb = only(pdbs, "PodDisruptionBudget", lab.namespace, "Apply pdb.yaml.")
    try:
        labels = deployment(lab).spec.template.metadata.labels
    except Wrong:
        labels = None  # no Deployment yet: judge against the labels the lab's files give the pods
    problem = stream_api_selector_problem(pdb.spec.selector, f"PodDisruptionBudget {pdb.metadata.name}: spec.selector",
                                          labels)
    if problem:
        raise Wrong(f"{problem}. A budget must select the stream-api pods (app: stream-api), or it protects nothing.")
    return pdb


def disruptions_allowed(pdb: client.V1PodDisruptionBudget, expected: int) -> tuple[int, str]:
    """(pods a drain may take at once, the field that says so) with ``expected`` pods, as the disruption
    controller computes it: percentages of minAvailable and of maxUnavailable both round up."""
    if pdb.spec.min_available is not None:
        return max(0, expected - scaled(pdb.spec.min_available, expected, round_up=True)), \
            f"minAvailable {pdb.spec.min_available}"
    if pdb.spec.max_unavailable is not None:
        return min(expected, scaled(pdb.spec.max_unavailable, expected, round_up=True)), \
            f"maxUnavailable {pdb.spec.max_unavailable}"
    raise Wrong(f"PodDisruptionBudget {pdb.metadata.name} sets neither minAvailable nor maxUnavailable.")
