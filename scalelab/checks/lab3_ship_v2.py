"""Lab 3: ship v2 without dropping a request, then catch a broken v3 and roll back.

:func:`ship` changes the release (`kubectl set env deployment/stream-api
STREAM_API_VERSION=vN`) while a watch counts ready pods, and remembers the
lowest count seen during the rollout, so the check can tell whether
availability ever fell below the floor.
"""

from __future__ import annotations

import threading
from typing import Any

from kubernetes import client

from scalelab import k8s
from scalelab.checks import read, settle
from scalelab.checks.core import LabSpec, Task, Wrong, unless_unreadable
from scalelab.errors import WaitTimeout
from scalelab.wait import wait_for
from scalelab.watch import Informer

REPLICAS = 4
FLOOR = 3  # ready pods the service needs to carry its traffic
MAX_DEADLINE = 60  # progressDeadlineSeconds: a broken release must be reported within a minute
VERSION_ENV = "STREAM_API_VERSION"
BROKEN_POOL = "clod"  # v3's typo: no node has this pool, so its pods stay Pending


class ReadyFloor:
    """Counts ready, non-terminating pods of a selector on every watch event and keeps the minimum."""

    def __init__(self, api: client.ApiClient, namespace: str, selector: str) -> None:
        self.informer = Informer(client.CoreV1Api(api).list_namespaced_pod, namespace=namespace,
                                 label_selector=selector, name="ready-floor")
        self.lowest: int | None = None
        self._lock = threading.Lock()
        self.informer.add_listener(self._seen)

    def _ready(self) -> int:
        return sum(1 for p in self.informer.snapshot() if k8s.pod_is_ready(p))

    def _seen(self, _kind: str, _obj: Any) -> None:
        if not self.informer.synced.is_set():
            return
        with self._lock:
            now = self._ready()
            self.lowest = now if self.lowest is None else min(self.lowest, now)

    def __enter__(self) -> "ReadyFloor":
        self.informer.start()
        self.informer.wait_synced(30)
        self.lowest = self._ready()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.informer.stop()


def _version(dep: client.V1Deployment) -> str | None:
    for env in read.container(dep).env or []:
        if env.name == VERSION_ENV:
            return env.value
    return None


def ship(lab: Any, version: str, timeout: float = 90) -> dict[str, Any]:
    """Release ``version``: `kubectl set env deployment/stream-api STREAM_API_VERSION=<version>`, watched.

    v3 is the broken release (its pods ask for a pool that does not exist). Waits
    until the rollout finishes or the Deployment reports that it stopped
    progressing, prints what `kubectl rollout status` would, and records the
    lowest number of ready pods seen meanwhile.
    """
    apps = client.AppsV1Api(lab.api)
    dep = read.deployment(lab, fix="Apply deployment.yaml first.")
    # What the strategy allows (Recreate: every pod at once); the watch shows what really happened.
    unavailable, strategy = _unavailable(dep)
    allowed = (dep.spec.replicas or 0) - unavailable
    # Without a working readiness probe a new pod counts as ready before it answers: the watch could not see a dip.
    probe_problem = _probe_problem(read.container(dep))
    template: dict[str, Any] = {"spec": {"containers": [{"name": "stream-api",
                                                         "env": [{"name": VERSION_ENV, "value": version}]}]}}
    if version == "v3":
        template["spec"]["nodeSelector"] = {"scalelab.dev/pool": BROKEN_POOL}
    with ReadyFloor(lab.api, lab.namespace, "app=stream-api") as floor:
        apps.patch_namespaced_deployment("stream-api", lab.namespace, {"spec": {"template": template}})

        def finished() -> tuple[bool, str]:
            dep = apps.read_namespaced_deployment("stream-api", lab.namespace)
            conds = {c.type: c for c in (dep.status.conditions or [])}
            prog = conds.get("Progressing")
            if prog is not None and prog.reason == "ProgressDeadlineExceeded":
                return True, "stalled"
            done, summary = k8s.rollout_status(lab.api, lab.namespace, "stream-api")
            return done, summary

        outcome = wait_for(finished, f"the {version} rollout to finish or stall", timeout,
                           fix="look at `kubectl -n lab-3 describe deployment stream-api`")
    record = {"version": version, "lowest_ready": floor.lowest, "allowed_floor": allowed,
              "strategy": strategy, "probe_problem": probe_problem, "stalled": outcome == "stalled"}
    lab.remember(f"ship-{version}", record)
    if record["stalled"]:
        print(f'error: deployment "stream-api" exceeded its progress deadline ({version} is not rolling out)')
    else:
        print(f'deployment "stream-api" successfully rolled out ({version})')
    print(f"lowest number of ready pods during the rollout: {floor.lowest} (floor: {FLOOR})")
    return record


def solve_ship(lab: Any) -> None:
    """Instructor's unblock for ship-v2: the reference deployment (v1), then ship v2."""
    lab.apply(lab.solutions_folder / "deployment.yaml", quiet=True)
    settle.rollout(lab, timeout=60)
    ship(lab, "v2")


def solve_rollback(lab: Any) -> None:
    """Instructor's unblock for rollback: v2 shipped, v3 shipped and stalled, then `kubectl rollout undo`."""
    if _version(read.deployment(lab)) not in ("v2", "v3"):
        solve_ship(lab)
    if lab.recall("ship-v3") is None or _version(read.deployment(lab)) != "v3":
        ship(lab, "v3")
    lab.kubectl("rollout undo deployment/stream-api")
    settle.rollout(lab, timeout=60)


# --- checks --------------------------------------------------------------------------------


def _unavailable(dep: client.V1Deployment) -> tuple[int, str]:
    """(pods a rollout may take away before their replacements are ready, the field that says so).

    As the Deployment controller resolves it: a maxUnavailable percentage rounds
    down and a maxSurge one up; when both come to 0 the controller still takes
    one pod away (it must make progress); Recreate takes every pod.
    """
    replicas = dep.spec.replicas or 0
    s = dep.spec.strategy
    if s.type != "RollingUpdate":
        return replicas, f"strategy.type is {s.type}"
    ru = s.rolling_update
    unavailable_field = ru.max_unavailable if ru and ru.max_unavailable is not None else "25%"
    surge_field = ru.max_surge if ru and ru.max_surge is not None else "25%"
    unavailable = read.scaled(unavailable_field, replicas, round_up=False)
    surge = read.scaled(surge_field, replicas, round_up=True)
    if surge == 0 and unavailable == 0:
        return 1, f"strategy.rollingUpdate.maxSurge is {surge_field} (so the controller takes 1 pod away)"
    return unavailable, f"strategy.rollingUpdate.maxUnavailable is {unavailable_field}"


def check_strategy(lab: Any) -> str:
    dep = read.deployment(lab)
    where = "Deployment stream-api: spec"
    if (dep.spec.replicas or 0) != REPLICAS:
        raise Wrong(f"{where}.replicas is {dep.spec.replicas}; keep {REPLICAS}.")
    s = dep.spec.strategy
    if s.type != "RollingUpdate":
        raise Wrong(f"{where}.strategy.type is {s.type}: Recreate stops every old pod before starting new ones "
                    "(an outage). Use RollingUpdate.")
    ru = s.rolling_update
    surge = ru.max_surge if ru and ru.max_surge is not None else "25%"
    unavailable, field = _unavailable(dep)
    if "maxSurge" in field:
        raise Wrong(f"{where}.{field}: with maxSurge resolving to 0 pods the rollout cannot add a pod first, so the "
                    "Deployment controller takes one away instead. Use maxSurge: 1 (and maxUnavailable: 0).")
    if unavailable > 0:
        raise Wrong(f"{where}.{field} ({unavailable} of {REPLICAS} pods): the rollout may take that many pods away "
                    "before their replacements are ready. Use 0, so the service never has fewer ready pods than "
                    "it needs.")
    deadline = dep.spec.progress_deadline_seconds
    if deadline is None or deadline > MAX_DEADLINE:
        raise Wrong(f"{where}.progressDeadlineSeconds is {deadline}: a broken release would go unnoticed for "
                    f"that long. Use {MAX_DEADLINE} or less.")
    return f"RollingUpdate, maxUnavailable 0, maxSurge {surge}, progress deadline {deadline}s"


# What the stream API's server (the e2e resource-consumer image) answers to a GET: only /Metrics (200);
# every other path is "400 Bad request. Not a POST request". A kubelet HTTP probe passes on 200-399.
HTTP_OK_PATHS = ("/Metrics",)
PORTS = ("http", "8080")


def _probe_problem(c: client.V1Container) -> str | None:
    """Why this container's readiness probe would not tell when the server can answer, or None."""
    probe = c.readiness_probe
    where = "Deployment stream-api: containers[stream-api].readinessProbe"
    if probe is None:
        return (f"{where} is not set: a new pod would get traffic (and the rollout would move on) before it can "
                "answer. Add a tcpSocket or httpGet probe on port http.")
    if not (probe.tcp_socket or probe.http_get):
        return f"{where} has no tcpSocket or httpGet: probe the http port."
    kind = "tcpSocket" if probe.tcp_socket else "httpGet"
    port = (probe.tcp_socket or probe.http_get).port
    if str(port) not in PORTS:
        return (f"{where}.{kind}.port is {port}, but the server listens on 8080 (named http): a probe on the "
                "wrong port never passes.")
    if probe.http_get:
        scheme = (probe.http_get.scheme or "HTTP").upper()
        if scheme != "HTTP":
            return (f"{where}.httpGet.scheme is {scheme}: the server speaks plain HTTP, so the TLS handshake fails "
                    "and the probe never passes. Leave scheme out (HTTP).")
        path = (probe.http_get.path or "/").split("?", 1)[0] or "/"
        if path not in HTTP_OK_PATHS:
            return (f"{where}.httpGet.path is {path}: the stream API answers GET {path} with 400 Bad Request "
                    "(it takes POSTs; `kubectl describe pod` would show 'Readiness probe failed: HTTP probe "
                    "failed with statuscode: 400'), so the pods never become ready and the rollout never "
                    "finishes. Probe a path it answers with 200, or use tcpSocket on port http.")
    return None


def check_probe(lab: Any) -> str:
    c = read.container(read.deployment(lab))
    problem = _probe_problem(c)
    if problem:
        raise Wrong(problem)
    probe = c.readiness_probe
    if probe.http_get:
        return f"readiness probe GET {probe.http_get.path or '/'} on port {probe.http_get.port}"
    return f"readiness probe on port {probe.tcp_socket.port}"


def check_pdb(lab: Any) -> str:
    pdb = read.stream_api_pdb(lab)
    allowed_down, field = read.disruptions_allowed(pdb, REPLICAS)
    if REPLICAS - allowed_down < FLOOR:
        raise Wrong(f"PodDisruptionBudget {pdb.metadata.name}: {field} lets {allowed_down} of {REPLICAS} pods go "
                    f"at once, leaving fewer than the floor of {FLOOR}.")
    if allowed_down < 1:
        raise Wrong(f"PodDisruptionBudget {pdb.metadata.name}: {field} allows no pod to be evicted at all, so "
                    "no node could ever be drained for maintenance. Allow exactly one.")

    def counted() -> tuple[bool, str]:
        p = client.PolicyV1Api(lab.api).read_namespaced_pod_disruption_budget(pdb.metadata.name, lab.namespace)
        return (p.status.expected_pods or 0) == REPLICAS, f"{p.status.expected_pods} pods counted"

    try:
        wait_for(counted, "the PodDisruptionBudget to count the pods", 20)
    except WaitTimeout as exc:
        unless_unreadable(exc)
        raise Wrong(f"PodDisruptionBudget {pdb.metadata.name} does not count {REPLICAS} pods yet "
                    "(`kubectl get pdb`: ALLOWED DISRUPTIONS); check again in a few seconds.") from None
    return f"{field}: at most {allowed_down} pod down, never below {REPLICAS - allowed_down}"


def check_ship(lab: Any) -> str:
    record = lab.recall("ship-v2")
    if record is None:
        raise Wrong("v2 has not been shipped yet: run the cell with lab3.ship(lab, 'v2').")
    if record["stalled"]:
        raise Wrong("the v2 rollout stalled (ProgressDeadlineExceeded); `kubectl describe deployment` says why.")
    again = "re-apply deployment.yaml (it is v1 again) and ship v2 again."
    if "probe_problem" not in record:
        raise Wrong(f"v2 was shipped by an older Scale Lab that did not record the readiness probe; {again}")
    if record["probe_problem"]:
        raise Wrong(f"v2 was shipped while {record['probe_problem']} So each new pod counted as ready the moment "
                    "it started, and the ready count the watch saw says nothing about requests served. Fix the "
                    f"probe (task 'probe'), then {again}")
    lowest, allowed = record["lowest_ready"], record.get("allowed_floor", FLOOR)
    strategy = record.get("strategy", "strategy.rollingUpdate.maxUnavailable")
    if allowed < FLOOR and lowest is not None and lowest < FLOOR:
        raise Wrong(f"during the v2 rollout ready pods fell to {lowest}, below the floor of {FLOOR}: requests "
                    f"were dropped. Deployment stream-api: spec.{strategy}, so the rollout took pods away before "
                    f"their replacements were ready. Fix it (task 'strategy'), then {again}")
    if allowed < FLOOR:
        raise Wrong(f"v2 was shipped while Deployment stream-api: spec.{strategy}, which lets ready pods fall to "
                    f"{allowed}, below the floor of {FLOOR}. This time the new pods happened to be ready in time "
                    f"(the lowest seen was {lowest}); the next release may not be so lucky. Fix it (task "
                    f"'strategy'), then {again}")
    if lowest is not None and lowest < FLOOR:
        raise Wrong(f"during the v2 rollout ready pods fell to {lowest}, below the floor of {FLOOR}, although the "
                    f"strategy keeps at least {allowed}: something else took pods away meanwhile (a drain, a crash: "
                    f"`kubectl get events`). Ship v2 again: {again}")
    return f"v2 rolled out; ready pods never fell below {lowest}"


def _replica_sets(lab: Any) -> list[tuple[int, str | None, int, str]]:
    """(revision, version, replicas, revision-history) of the Deployment's ReplicaSets, oldest first."""
    out = []
    for rs in client.AppsV1Api(lab.api).list_namespaced_replica_set(lab.namespace,
                                                                    label_selector="app=stream-api").items:
        ann = rs.metadata.annotations or {}
        version = next((e.value for c in rs.spec.template.spec.containers for e in (c.env or [])
                        if e.name == VERSION_ENV), None)
        out.append((int(ann.get("deployment.kubernetes.io/revision", 0)), version, rs.spec.replicas or 0,
                    ann.get("deployment.kubernetes.io/revision-history", "")))
    return sorted(out)


def check_rollback(lab: Any) -> str:
    if lab.recall("ship-v3") is None:
        raise Wrong("v3 has not been shipped yet: run the cell with lab3.ship(lab, 'v3').")
    dep = read.deployment(lab)
    version = _version(dep)
    history = _replica_sets(lab)
    versions = [v for _, v, _, _ in history]
    if "v3" not in versions:
        raise Wrong("no v3 ReplicaSet is left in the history (`kubectl rollout history deployment/stream-api`); "
                    "keep revisionHistoryLimit above 2 and ship v3 again.")
    if version == "v3":
        raise Wrong("the Deployment still runs v3: its Progressing condition says ProgressDeadlineExceeded. Roll "
                    "back with `kubectl rollout undo deployment/stream-api`.")
    if version != "v2":
        raise Wrong(f"the Deployment runs {version}, not v2: roll back one revision only "
                    "(`kubectl rollout undo` without --to-revision).")
    latest = history[-1]
    if latest[1] != "v2":
        raise Wrong(f"the newest revision ({latest[0]}) runs {latest[1]}, not v2: roll back with "
                    "`kubectl rollout undo deployment/stream-api`.")
    if not settle.rollout(lab, timeout=60):
        raise Wrong("the rollback has not finished: `kubectl rollout status deployment/stream-api`.")
    if any(v == "v3" and replicas for _, v, replicas, _ in history):
        raise Wrong("the v3 ReplicaSet still has pods; wait for the rollback to finish.")
    revisions = ", ".join(f"{rev}={v}" for rev, v, _, _ in history)
    was = f", was revision {latest[3]}" if latest[3] else ""
    return f"back on v2 (revision {latest[0]}{was}); history {revisions}"


SPEC = LabSpec(
    number=3, folder="03-ship-v2", title="Ship v2 without dropping a request",
    starting_state="03-as-found.yaml",
    tasks=(
        Task("strategy", "a rolling update that never drops below the floor", check_strategy,
             ("What may the rollout take away before a replacement is ready? And how long until a stuck rollout "
              "is reported?",
              "strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}} and "
              "progressDeadlineSeconds: 30."), ("deployment.yaml",)),
        Task("probe", "a readiness probe", check_probe,
             ("Without a readiness probe a pod counts as ready the moment its process starts.",
              "readinessProbe: {tcpSocket: {port: http}, periodSeconds: 2} in the container."),
             ("deployment.yaml",)),
        Task("pdb", "a PodDisruptionBudget", check_pdb,
             (f"Voluntary disruptions (drains) should take at most one pod at a time; {REPLICAS} replicas, floor "
              f"{FLOOR}.", "pdb.yaml: spec.maxUnavailable: 1 and spec.selector.matchLabels: {app: stream-api}."),
             ("pdb.yaml",)),
        Task("ship-v2", "ship v2 with no dip below the floor", check_ship,
             ("Ship only after strategy and probe pass; the watch records the lowest ready count.",
              "Re-apply deployment.yaml (v1), then run lab3.ship(lab, 'v2') again."), lambda lab: solve_ship(lab)),
        Task("rollback", "catch the broken v3 and roll back", check_rollback,
             ("`kubectl rollout status` and the Deployment's Progressing condition tell a stuck rollout.",
              "lab.kubectl('rollout undo deployment/stream-api') brings back the previous revision (v2)."),
             lambda lab: solve_rollback(lab)),
    ),
)
