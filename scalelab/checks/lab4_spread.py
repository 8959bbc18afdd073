"""Lab 4: spread the stream API across pools and zones so losing a node keeps it serving.

The "drain" check does what maintenance would: it drains the node running the
most stream-api pods among those it may take (never the control plane, a node
running the cluster's own services, or the last node of a pool: see
``k8s.choose_node_to_drain``), through the Eviction API so the
PodDisruptionBudget is honoured; it watches the ready count meanwhile, checks
where the replacements landed, and uncordons the node again whatever happened.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from kubernetes import client

from scalelab import k8s
from scalelab.checks import read, settle
from scalelab.checks.core import LabSpec, Task, Wrong, unless_unreadable
from scalelab.errors import WaitTimeout
from scalelab.checks.lab3_ship_v2 import ReadyFloor
from scalelab.names import POOL_LABEL, ZONE_LABEL
from scalelab.wait import wait_for

REPLICAS = 6
FLOOR = 5  # at most one pod down while a node is drained
POOLS = ("onprem", "cloud")


def _nodes(lab: Any) -> dict[str, dict[str, str]]:
    return {n.metadata.name: n.metadata.labels or {} for n in client.CoreV1Api(lab.api).list_node().items}


def _placement(lab: Any) -> tuple[Counter, Counter, list[str]]:
    """Pods per pool, pods per zone, and pending pods."""
    nodes = _nodes(lab)
    pools, zones, pending = Counter(), Counter(), []
    for pod in read.pods(lab):
        if not pod.spec.node_name:
            pending.append(pod.metadata.name)
            continue
        labels = nodes.get(pod.spec.node_name, {})
        pools[labels.get(POOL_LABEL, "?")] += 1
        zones[labels.get(ZONE_LABEL, "?")] += 1
    return pools, zones, pending


def check_spread(lab: Any) -> str:
    dep = read.deployment(lab)
    spec = dep.spec.template.spec
    where = "Deployment stream-api: spec.template.spec"
    if (dep.spec.replicas or 0) != REPLICAS:
        raise Wrong(f"Deployment stream-api: spec.replicas is {dep.spec.replicas}; keep {REPLICAS}.")
    # Which pools may the pods run in at all? Judged on the nodes, so a pool pinned by its label, by a zone,
    # by NotIn or by a node name is caught alike.
    nodes = _nodes(lab)
    all_pools = read.pools(nodes)
    by_selector = read.pools(read.nodes_allowed(spec, nodes, affinity=False))
    if len(by_selector) < len(all_pools):
        only = ", ".join(sorted(by_selector)) or "no"
        raise Wrong(f"{where}.nodeSelector {spec.node_selector} pins every pod to the {only} pool: losing that "
                    "pool is an outage. Remove the nodeSelector.")
    allowed = read.pools(read.nodes_allowed(spec, nodes))
    if len(allowed) < len(all_pools):
        only = ", ".join(sorted(allowed)) or "no"
        raise Wrong(f"{where}.affinity.nodeAffinity.requiredDuringScheduling… allows only the {only} pool: "
                    "everything lands in one pool. Remove it or let it match both pools.")
    constraints = spec.topology_spread_constraints or []
    by_key = {c.topology_key: c for c in constraints}
    pool = by_key.get(POOL_LABEL)
    if pool is None:
        keys = ", ".join(by_key) or "none"
        raise Wrong(f"{where}.topologySpreadConstraints has no constraint with topologyKey {POOL_LABEL} (found: "
                    f"{keys}); spreading over hostnames alone can still put every pod in one pool.")
    problem = read.stream_api_selector_problem(
        pool.label_selector, f"{where}.topologySpreadConstraints[{POOL_LABEL}].labelSelector",
        dep.spec.template.metadata.labels if dep.spec.template.metadata else None)
    if problem:
        raise Wrong(f"{problem}. It must select the pods being spread (app: stream-api), or the constraint counts "
                    "nothing.")
    if pool.when_unsatisfiable != "DoNotSchedule":
        raise Wrong(f"{where}.topologySpreadConstraints[{POOL_LABEL}].whenUnsatisfiable is "
                    f"{pool.when_unsatisfiable}: that is only a preference. Use DoNotSchedule.")
    if pool.max_skew > 1:
        raise Wrong(f"{where}.topologySpreadConstraints[{POOL_LABEL}].maxSkew is {pool.max_skew}: the pools may "
                    f"differ by that many pods ({REPLICAS} replicas could be {REPLICAS - pool.max_skew // 2}/"
                    f"{pool.max_skew // 2}). Use 1.")
    if ZONE_LABEL not in by_key:
        raise Wrong(f"{where}.topologySpreadConstraints has no constraint on {ZONE_LABEL}: within the cloud pool "
                    "the pods could still share one zone. Add one (whenUnsatisfiable: ScheduleAnyway, since the "
                    "on-prem pool is a single zone).")
    settle.rollout(lab, timeout=45, until_unschedulable=True)
    pools, zones, pending = _placement(lab)
    if pending:
        raise Wrong(f"{len(pending)} pods are Pending: the constraints cannot all be met at once "
                    "(`kubectl describe pod` shows FailedScheduling). A hard zone constraint fights the pool one; "
                    "make the zone constraint ScheduleAnyway.")
    limit = math.ceil(REPLICAS / len(POOLS))
    if any(pools.get(p, 0) == 0 for p in POOLS) or max(pools.values()) > limit:
        raise Wrong(f"pods per pool: {dict(pools)}; expected {limit} in each. If the rollout has finished, the "
                    "old revision's pods were counted against the new ones while it ran: add matchLabelKeys: "
                    "[pod-template-hash] to the constraints, apply, and check again.")
    return f"pods per pool {dict(sorted(pools.items()))}, per zone {dict(sorted(zones.items()))}"


def check_pdb(lab: Any) -> str:
    pdb = read.stream_api_pdb(lab)
    allowed_down, field = read.disruptions_allowed(pdb, REPLICAS)
    if allowed_down < 1:
        raise Wrong(f"PodDisruptionBudget {pdb.metadata.name}: {field} forbids every eviction (with {REPLICAS} pods "
                    "it allows 0 down; percentages round up): a drain would hang forever. Allow one pod down.")
    if REPLICAS - allowed_down < FLOOR:
        raise Wrong(f"PodDisruptionBudget {pdb.metadata.name}: {field} lets a drain take {allowed_down} pods at once "
                    f"(of {REPLICAS}; percentages round up); the floor is {FLOOR}. Allow exactly 1 pod down so at "
                    f"least {FLOOR} keep serving.")
    return f"{field}: one stream-api pod at most may be evicted at a time"


def check_drain(lab: Any) -> str:
    """Drain the busiest node for real, then judge: served throughout, and replacements still spread."""
    check_spread(lab)
    check_pdb(lab)
    node = k8s.busiest_node(lab.api, lab.namespace, "app=stream-api")
    try:
        with ReadyFloor(lab.api, lab.namespace, "app=stream-api") as floor:
            try:
                evicted = k8s.drain(lab.api, node, timeout=60)
            except TimeoutError as exc:
                raise Wrong(f"draining {node} did not finish: {exc}. The PodDisruptionBudget must allow one "
                            "eviction at a time.") from None

            def back() -> tuple[bool, str]:
                ready = sum(1 for p in read.pods(lab) if k8s.pod_is_ready(p) and p.spec.node_name != node)
                return ready >= REPLICAS, f"{ready} ready elsewhere"

            try:
                wait_for(back, f"{REPLICAS} ready pods after draining {node}", 60)
            except WaitTimeout as exc:
                unless_unreadable(exc)
                pools, _, pending = _placement(lab)
                raise Wrong(f"after draining {node}, {len(pending)} replacement pods stayed Pending (pods per "
                            f"pool: {dict(pools)}). `kubectl describe pod` says why.") from None
        if floor.lowest is not None and floor.lowest < FLOOR:
            raise Wrong(f"while {node} was drained, ready pods fell to {floor.lowest} (floor {FLOOR}).")
        pools, _, _ = _placement(lab)
        if any(pools.get(p, 0) == 0 for p in POOLS):
            raise Wrong(f"after the drain every pod is in one pool ({dict(pools)}).")
        return (f"drained {node}: {len(evicted)} pods moved, never fewer than {floor.lowest} ready; "
                "still in both pools")
    finally:
        k8s.cordon(lab.api, node, unschedulable=False)


def judged_by_drain(lab: Any) -> str:
    """What the drain check depends on: the Deployment's spec and the PodDisruptionBudget's."""
    pdbs = client.PolicyV1Api(lab.api).list_namespaced_pod_disruption_budget(lab.namespace).items
    return read.fingerprint(lab.api, read.deployment(lab).spec, [p.spec for p in pdbs])


SPEC = LabSpec(
    number=4, folder="04-spread", title="Spread across the fleet",
    starting_state="04-as-found.yaml",
    tasks=(
        Task("spread", "pods spread across pools and zones", check_spread,
             ("topologySpreadConstraints spread pods over the values of a node label; the pool label is "
              f"{POOL_LABEL}, the zone label {ZONE_LABEL}.",
              f"Remove the nodeSelector; add topologySpreadConstraints: {{maxSkew: 1, topologyKey: {POOL_LABEL}, "
              "whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: stream-api}}}, and the same "
              f"on {ZONE_LABEL} with whenUnsatisfiable: ScheduleAnyway."), ("deployment.yaml",)),
        Task("pdb", "a PodDisruptionBudget for maintenance", check_pdb,
             ("A drain evicts pods through the Eviction API, which asks the PodDisruptionBudget first.",
              "pdb.yaml: spec.maxUnavailable: 1, spec.selector.matchLabels: {app: stream-api}."), ("pdb.yaml",)),
        Task("drain", "keep serving while a node is drained", check_drain,
             ("This check drains the worker with the most stream-api pods; spread and pdb must pass first.",
              "Get 'spread' and 'pdb' to pass, then check again."), ("deployment.yaml", "pdb.yaml"),
             fingerprint=judged_by_drain),
    ),
)
