"""Lab 2: survive the viral spike with a HorizontalPodAutoscaler the learner writes.

The "spike" check replays a viral song's traffic against a copy of the
learner's Deployment and HPA in a scratch namespace (so every check starts
from the same two pods), with the real HPA controller scaling it, and scores
the run against a service objective (dropped requests) and a budget
(pod-minutes). The feedback names which one failed and what to change.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

from kubernetes import client

from scalelab import k8s, scoreboard
from scalelab.checks import read, settle
from scalelab.checks.core import LabSpec, Task, Wrong, unless_unreadable
from scalelab.errors import WaitTimeout
from scalelab.replay import Replay
from scalelab.traffic import Capacity, Profile, Score, driver_for
from scalelab.wait import wait_for

REPLAY_NAMESPACE = "lab-2-replay"
SCOREBOARD_KEY = "lab 2 viral spike"  # lesson 05's final scoreboard shows this row
SPEED = 20.0  # story seconds per wall second: one story minute every 3 s, as in the lessons
# On kind, burned CPU reaches the HPA 20-30 s late (the kubelet's stats window, then a
# metrics-server scrape every 10 s); at 3 s a minute that is 7-10 story minutes of a blind HPA
# while this spike ramps up in 12. One story minute per 6 s keeps the lag near kwok's few minutes.
SPEED_ON_KIND = 10.0


def speed_for(provider: str) -> float:
    """The check's story speed on ``provider``: the same story, timed so the HPA sees CPU as promptly."""
    return SPEED_ON_KIND if provider == "kind" else SPEED
# A song goes viral: quiet at first, then 8x the traffic within a quarter of an hour.
PROFILE = Profile("viral song", ((0, 150), (3, 150), (15, 1200), (24, 1200)))
OBJECTIVE_PERCENT = 1.0  # at most this share of requests may be dropped
BUDGET_POD_MINUTES = 300.0  # at most this many pod-minutes for the whole replay
TARGET_RANGE = (50, 90)  # averageUtilization the task accepts, in % of the CPU request
TOTAL_DEMAND = sum(PROFILE.rps(m) * 60 for m in range(int(PROFILE.duration) + 1))
# Only its request is reserved for a pod; above it, a pod borrows CPU its node has spare, and in a spike
# every pod on the node wants that CPU at once. The replay counts a pod's CPU up to its limit but no more
# than the course's capacity model lets it burst (250m at its limit for 100m at its request): a limit far
# above the request buys no capacity.
BURST = Capacity().cpu_limit_m / Capacity().cpu_request_m


def counted_limit_m(request_m: float, limit_m: float) -> float:
    """The CPU the replay lets one pod burn (and so serve): its limit, at most BURST × its request."""
    return min(limit_m, BURST * request_m)


def check_request(lab: Any) -> str:
    res = read.effective_resources(lab, read.container(read.deployment(lab)))
    where = "Deployment stream-api: containers[stream-api].resources"
    cpu, limit = res.millicores("requests"), res.millicores("limits")
    if cpu is None:
        raise Wrong(f"{where}.requests.cpu is not set. The HPA's utilisation is a percentage of the CPU request: "
                    "without one it cannot compute anything (FailedGetResourceMetric: missing request for cpu).")
    if limit is None:
        raise Wrong(f"{where}.limits.cpu is not set; the replay needs to know how much a pod can serve at most.")
    if not 50 <= cpu <= 200:
        raise Wrong(f"{where}.requests.cpu is {res.text('requests.cpu')}; the stream API uses about 75m at ease. "
                    "Use 50m–200m.")
    counted = counted_limit_m(cpu, limit)
    extra = (f" (the spike replay counts {counted:g}m of it: at most {BURST:g}× the request is CPU a pod can "
             "count on borrowing)") if counted < limit else ""
    return f"requests {cpu}m CPU, limit {limit}m{extra}"


def _cpu_metric(h: client.V2HorizontalPodAutoscaler) -> Any:
    """The target of the HPA's CPU metric: a Resource metric, or a ContainerResource one on the stream-api
    container (the same thing for a one-container pod)."""
    for m in h.spec.metrics or []:
        if m.type == "Resource" and m.resource and m.resource.name == "cpu":
            return m.resource.target
        if (m.type == "ContainerResource" and m.container_resource and m.container_resource.name == "cpu"
                and m.container_resource.container == "stream-api"):
            return m.container_resource.target
    return None


def target_percent(target: Any, request_m: float | None) -> float | None:
    """The CPU target as a percentage of the request: averageUtilization, or an averageValue over the request."""
    if target is None:
        return None
    if target.type == "Utilization":
        return target.average_utilization
    if target.type == "AverageValue" and target.average_value is not None and request_m:
        return float(read.quantity(target.average_value) * 1000) / request_m * 100
    return None


def check_target(lab: Any) -> str:
    h = read.hpa(lab)
    ref = h.spec.scale_target_ref
    where = f"HorizontalPodAutoscaler {h.metadata.name}: spec"
    if ref.kind != "Deployment" or ref.name != "stream-api":
        raise Wrong(f"{where}.scaleTargetRef points at {ref.kind} '{ref.name}'; it must be the Deployment "
                    "'stream-api' (the HPA would scale something else, or nothing).")
    target = _cpu_metric(h)
    if target is None:
        raise Wrong(f"{where}.metrics has no Resource metric for cpu; add one with target.type: Utilization.")
    request_m = None
    if target.type == "AverageValue":
        request_m = read.effective_resources(lab, read.container(read.deployment(lab))).millicores("requests")
    percent = target_percent(target, request_m)
    if percent is None:
        raise Wrong(f"{where}.metrics[cpu].target.type is {target.type}; use Utilization with "
                    "averageUtilization (a percentage of the CPU request).")
    if target.type == "Utilization":
        written = f"{where}.metrics[cpu].target.averageUtilization is {percent:g}%"
    else:
        written = (f"{where}.metrics[cpu].target.averageValue is {target.average_value}, {percent:.0f}% of the "
                   f"pods' {request_m}m CPU request")
    low, high = TARGET_RANGE
    if percent > high:
        raise Wrong(f"{written}: pods would run that hot before the HPA adds any, leaving no headroom for the "
                    f"minutes a new pod takes. Use {low}–{high}%.")
    if percent < low:
        raise Wrong(f"{written}: most of every pod's reserved CPU would sit idle. Use {low}–{high}%.")
    if (h.spec.min_replicas or 1) < 2:
        raise Wrong(f"{where}.minReplicas is {h.spec.min_replicas or 1}: one pod is no redundancy (a node "
                    "restart is an outage). Use at least 2.")

    kind = next(m.type for m in h.spec.metrics if (m.resource and m.resource.target is target)
                or (m.container_resource and m.container_resource.target is target))

    def active() -> tuple[bool, str]:
        hpa = read.hpa(lab)
        conds = {c.type: c for c in (hpa.status.conditions or [])}
        c = conds.get("ScalingActive")
        if c is None:
            return False, "no conditions yet"
        # The controller writes no observedGeneration: a metric of this spec's kind in the status is the sign
        # that it has read this spec, not the one before it.
        read_now = any(m.type == kind for m in (hpa.status.current_metrics or []))
        return c.status == "True" and read_now, f"ScalingActive={c.status} ({c.reason}: {c.message})"

    # New pods need two metrics scrapes before the HPA sees their CPU: give a fresh rollout time.
    settle.rollout(lab, timeout=60)
    try:
        wait_for(active, "the HPA to read the pods' CPU", timeout=150)
    except WaitTimeout as exc:  # it carries what it saw
        unless_unreadable(exc)
        raise Wrong(f"the HPA cannot compute its metric yet: {getattr(exc, 'problem', exc)}. "
                    "`kubectl describe hpa stream-api` shows the condition; the pods need a CPU request.") from None
    return (f"scales Deployment stream-api between {h.spec.min_replicas} and {h.spec.max_replicas} pods "
            f"at {percent:g}% CPU")


def _copy_for_replay(obj: Any, api: client.ApiClient) -> dict[str, Any]:
    body = api.sanitize_for_serialization(obj)
    meta = body["metadata"]
    body["metadata"] = {"name": meta["name"], "labels": meta.get("labels") or {}}
    body.pop("status", None)
    return copy.deepcopy(body)


def replay_spike(lab: Any, show: bool = False) -> tuple[Replay, dict[str, Any]]:
    """Replay the viral spike against a copy of the learner's Deployment and HPA; returns the replay and the verdict."""
    dep = read.deployment(lab)
    hpa = read.hpa(lab)
    api = lab.api
    k8s.delete_namespace(api, REPLAY_NAMESPACE, timeout=180)
    k8s.ensure_namespace(api, REPLAY_NAMESPACE)
    dep_body = _copy_for_replay(dep, api)
    dep_body["spec"]["replicas"] = max(2, hpa.spec.min_replicas or 1)
    k8s.apply_objects(api, [dep_body], REPLAY_NAMESPACE)
    wait_for(lambda: k8s.rollout_status(api, REPLAY_NAMESPACE, dep.metadata.name), "the replay's pods", 120)
    res = read.effective_resources(lab, read.container(dep))
    default = Capacity()  # the cost per request; the learner's request and limit decide the rest
    request_m = res.millicores("requests") or default.cpu_request_m
    limit_m = res.millicores("limits") or default.cpu_limit_m
    cap = Capacity(cpu_request_m=request_m, cpu_limit_m=counted_limit_m(request_m, limit_m))
    driver = driver_for(api, lab.lesson.provider)
    speed = speed_for(lab.lesson.provider)
    try:
        _warm_up(api, hpa, dep.metadata.name, driver, cap)
        replay = Replay(api, REPLAY_NAMESPACE, dep.metadata.name, PROFILE, driver,
                        capacity=cap, fast_forward=speed, name="your HPA")
        # The verdict cannot change any more once too much was dropped or spent: stop early then.
        replay.stop_when = lambda s: _settled(replay.score)
        replay.fast_forward = speed  # the check's timing is the objective's: never fast-forwarded
        if show:
            from scalelab.viz import ScalingDashboard

            lab.lesson.show(ScalingDashboard(replay, hpa_target=target_percent(_cpu_metric(hpa), request_m),
                                             title="your HPA against the viral spike"))
        replay.run()
    finally:
        driver.stop()  # on kind, no pod keeps burning CPU after the check
    peak = max((s.desired for s in replay.samples), default=0)
    verdict = {"dropped_percent": replay.score.dropped_requests / TOTAL_DEMAND * 100,
               "pod_minutes": replay.score.pod_minutes, "peak_replicas": peak,
               "max_replicas": hpa.spec.max_replicas, "min_replicas": hpa.spec.min_replicas or 1,
               "stopped_early": replay.stopped_early, "request_m": request_m, "limit_m": limit_m,
               "counted_m": cap.cpu_limit_m}
    lab.remember("spike", verdict)
    if not replay.stopped_early:  # a whole replay: its cost joins the course's scoreboard (lesson 05)
        scoreboard.record(SCOREBOARD_KEY, replay.score, run="lab 2 · viral song, your HPA")
    return replay, verdict


def _warm_up(api: client.ApiClient, hpa: Any, deployment: str, driver: Any, cap: Capacity) -> None:
    """Quiet traffic until the HPA has read the pods' CPU once: the replay starts from a steady state.

    The metrics pipeline needs two scrapes of a new pod (about 20 s) before the
    HPA sees any number; without this wait the spike would meet a blind HPA.
    """
    core = client.CoreV1Api(api)
    selector = k8s.selector_of(api, REPLAY_NAMESPACE, deployment)

    def quiet_load() -> None:
        pods = [p for p in core.list_namespaced_pod(REPLAY_NAMESPACE, label_selector=selector).items
                if k8s.pod_is_ready(p)]
        driver.apply(pods, cap.cpu_per_pod_m(PROFILE.rps(0), len(pods)))

    quiet_load()
    # A new name for every replay: the HPA controller keeps each HPA's recent recommendations
    # (namespace/name) for its 5-minute scale-down window, and forgets them only if it happens to
    # look while the HPA is gone. A copy recreated under the old name within seconds inherited the
    # last replay's peak and scaled 2 pods to 18 at quiet traffic (seen on kind).
    body = _copy_for_replay(hpa, api)
    body["metadata"]["name"] = name = f"{hpa.metadata.name}-{secrets.token_hex(3)}"
    k8s.apply_objects(api, [body], REPLAY_NAMESPACE)
    scaling = client.AutoscalingV2Api(api)

    def has_read_cpu() -> tuple[bool, str]:
        quiet_load()
        status = scaling.read_namespaced_horizontal_pod_autoscaler(name, REPLAY_NAMESPACE).status
        seen = [m for m in (status.current_metrics or []) if m.resource and m.resource.current]
        return bool(seen), f"{len(seen)} metrics read"

    wait_for(has_read_cpu, "the replay's HPA to read the pods' CPU", 120, interval=3)


def _settled(score: Score) -> bool:
    return (score.dropped_requests > TOTAL_DEMAND * OBJECTIVE_PERCENT / 100
            or score.pod_minutes > BUDGET_POD_MINUTES)


def judge(v: dict[str, Any]) -> str:
    """Pass message, or Wrong naming the failed goal and the field to change."""
    dropped, cost = v["dropped_percent"], v["pod_minutes"]
    if dropped > OBJECTIVE_PERCENT:
        if v["peak_replicas"] >= v["max_replicas"]:
            fix = (f"the HPA hit spec.maxReplicas ({v['max_replicas']}) and could not add more: 1200 requests/s "
                   "need more pods than that. Raise maxReplicas.")
        else:
            fix = (f"the HPA reached only {v['peak_replicas']} pods and too late: scale-up is held back. Look at "
                   "spec.behavior.scaleUp (policies and stabilizationWindowSeconds) and let it add pods faster.")
        if v.get("counted_m", 0) < v.get("limit_m", 0):
            fix += (f" Deployment stream-api: containers[stream-api].resources.limits.cpu is {v['limit_m']:g}m, but "
                    f"the replay counts at most {v['counted_m']:g}m per pod ({BURST:g}× its request of "
                    f"{v['request_m']:g}m): only the request is reserved; above it a pod borrows its node's spare "
                    "CPU, which every pod wants in a spike. A bigger limit buys no capacity; more pods do.")
        raise Wrong(f"service objective missed: {dropped:.1f}% of requests dropped (objective: at most "
                    f"{OBJECTIVE_PERCENT:g}%); {fix}")
    if cost > BUDGET_POD_MINUTES:
        if v["min_replicas"] * PROFILE.duration > BUDGET_POD_MINUTES * 0.6:
            fix = (f"spec.minReplicas ({v['min_replicas']}) keeps many pods running while the song is still "
                   "quiet; lower it.")
        else:
            fix = "the HPA keeps more pods than the traffic needs; check spec.behavior.scaleDown and the target."
        raise Wrong(f"budget exceeded: {cost:.0f} pod-minutes or more (budget: {BUDGET_POD_MINUTES:.0f}); {fix}")
    return (f"objective met ({dropped:.2f}% dropped, at most {OBJECTIVE_PERCENT:g}%) within budget "
            f"({cost:.0f} of {BUDGET_POD_MINUTES:.0f} pod-minutes), peak {v['peak_replicas']} pods")


def check_spike(lab: Any) -> str:
    check_request(lab)  # a replay of a Deployment or an HPA that cannot work would only waste three minutes
    check_target(lab)
    try:
        _, verdict = replay_spike(lab, show=getattr(lab, "board", None) is not None)
    finally:
        k8s.delete_namespace(lab.api, REPLAY_NAMESPACE, timeout=180)
    return judge(verdict)


def judged_by_spike(lab: Any) -> str:
    """What the spike replay copies: the Deployment's pod template, the HPA's spec, any LimitRange's defaults."""
    ranges = client.CoreV1Api(lab.api).list_namespaced_limit_range(lab.namespace).items
    return read.fingerprint(lab.api, read.deployment(lab).spec.template, read.hpa(lab).spec,
                            [lr.spec for lr in ranges])


def cleanup_replay(lab: Any) -> None:
    k8s.delete_namespace(lab.api, REPLAY_NAMESPACE, timeout=180)


SPEC = LabSpec(
    number=2, folder="02-viral-spike", title="Survive the viral spike",
    starting_state="02-as-found.yaml", need_metrics=True,
    tasks=(
        Task("request", "a CPU request the HPA can measure against", check_request,
             ("An HPA's CPU utilisation is usage divided by the pod's CPU request.",
              "deployment.yaml: resources.requests.cpu: 100m and resources.limits.cpu: 250m."),
             ("deployment.yaml",)),
        Task("target", "an HPA on the stream API's CPU", check_target,
             ("scaleTargetRef names what to scale; metrics says what to watch, as a percentage of the CPU request.",
              "hpa.yaml: scaleTargetRef {apiVersion: apps/v1, kind: Deployment, name: stream-api}, "
              "minReplicas: 2, a Resource metric cpu with target {type: Utilization, averageUtilization: 70}."),
             ("hpa.yaml",)),
        Task("spike", "survive the viral spike within budget", check_spike,
             (f"At the peak, 1200 requests/s at 100 requests/s per pod at its request is 12 pods; "
              f"at your target, more. The budget is {BUDGET_POD_MINUTES:.0f} pod-minutes.",
              "maxReplicas must allow the peak at your target (e.g. 20 at 70%); keep minReplicas at 2 and the "
              "default-ish fast scale-up (100% or 4 pods every 15 s)."), ("hpa.yaml",),
             fingerprint=judged_by_spike),
    ),
)
