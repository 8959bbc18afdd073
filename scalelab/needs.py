"""What each lesson and lab needs from the cluster, and whether the cluster has it.

A notebook started on a cluster too small for it fails late and misleadingly: a
wait times out halfway, or a lab check blames the learner's answer for pods
that are Pending only because the cluster has no cloud pool. So the first cell
(:meth:`scalelab.lesson.Lesson.start`, which ``Lab.start`` calls) looks the
notebook's namespace up in :data:`NEEDS` and compares it with the cluster's
shape: pools, zones, schedulable nodes, free allocatable CPU. ``scalelab
doctor`` runs the same comparison for every notebook at once.

The table is declarative, and its CPU figures are read from the manifests the
notebooks apply (requests times replicas, or times an HPA's ``maxReplicas``), so
a change of a request or a replica count in a manifest changes the need with
it. The judgement works on plain dicts as the API serves them (``kubectl get
nodes -o json``), so it is unit-tested without a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from scalelab import k8s, paths
from scalelab.errors import ClusterShapeError
from scalelab.names import POOL_LABEL, ZONE_LABEL

__all__ = ["NEEDS", "ClusterShape", "Needs", "NodeShape", "Workload", "check", "check_all", "read_shape", "shape_of", "shortfalls", "unmet"]

FLEET_FIX = {
    "kwok": "`scalelab down && scalelab up --provider kwok` (the default fleet: on-prem and cloud pools in three zones)",
    "other": "`scalelab down && scalelab up` (the default fleet: on-prem and cloud pools in three zones)",
}


@dataclass(frozen=True)
class Workload:
    """The pods a notebook runs at its peak: the Deployment in ``manifest``, ``replicas`` times.

    ``replicas`` is the manifest's own ``spec.replicas`` when None, or the
    ``maxReplicas`` of the HorizontalPodAutoscaler in the file it names (the
    most the HPA may ask for). A ``nodeSelector`` on the pool label in the
    manifest makes the need one of that pool. Paths are from the project root.
    """

    manifest: str
    replicas: int | str | None = None

    def _deployment(self) -> dict[str, Any]:
        docs = k8s.load_manifests(paths.project_root() / self.manifest)
        return next(d for d in docs if d.get("kind") == "Deployment")

    def pods(self) -> int:
        if isinstance(self.replicas, int):
            return self.replicas
        if isinstance(self.replicas, str):
            docs = k8s.load_manifests(paths.project_root() / self.replicas)
            return int(next(d for d in docs if d.get("kind") == "HorizontalPodAutoscaler")["spec"]["maxReplicas"])
        return int(self._deployment()["spec"].get("replicas", 1))

    def pool(self) -> str | None:
        return (self._deployment()["spec"]["template"]["spec"].get("nodeSelector") or {}).get(POOL_LABEL)

    def cpu_m(self) -> float:
        return self.pods() * pod_request_m(self._deployment()["spec"]["template"])


@dataclass(frozen=True)
class Needs:
    """What one notebook needs. ``why`` says, in a few words, what uses the pools and nodes."""

    namespace: str  # the one its first cell creates: lesson-00 … lesson-05, lab-1 … lab-4
    pools: tuple[str, ...] = ()
    zones: int = 0  # distinct zones among schedulable nodes
    nodes: int = 1  # schedulable nodes (a drain needs somewhere to move pods to)
    workloads: tuple[Workload, ...] = ()
    why: str = ""

    @property
    def title(self) -> str:
        """How messages name the notebook: 'lab 4', 'lesson 05'."""
        return self.namespace.replace("-", " ")

    def cpu_m(self) -> dict[str | None, float]:
        """Millicores of requests at the peak, by pool (None: any pool)."""
        total: dict[str | None, float] = {}
        for w in self.workloads:
            total[w.pool()] = total.get(w.pool(), 0.0) + w.cpu_m()
        return total


# What each notebook needs, by the namespace its first cell creates. CPU comes from
# the manifests (see Workload); the rest is what the notebook's steps rely on.
NEEDS: dict[str, Needs] = {n.namespace: n for n in (
    Needs("lesson-00", workloads=(Workload("manifests/stream-api.yaml"),)),
    Needs("lesson-01", workloads=(Workload("manifests/stream-api.yaml", 6),)),  # the 18:00 schedule's 6 pods
    # Its peak is section 1's encoder, 6 pods × 500m (later steps run fewer pods); it adapts to the pools it finds.
    Needs("lesson-02", workloads=(Workload("manifests/encoder.yaml"),)),
    Needs("lesson-03", workloads=(Workload("manifests/stream-api-autoscaled.yaml", "manifests/stream-api-hpa.yaml"),)),
    Needs("lesson-04", workloads=(Workload("manifests/rollout/stream-api-v1.yaml"),)),
    Needs("lesson-05", pools=("cloud",), nodes=2, why="it drains the busiest cloud node mid-spike",
          workloads=(Workload("manifests/stream-api-autoscaled.yaml", "manifests/stream-api-hpa.yaml"),)),
    Needs("lab-1", pools=("cloud",), why="its fit task places 12 pods in the cloud pool",
          workloads=(Workload("labs/solutions/01-right-size/deployment.yaml"),)),
    Needs("lab-2", workloads=(Workload("labs/solutions/02-viral-spike/deployment.yaml",
                                       "labs/solutions/02-viral-spike/hpa.yaml"),)),
    Needs("lab-3", workloads=(Workload("labs/solutions/03-ship-v2/deployment.yaml"),)),
    Needs("lab-4", pools=("onprem", "cloud"), zones=2, nodes=2,
          why="it spreads pods over pools and zones, then drains a node",
          workloads=(Workload("labs/solutions/04-spread/deployment.yaml"),)),
)}


# --- the cluster's shape, from plain dicts -------------------------------------------------

@dataclass(frozen=True)
class NodeShape:
    name: str
    pool: str | None
    zone: str | None
    schedulable: bool
    free_m: float  # allocatable CPU minus the requests of the pods counted on it


@dataclass(frozen=True)
class ClusterShape:
    nodes: tuple[NodeShape, ...]
    held_by_tutorials_m: float = 0.0  # CPU requested by other lessons' and labs' namespaces

    @property
    def schedulable(self) -> list[NodeShape]:
        return [n for n in self.nodes if n.schedulable]

    def pools(self) -> list[str]:
        return sorted({n.pool for n in self.schedulable if n.pool})

    def zones(self) -> list[str]:
        return sorted({n.zone for n in self.schedulable if n.zone})

    def free_m(self, pool: str | None = None) -> float:
        return sum(n.free_m for n in self.schedulable if pool is None or n.pool == pool)

    def describe(self) -> str:
        """'1 schedulable node (pool laptop, no zone), 1.1 CPUs free': what the learner's cluster has."""
        count = len(self.schedulable)
        pools = ", ".join(self.pools()) or "none"
        zones = ", ".join(self.zones())
        where = f"pool{'s' if len(self.pools()) > 1 else ''} {pools}; " + (
            f"zone{'s' if len(self.zones()) > 1 else ''} {zones}" if zones else "no zone")
        return f"{count} schedulable node{'' if count == 1 else 's'} ({where}), {cpus(self.free_m())} CPUs free"


def cpus(millicores: float) -> str:
    return f"{millicores / 1000:.1f}"


def pod_request_m(pod_spec_holder: Mapping[str, Any]) -> float:
    """CPU a pod reserves, as the scheduler counts it: its containers' requests, or its largest init container's."""
    spec = pod_spec_holder.get("spec") or {}

    def request(c: Mapping[str, Any]) -> float:
        return k8s.cpu_millicores(((c.get("resources") or {}).get("requests") or {}).get("cpu"))

    running = sum(request(c) for c in spec.get("containers") or [])
    init = max((request(c) for c in spec.get("initContainers") or []), default=0.0)
    return max(running, init)


def node_schedulable(node: Mapping[str, Any]) -> bool:
    """Ready, not cordoned, and without a taint that keeps ordinary pods off (a kind fleet's control plane)."""
    spec, status = node.get("spec") or {}, node.get("status") or {}
    if spec.get("unschedulable"):
        return False
    if any(t.get("effect") in ("NoSchedule", "NoExecute") for t in spec.get("taints") or []):
        return False
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    return all(c.get("status") == "True" for c in ready)


def shape_of(nodes: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]],
             skip_namespaces: Iterable[str] = (), tutorial_namespaces: Iterable[str] = ()) -> ClusterShape:
    """The cluster's shape from `kubectl get nodes,pods -A -o json` items.

    Pods in ``skip_namespaces`` are not counted (the notebook's own namespace,
    which its first cell recreates anyway). CPU held by pods in the other
    ``tutorial_namespaces`` is totalled, so the fix can say `scalelab reset`.
    """
    skip, tutorials = set(skip_namespaces), set(tutorial_namespaces)
    used: dict[str, float] = {}
    held = 0.0
    for pod in pods:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        if meta.get("namespace") in skip or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        node = spec.get("nodeName")
        if node:
            request = pod_request_m(pod)
            used[node] = used.get(node, 0.0) + request
            if meta.get("namespace") in tutorials:
                held += request
    shapes = []
    for node in nodes:
        meta = node.get("metadata") or {}
        labels = meta.get("labels") or {}
        allocatable = k8s.cpu_millicores(((node.get("status") or {}).get("allocatable") or {}).get("cpu"))
        shapes.append(NodeShape(meta.get("name", "?"), labels.get(POOL_LABEL), labels.get(ZONE_LABEL),
                                node_schedulable(node), allocatable - used.get(meta.get("name"), 0.0)))
    return ClusterShape(tuple(shapes), held)


def read_shape(api: Any, skip_namespaces: Iterable[str] = ()) -> ClusterShape:
    """:func:`shape_of` for the cluster behind ``api`` (a kubernetes ApiClient): every node and pod, as dicts."""
    from kubernetes import client

    from scalelab.cluster.base import tutorial_namespaces

    core = client.CoreV1Api(api)
    nodes = [api.sanitize_for_serialization(n) for n in core.list_node().items]
    pods = [api.sanitize_for_serialization(p) for p in core.list_pod_for_all_namespaces().items]
    return shape_of(nodes, pods, skip_namespaces, tutorial_namespaces(api))


# --- the judgement ---------------------------------------------------------------------------

def shortfalls(needs: Needs, shape: ClusterShape) -> tuple[list[str], list[str]]:
    """(missing structure, missing CPU), each as phrases: 'the cloud pool', '2.4 CPUs free in the cloud pool'."""
    structure = []
    missing_pools = [p for p in needs.pools if p not in shape.pools()]
    if missing_pools:
        structure.append(f"the {' and '.join(missing_pools)} pool{'s' if len(missing_pools) > 1 else ''}")
    if len(shape.zones()) < needs.zones:
        structure.append(f"{needs.zones} zones")
    if len(shape.schedulable) < needs.nodes:
        structure.append(f"{needs.nodes} schedulable nodes")
    cpu = []
    for pool, want in sorted(needs.cpu_m().items(), key=lambda kv: kv[0] or ""):
        if pool is not None and pool in missing_pools:
            continue  # already named: a pool that is not there has no CPU either
        have = shape.free_m(pool)
        if have < want:
            cpu.append(f"{cpus(want)} CPUs free in the {pool} pool (it has {cpus(have)})" if pool
                       else f"{cpus(want)} CPUs free")
    return structure, cpu


def fix_for(structure: list[str], shape: ClusterShape, provider: str) -> str:
    """Recreate as the default fleet, unless free CPU is all that is missing and other lessons hold it."""
    if not structure and shape.held_by_tutorials_m > 0:
        return (f"`scalelab reset` (other lessons' and labs' namespaces hold {cpus(shape.held_by_tutorials_m)} "
                "CPUs), then re-run this cell")
    return FLEET_FIX.get(provider, FLEET_FIX["other"])


def unmet(needs: Needs, shape: ClusterShape) -> str | None:
    """'lab 4 needs the cloud pool and 2 zones (why)', or None when the cluster gives everything."""
    structure, cpu = shortfalls(needs, shape)
    missing = structure + cpu
    if not missing:
        return None
    listed = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
    why = f" ({needs.why})" if structure and needs.why else ""
    return f"{needs.title} needs {listed}{why}"


def check(needs: Needs, shape: ClusterShape, provider: str) -> ClusterShapeError | None:
    """The error to raise (one line: what is missing, what the cluster has, the fix), or None if it fits."""
    problem = unmet(needs, shape)
    if problem is None:
        return None
    structure, _ = shortfalls(needs, shape)
    return ClusterShapeError(f"{problem}; this cluster has {shape.describe()}.", fix_for(structure, shape, provider))


def check_all(shape: ClusterShape, provider: str) -> tuple[list[str], str]:
    """Every notebook at once, for `scalelab doctor`: (what each one that cannot run needs, the fix)."""
    problems = [p for p in (unmet(n, shape) for n in NEEDS.values()) if p]
    structure = [s for n in NEEDS.values() for s in shortfalls(n, shape)[0]]
    return problems, (fix_for(structure, shape, provider) if problems else "")
