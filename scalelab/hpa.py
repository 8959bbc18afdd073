"""The HorizontalPodAutoscaler's arithmetic, in plain Python, for the calculator and the lessons.

The controller (pkg/controller/podautoscaler in Kubernetes) computes, for a CPU
utilisation target and all pods ready with metrics:

    utilisation = int(100 × sum(pod CPU usage) / sum(pod CPU requests))
    ratio       = utilisation / target
    desired     = current                 if |ratio − 1| ≤ tolerance (0.1)
                  ceil(ratio × current)   otherwise

then clamps ``desired`` to [minReplicas, maxReplicas] (and, over time, applies
the ``behavior`` rate limits and stabilisation windows, which lesson 03 shows).

``utilization`` and ``desired_replicas`` are that formula, kept as the lessons
print it. (At exactly +10 % they scale where 1.33+ tolerates: the controller now
tests 0.9 ≤ ratio ≤ 1.1, the formula above |ratio − 1| ≤ 0.1 in floating point.)
``cpu_utilization_replicas`` and ``HorizontalAutoscaler`` below are the whole
algorithm: unready and metric-less pods, tolerance, scale-up limit, stabilization.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

TOLERANCE = 0.1


def utilization(usage_millicores: list[float], request_millicores: list[float]) -> int:
    """Average CPU utilisation in percent of the requests, truncated like the controller does."""
    total_request = sum(request_millicores)
    if total_request <= 0:
        raise ValueError("pods without a CPU request cannot be autoscaled on CPU utilisation "
                         "(the HPA reports 'missing request for cpu')")
    return int(100 * sum(usage_millicores) / total_request)


def desired_replicas(current: int, utilization_percent: float, target_percent: float,
                     min_replicas: int = 1, max_replicas: int = 10, tolerance: float = TOLERANCE) -> int:
    """What the HPA asks for, before behavior rate limits and stabilisation."""
    if current <= 0:
        return max(min_replicas, 0)
    ratio = utilization_percent / target_percent
    wanted = current if abs(ratio - 1.0) <= tolerance else math.ceil(ratio * current)
    return max(min_replicas, min(max_replicas, wanted))


# ---------------------------------------------------------------------------
# The full controller algorithm for a CPU *Utilization* target (Kubernetes 1.33–1.36)
# ---------------------------------------------------------------------------
#
# ``desired_replicas`` above is the textbook formula: every pod ready, every pod
# reporting metrics. The controller does more, and the lessons' clusters show it:
# fresh pods, pods without metrics and terminating pods change the answer. What
# follows models pkg/controller/podautoscaler (replica_calculator.go for one
# metric, horizontal.go for an HPA without ``behavior``), written from the facts
# of that code, and checked against the CPU-utilization cases of its test table
# in tests/unit/test_hpa_upstream_cases.py.

CPU_INITIALIZATION_PERIOD_S = 300.0
"""--horizontal-pod-autoscaler-cpu-initialization-period (default 5 min)."""
INITIAL_READINESS_DELAY_S = 30.0
"""--horizontal-pod-autoscaler-initial-readiness-delay (default 30 s)."""
DOWNSCALE_STABILIZATION_WINDOW_S = 300.0
"""--horizontal-pod-autoscaler-downscale-stabilization (default 5 min)."""
SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0

RUNNING, PENDING, SUCCEEDED, FAILED = "Running", "Pending", "Succeeded", "Failed"


@dataclass(frozen=True)
class Tolerances:
    """How far the usage ratio may stray from 1.0 before the HPA acts.

    Since 1.33 the two sides are separate (``behavior.scale{Up,Down}.tolerance``,
    feature HPAConfigurableTolerance); both default to 0.1. The band is closed:
    a ratio of exactly 0.9 or 1.1 is tolerated.
    """

    scale_down: float = TOLERANCE
    scale_up: float = TOLERANCE

    def within(self, ratio: float) -> bool:
        """True if a ratio this close to 1.0 keeps the current replica count."""
        return (1.0 - self.scale_down) <= ratio <= (1.0 + self.scale_up)


@dataclass(frozen=True)
class PodSample:
    """One pod as the controller sees it: its spec, its status and its metrics sample.

    Times are in seconds *before now*, so a record needs no clock. The defaults
    describe a pod that has been running and Ready for an hour with a fresh sample.

    usage_m: CPU usage from the metrics API in millicores, summed over the pod's
        containers (or the one container of a ContainerResource metric);
        ``None`` when the metrics API returned no sample for the pod.
    request_m: CPU request in millicores, same scope; ``None`` when a container
        has no CPU request (the controller then refuses to compute).
    ready: status of the pod's Ready condition; ``None`` when it has none.
    phase: Running, Pending, Succeeded or Failed.
    deleting: the pod has a deletionTimestamp (it is terminating).
    started_s_ago: seconds since status.startTime; ``None`` when not set.
    ready_changed_s_ago: seconds since the Ready condition last changed;
        ``None`` means "when the pod started".
    metric_s_ago: age of the metrics sample's timestamp.
    metric_window_s: the window the sample was averaged over (60 s in the upstream tests).
    """

    usage_m: float | None
    request_m: float | None
    ready: bool | None = True
    phase: str = RUNNING
    deleting: bool = False
    started_s_ago: float | None = 3600.0
    ready_changed_s_ago: float | None = None
    metric_s_ago: float = 0.0
    metric_window_s: float = 60.0


READY, UNREADY, MISSING, IGNORED = "ready", "unready", "missing", "ignored"


def pod_group(pod: PodSample, cpu_initialization_period_s: float = CPU_INITIALIZATION_PERIOD_S,
              initial_readiness_delay_s: float = INITIAL_READINESS_DELAY_S) -> str:
    """Which of the controller's four groups a pod falls in, for a CPU metric.

    ignored: terminating or Failed; left out of everything (it will not come back).
    unready: Pending, or (for CPU) its sample cannot be trusted: no Ready
        condition or start time; inside the CPU initialization period and not
        Ready, or Ready but the sample's window began before readiness changed;
        after that period, not Ready *and* its readiness last changed within the
        initial readiness delay of its start (it has never been Ready). A pod
        that was Ready and later turned unready still counts with its usage.
    missing: no metrics sample (checked before readiness).
    ready: counted with its usage.
    """
    if pod.deleting or pod.phase == FAILED:
        return IGNORED
    if pod.phase == PENDING:
        return UNREADY
    if pod.usage_m is None:
        return MISSING
    if pod.ready is None or pod.started_s_ago is None:
        return UNREADY
    changed = pod.started_s_ago if pod.ready_changed_s_ago is None else pod.ready_changed_s_ago
    if pod.started_s_ago < cpu_initialization_period_s:
        # sample timestamp earlier than (readiness change + sample window)
        unready = not pod.ready or pod.metric_s_ago > changed - pod.metric_window_s
    else:
        # readiness went False within the readiness delay after start: never Ready
        unready = not pod.ready and changed > pod.started_s_ago - initial_readiness_delay_s
    return UNREADY if unready else READY


@dataclass(frozen=True)
class CpuRecommendation:
    """What the replica calculator returns for one CPU utilization metric, and why.

    replicas: the proposal, before minReplicas/maxReplicas, the scale-up limit
        and stabilization (see ``HorizontalAutoscaler``).
    utilization: the percent shown in ``kubectl get hpa`` (ready pods only).
    raw_average_m: their average usage in millicores (status.currentMetrics).
    reason: which rule decided, in words.
    """

    replicas: int
    utilization: int
    raw_average_m: int
    usage_ratio: float
    reason: str
    ready: tuple[int, ...] = ()
    unready: tuple[int, ...] = ()
    missing: tuple[int, ...] = ()
    ignored: tuple[int, ...] = ()


def _utilization_ratio(usage: dict[object, float], requests: dict[object, float],
                       target_percent: float) -> tuple[float, int, int]:
    """Ratio, whole-percent utilization and average usage of the samples that match a pod."""
    usage_total = request_total = 0
    entries = 0
    for key, value in usage.items():
        if key not in requests:  # a sample for a pod the selector no longer lists
            continue
        usage_total += value
        request_total += requests[key]
        entries += 1
    if request_total <= 0:
        raise ValueError("no metrics returned matched known pods")
    percent = int((usage_total * 100) // request_total)  # integer division, like the controller
    return percent / target_percent, percent, int(usage_total // entries)


def cpu_utilization_replicas(current: int, pods: Sequence[PodSample], target_percent: float, *,
                             tolerance: float | Tolerances = TOLERANCE,
                             cpu_initialization_period_s: float = CPU_INITIALIZATION_PERIOD_S,
                             initial_readiness_delay_s: float = INITIAL_READINESS_DELAY_S,
                             unmatched_usage_m: Sequence[float] = ()) -> CpuRecommendation:
    """The replica calculator for a Resource metric ``cpu`` with an ``averageUtilization`` target.

    ``current`` is the target's spec.replicas, ``pods`` every pod its selector
    lists (it may differ: surge pods, terminating pods). ``unmatched_usage_m``
    are samples the metrics API returned for pods not in ``pods``: they do not
    count in the utilization, but they do in the pod count of the recomputation
    (as upstream). Raises ValueError where the controller reports an error and
    leaves the replica count alone.

    Why it is more than ``ceil(current × utilization / target)``:
    - unready pods are left out of the utilization; on a scale-up they are
      added back at 0 % so that pods still starting do not inflate the step;
    - pods without a sample count as 0 % on a scale-up and as
      max(100 %, target) of their request on a scale-down;
    - if that recomputed ratio is within tolerance or points the other way,
      or the new count would move against the ratio, the count stays.
    """
    if target_percent <= 0:
        raise ValueError("the utilization target must be a positive percentage")
    tol = tolerance if isinstance(tolerance, Tolerances) else Tolerances(tolerance, tolerance)
    if all(p.usage_m is None for p in pods) and not unmatched_usage_m:
        raise ValueError("unable to get metrics for resource cpu: no metrics returned from resource metrics API")
    if not pods:
        raise ValueError("no pods returned by selector while calculating replica count")

    groups = [pod_group(p, cpu_initialization_period_s, initial_readiness_delay_s) for p in pods]
    by = {g: tuple(i for i, x in enumerate(groups) if x == g) for g in (READY, UNREADY, MISSING, IGNORED)}
    usage: dict[object, float] = {i: p.usage_m for i, p in enumerate(pods)
                                  if p.usage_m is not None and groups[i] not in (UNREADY, IGNORED)}
    usage.update({("unmatched", j): u for j, u in enumerate(unmatched_usage_m)})
    if not usage:
        raise ValueError("did not receive metrics for targeted pods (pods might be unready)")
    requests: dict[object, float] = {}
    for i, p in enumerate(pods):  # every listed pod needs a request, even ignored ones
        if p.request_m is None:
            raise ValueError(f"missing request for cpu in pod {i} (the HPA reports 'missing request for cpu')")
        requests[i] = p.request_m

    ratio, percent, raw = _utilization_ratio(usage, requests, target_percent)

    def result(replicas: int, reason: str) -> CpuRecommendation:
        return CpuRecommendation(replicas, percent, raw, ratio, reason,
                                 by[READY], by[UNREADY], by[MISSING], by[IGNORED])

    scale_up_with_unready = bool(by[UNREADY]) and ratio > 1.0
    if not scale_up_with_unready and not by[MISSING]:
        if tol.within(ratio):
            return result(current, "within tolerance")
        return result(math.ceil(ratio * len(by[READY])), "ratio × ready pods")

    if by[MISSING]:
        if ratio < 1.0:  # scale-down: assume the silent pods are busy
            fallback = max(100, target_percent)
            usage.update({i: requests[i] * fallback // 100 for i in by[MISSING]})
        elif ratio > 1.0:  # scale-up: assume they are idle
            usage.update({i: 0 for i in by[MISSING]})
    if scale_up_with_unready:
        usage.update({i: 0 for i in by[UNREADY]})

    new_ratio, _, _ = _utilization_ratio(usage, requests, target_percent)
    if tol.within(new_ratio):
        return result(current, "within tolerance once unready/missing pods are counted")
    if (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return result(current, "unready/missing pods would reverse the direction")
    replicas = math.ceil(new_ratio * len(usage))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return result(current, "the pod count would reverse the direction")
    return result(replicas, "recomputed ratio × pods counted")


def scale_up_limit(current: int) -> int:
    """Without ``behavior``, one step may at most double the count, or reach 4 (issue #32304)."""
    return int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))


def limit_replicas(current: int, desired: int, min_replicas: int, max_replicas: int) -> int:
    """Bound a (stabilized) proposal to [minReplicas, min(maxReplicas, scale_up_limit(current))]."""
    cap = min(max_replicas, scale_up_limit(current))
    if desired < min_replicas:
        return min_replicas
    if desired > cap:
        return cap
    return desired


@dataclass
class ScaleDownStabilizer:
    """The downscale stabilization window of an HPA without ``behavior``.

    The controller keeps its recent proposals and applies the highest one from
    the last ``window_s`` seconds, so a scale-down only happens once every
    proposal in the window agrees; a scale-up is never delayed.
    """

    window_s: float = DOWNSCALE_STABILIZATION_WINDOW_S
    history: list[tuple[float, int]] = field(default_factory=list)

    def stabilize(self, now_s: float, proposal: int) -> int:
        """Record ``proposal`` at ``now_s`` and return the highest proposal still in the window."""
        cutoff = now_s - self.window_s
        highest, stale = proposal, None
        for i, (at, replicas) in enumerate(self.history):
            if at < cutoff:
                stale = i
            elif replicas > highest:
                highest = replicas
        if stale is None:
            self.history.append((now_s, proposal))
        else:  # reuse a slot that fell out of the window, as the controller does
            self.history[stale] = (now_s, proposal)
        return highest


@dataclass
class HorizontalAutoscaler:
    """One HPA without ``behavior`` with a single CPU utilization metric, reconciled by hand.

    Each ``reconcile`` is one controller sync (every 15 s by default): the
    replica calculator's proposal, then the stabilization window, then the
    scale-up limit and [minReplicas, maxReplicas]. The first sync records the
    current count as a proposal, so even a new HPA waits for the window before
    scaling down.
    """

    target_percent: float
    max_replicas: int
    min_replicas: int = 1
    tolerance: float | Tolerances = TOLERANCE
    cpu_initialization_period_s: float = CPU_INITIALIZATION_PERIOD_S
    initial_readiness_delay_s: float = INITIAL_READINESS_DELAY_S
    stabilizer: ScaleDownStabilizer = field(default_factory=ScaleDownStabilizer)
    last: CpuRecommendation | None = field(default=None, init=False)
    _seen: bool = field(default=False, init=False, repr=False)

    def reconcile(self, now_s: float, current: int, pods: Sequence[PodSample],
                  unmatched_usage_m: Sequence[float] = ()) -> int:
        """The replica count the controller sets at ``now_s`` (unchanged means no scaling)."""
        if not self._seen:
            self.stabilizer.history.append((now_s, current))
            self._seen = True
        if current == 0 and self.min_replicas != 0:
            return 0  # scaling is disabled while the target is scaled to zero
        if current > self.max_replicas:
            return self.max_replicas
        if current < self.min_replicas:
            return self.min_replicas
        self.last = cpu_utilization_replicas(
            current, pods, self.target_percent, tolerance=self.tolerance,
            cpu_initialization_period_s=self.cpu_initialization_period_s,
            initial_readiness_delay_s=self.initial_readiness_delay_s,
            unmatched_usage_m=unmatched_usage_m)
        stabilized = self.stabilizer.stabilize(now_s, self.last.replicas)
        return limit_replicas(current, stabilized, self.min_replicas, self.max_replicas)
