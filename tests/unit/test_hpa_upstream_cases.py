"""The full HPA model against the CPU-utilization cases of the controller's own tests.

Each case restates, as data, one case of kubernetes/kubernetes
pkg/controller/podautoscaler/replica_calculator_test.go (1.33–1.36; the comment
names the upstream test). How the upstream fixture reads as data here:

- every pod has two containers, each requesting the case's CPU request and
  using the case's "level", so a pod requests 2 × request and uses 2 × level;
  for a ContainerResource case only the named container counts (1 × each);
- pods past the end of the level list have no metrics sample (``None``);
- pod start times are the fixture's zero time (long ago), "hot" (now) or
  "cool" (3 min ago); the Ready condition's last change and the samples'
  timestamps are that zero time too, the sample window is 60 s;
- the table runs with a 2 min CPU initialization period, a 10 s readiness
  delay and a 0.1 tolerance unless the case sets tolerances;
- expected: desired replicas, utilization %, average usage (millicores).
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from scalelab import hpa

LONG_AGO = 1e9  # the fixture's zero time, seen from now
HOT, COOL = 0.0, 180.0  # hotCPUCreationTime, coolCPUCreationTime
INIT_S, DELAY_S = 120.0, 10.0  # the table's testing periods

R, P, F = hpa.RUNNING, hpa.PENDING, hpa.FAILED


def pod(usage, request=2000, *, ready=True, start=LONG_AGO, phase=R, deleting=False):
    """A fixture pod, its times as the upstream fixture sets them."""
    return hpa.PodSample(usage_m=usage, request_m=request, ready=ready, phase=phase, deleting=deleting,
                         started_s_ago=start, ready_changed_s_ago=LONG_AGO, metric_s_ago=LONG_AGO)


def pods(levels, n=None, *, per_pod=2, request=1000, ready=None, start=None, phase=None, deleting=None):
    """n fixture pods from per-container levels (missing levels: no sample) and per-pod lists."""
    n = len(levels) if n is None else n
    return [pod(per_pod * levels[i] if i < len(levels) and levels[i] is not None else None, per_pod * request,
                ready=True if ready is None else ready[i],
                start=LONG_AGO if start is None else start[i],
                phase=R if phase is None else phase[i],
                deleting=False if deleting is None else deleting[i])
            for i in range(n)]


def container(levels, n=None, **kw):
    """The same for a ContainerResource metric: one container's request and usage per pod."""
    return pods(levels, n, per_pod=1, **kw)


class Case(NamedTuple):
    current: int
    target: int
    pods: list
    replicas: int
    utilization: int
    raw_m: int
    tolerances: hpa.Tolerances | None = None
    unmatched: tuple = ()


T, Fa = True, False

POD_CASES = {
    # TestReplicaCalcScaleUp
    "ScaleUp": Case(3, 30, pods([300, 500, 700]), 5, 50, 1000),
    # TestReplicaCalcScaleUpUnreadyLessScale
    "ScaleUpUnreadyLessScale": Case(3, 30, pods([300, 500, 700], ready=[Fa, T, T]), 4, 60, 1200),
    # TestReplicaCalcScaleUpHotCpuLessScale
    "ScaleUpHotCpuLessScale": Case(3, 30, pods([300, 500, 700], start=[HOT, COOL, COOL]), 4, 60, 1200),
    # TestReplicaCalcScaleUpUnreadyNoScale
    "ScaleUpUnreadyNoScale": Case(3, 30, pods([400, 500, 700], ready=[T, Fa, Fa]), 3, 40, 800),
    # TestReplicaCalcScaleHotCpuNoScale
    "ScaleHotCpuNoScale": Case(3, 30, pods([400, 500, 700], ready=[T, Fa, Fa], start=[COOL, HOT, HOT]),
                               3, 40, 800),
    # TestReplicaCalcScaleUpIgnoresFailedPods
    "ScaleUpIgnoresFailedPods": Case(2, 30, pods([500, 700], 4, ready=[T, T, Fa, Fa], phase=[R, R, F, F]),
                                     4, 60, 1200),
    # TestReplicaCalcScaleUpIgnoresDeletionPods
    "ScaleUpIgnoresDeletionPods": Case(2, 30, pods([500, 700], 4, ready=[T, T, Fa, Fa],
                                                   deleting=[Fa, Fa, T, T]), 4, 60, 1200),
    # TestReplicaCalcScaleDown
    "ScaleDown": Case(5, 50, pods([100, 300, 500, 250, 250]), 3, 28, 560),
    # TestReplicaCalcScaleDownExcludeUnreadyPods
    "ScaleDownExcludeUnreadyPods": Case(5, 50, pods([100, 300, 500, 250, 250], ready=[T, T, T, Fa, Fa]),
                                        2, 30, 600),
    # TestReplicaCalcScaleDownExcludeUnscheduledPods
    "ScaleDownExcludeUnscheduledPods": Case(5, 50, pods([100], 5, ready=[T, Fa, Fa, Fa, Fa],
                                                        phase=[R, P, P, P, P]), 1, 10, 200),
    # TestReplicaCalcScaleDownIgnoreHotCpuPods
    "ScaleDownIgnoreHotCpuPods": Case(5, 50, pods([100, 300, 500, 250, 250],
                                                  start=[COOL, COOL, COOL, HOT, HOT]), 2, 30, 600),
    # TestReplicaCalcScaleDownIgnoresFailedPods
    "ScaleDownIgnoresFailedPods": Case(5, 50, pods([100, 300, 500, 250, 250], 7, ready=[T] * 5 + [Fa, Fa],
                                                   phase=[R] * 5 + [F, F]), 3, 28, 560),
    # TestReplicaCalcScaleDownIgnoresDeletionPods
    "ScaleDownIgnoresDeletionPods": Case(5, 50, pods([100, 300, 500, 250, 250], 7, ready=[T] * 5 + [Fa, Fa],
                                                     deleting=[Fa] * 5 + [T, T]), 3, 28, 560),
    # TestReplicaCalcTolerance (requests 0.9, 1.0, 1.1 per container)
    "Tolerance": Case(3, 100, [pod(2 * 1010, 1800), pod(2 * 1030, 2000), pod(2 * 1020, 2200)], 3, 102, 2040),
    # TestReplicaCalcConfigurableTolerance / "Outside of a 0% tolerance"
    "ConfigurableTolerance/0%": Case(3, 100, [pod(2 * 909, 1800), pod(2 * 1010, 2000), pod(2 * 1111, 2200)],
                                     4, 101, 2020, hpa.Tolerances(0.0, 0.0)),
    # TestReplicaCalcConfigurableTolerance / "Within a 200% scale-up tolerance"
    "ConfigurableTolerance/up200%": Case(3, 100, [pod(2 * 1890, 1800), pod(2 * 1910, 2000), pod(2 * 1900, 2200)],
                                         3, 190, 3800, hpa.Tolerances(0.1, 2.0)),
    # TestReplicaCalcConfigurableTolerance / "Outside 8% scale-up tolerance (and superfuous scale-down tolerance)"
    "ConfigurableTolerance/up8%": Case(3, 100, [pod(2 * 1100, 1800), pod(2 * 1080, 2000), pod(2 * 1090, 2200)],
                                       4, 109, 2180, hpa.Tolerances(2.0, 0.08)),
    # TestReplicaCalcConfigurableTolerance / "Within a 36% scale-down tolerance"
    "ConfigurableTolerance/down36%": Case(3, 100, [pod(2 * 660, 1800), pod(2 * 640, 2000), pod(2 * 650, 2200)],
                                          3, 65, 1300, hpa.Tolerances(0.36, 0.1)),
    # TestReplicaCalcConfigurableTolerance / "Outside a 34% scale-down tolerance"
    "ConfigurableTolerance/down34%": Case(3, 100, [pod(2 * 660, 1800), pod(2 * 640, 2000), pod(2 * 650, 2200)],
                                          2, 65, 1300, hpa.Tolerances(0.34, 0.1)),
    # TestReplicaCalcSuperfluousMetrics (samples for 6 pods, 4 listed)
    "SuperfluousMetrics": Case(4, 100, pods([4000, 9500, 3000, 7000]), 24, 587, 11750,
                               unmatched=(2 * 3200, 2 * 2000)),
    # TestReplicaCalcMissingMetrics
    "MissingMetrics": Case(4, 100, pods([400, 95], 4), 3, 24, 495),
    # TestReplicaCalcMissingMetricsNoChangeEq
    "MissingMetricsNoChangeEq": Case(2, 100, pods([1000], 2), 2, 100, 2000),
    # TestReplicaCalcMissingMetricsNoChangeGt
    "MissingMetricsNoChangeGt": Case(2, 100, pods([1900], 2), 2, 190, 3800),
    # TestReplicaCalcMissingMetricsNoChangeLt
    "MissingMetricsNoChangeLt": Case(2, 100, pods([600], 2), 2, 60, 1200),
    # TestReplicaCalcMissingMetricsUnreadyChange
    "MissingMetricsUnreadyChange": Case(3, 50, pods([100, 450], 3, ready=[Fa, T, T]), 3, 45, 900),
    # TestReplicaCalcMissingMetricsHotCpuNoChange
    "MissingMetricsHotCpuNoChange": Case(3, 50, pods([100, 450], 3, start=[HOT, COOL, COOL]), 3, 45, 900),
    # TestReplicaCalcMissingMetricsUnreadyScaleUp
    "MissingMetricsUnreadyScaleUp": Case(3, 50, pods([100, 2000], 3, ready=[Fa, T, T]), 4, 200, 4000),
    # TestReplicaCalcMissingMetricsHotCpuScaleUp
    "MissingMetricsHotCpuScaleUp": Case(3, 50, pods([100, 2000], 3, ready=[Fa, T, T], start=[HOT, COOL, COOL]),
                                        4, 200, 4000),
    # TestReplicaCalcMissingMetricsUnreadyScaleDown
    "MissingMetricsUnreadyScaleDown": Case(4, 50, pods([100, 100, 100], 4, ready=[Fa, T, T, T]), 3, 10, 200),
    # TestReplicaCalcMissingMetricsScaleDownTargetOver100 (requests 1, 1, 2, 2 per container)
    "MissingMetricsScaleDownTargetOver100": Case(
        4, 300, [pod(2 * 200, 2000, ready=False), pod(2 * 100, 2000), pod(2 * 100, 4000), pod(None, 4000)],
        2, 6, 200),
    # TestReplicaCalcDuringRollingUpdateWithMaxSurge (spec.replicas 2, 3 pods listed)
    "DuringRollingUpdateWithMaxSurge": Case(2, 50, pods([100, 100], 3), 2, 10, 200),
    # TestReplicaCalcComputedToleranceAlgImplementation, first run: target int(100 × (1/1.8 + 0.01)) = 56
    "ComputedToleranceAlgImplementation/scale": Case(
        10, 56, [pod(2 * 150, 2 * r) for r in (400, 200, 310, 290, 302, 298, 301, 299, 300, 300)], 9, 50, 300),
    # TestReplicaCalcComputedToleranceAlgImplementation, second run: target int(100 × (1/1.8 + 0.004)) = 55
    "ComputedToleranceAlgImplementation/hold": Case(
        10, 55, [pod(2 * 150, 2 * r) for r in (400, 200, 310, 290, 302, 298, 301, 299, 300, 300)], 10, 50, 300),
}

CONTAINER_CASES = {  # ContainerResource cpu: only the named container's level and request
    # TestReplicaCalcContainerScaleUp (container2)
    "ContainerScaleUp": Case(3, 30, container([300, 500, 700]), 5, 50, 500),
    # TestReplicaCalcScaleUpContainerHotCpuLessScale (container2)
    "ScaleUpContainerHotCpuLessScale": Case(3, 30, container([300, 500, 700], start=[HOT, COOL, COOL]),
                                            4, 60, 600),
    # TestReplicaCalcMissingContainerMetricScaleUpIgnoresFailedPods (container2 absent from pods 2, 3)
    "MissingContainerMetricScaleUpIgnoresFailedPods": Case(
        2, 30, container([500, 700, None, None], ready=[T, T, Fa, Fa], phase=[R, R, F, F]), 4, 60, 600),
    # TestReplicaCalcScaleUpContainerIgnoresFailedPods (container2)
    "ScaleUpContainerIgnoresFailedPods": Case(2, 30, container([500, 700], 4, ready=[T, T, Fa, Fa],
                                                               phase=[R, R, F, F]), 4, 60, 600),
    # TestReplicaCalcScaleUpContainerIgnoresDeletionPods (container1)
    "ScaleUpContainerIgnoresDeletionPods": Case(2, 30, container([500, 700], 4, ready=[T, T, Fa, Fa],
                                                                 deleting=[Fa, Fa, T, T]), 4, 60, 600),
    # TestReplicaCalcContainerScaleDown (container2)
    "ContainerScaleDown": Case(5, 50, container([100, 300, 500, 250, 250]), 3, 28, 280),
    # TestReplicaCalcScaleDownContainerExcludeUnreadyPods (container2)
    "ScaleDownContainerExcludeUnreadyPods": Case(5, 50, container([100, 300, 500, 250, 250],
                                                                  ready=[T, T, T, Fa, Fa]), 2, 30, 300),
    # TestReplicaCalcScaleDownContainerExcludeUnscheduledPods (container2)
    "ScaleDownContainerExcludeUnscheduledPods": Case(5, 50, container([100, 300, 500, 250, 250],
                                                                      ready=[T, Fa, Fa, Fa, Fa],
                                                                      phase=[R, P, P, P, P]), 1, 10, 100),
    # TestReplicaCalcScaleDownContainerIgnoreHotCpuPods (container2)
    "ScaleDownContainerIgnoreHotCpuPods": Case(5, 50, container([100, 300, 500, 1000, 1000],
                                                                start=[COOL, COOL, COOL, HOT, HOT]), 2, 30, 300),
    # TestReplicaCalcScaleDownContainerIgnoresFailedPods (container2)
    "ScaleDownContainerIgnoresFailedPods": Case(5, 50, container([100, 300, 500, 250, 250], 7,
                                                                 ready=[T] * 5 + [Fa, Fa], phase=[R] * 5 + [F, F]),
                                                3, 28, 280),
    # TestReplicaCalcScaleDownIgnoresDeletionPods_StillRunning (container2)
    "ScaleDownIgnoresDeletionPods_StillRunning": Case(5, 50, container([100, 300, 500, 250, 250], 7,
                                                                       ready=[T] * 5 + [Fa, Fa],
                                                                       deleting=[Fa] * 5 + [T, T]), 3, 28, 280),
}

ERROR_CASES = {
    # TestReplicaCalcDisjointResourcesMetrics: the only sample is for a pod no longer listed
    "DisjointResourcesMetrics": (1, 100, [pod(None)], (2 * 100,), "no metrics returned matched known pods"),
    # TestReplicaCalcEmptyMetrics
    "EmptyMetrics": (4, 100, [pod(None), pod(None), pod(None), pod(None, None)], (),
                     "no metrics returned from resource metrics API"),
    # TestReplicaCalcEmptyCPURequest
    "EmptyCPURequest": (1, 100, [pod(2 * 200, None)], (), "missing request for"),
}


def calculate(case: Case) -> hpa.CpuRecommendation:
    return hpa.cpu_utilization_replicas(
        case.current, case.pods, case.target,
        tolerance=case.tolerances or hpa.Tolerances(0.1, 0.1),
        cpu_initialization_period_s=INIT_S, initial_readiness_delay_s=DELAY_S,
        unmatched_usage_m=case.unmatched)


def test_the_table_holds_every_upstream_cpu_utilization_case():
    assert len(POD_CASES) == 33 and len(CONTAINER_CASES) == 11 and len(ERROR_CASES) == 3


@pytest.mark.parametrize("name", [*POD_CASES, *CONTAINER_CASES])
def test_replica_calculator_matches_upstream(name):
    case = POD_CASES.get(name) or CONTAINER_CASES[name]
    got = calculate(case)
    assert (got.replicas, got.utilization, got.raw_average_m) == (case.replicas, case.utilization, case.raw_m), \
        got.reason


@pytest.mark.parametrize("name", list(ERROR_CASES))
def test_replica_calculator_refuses_like_upstream(name):
    current, target, listed, unmatched, message = ERROR_CASES[name]
    with pytest.raises(ValueError, match=message):
        hpa.cpu_utilization_replicas(current, listed, target, cpu_initialization_period_s=INIT_S,
                                     initial_readiness_delay_s=DELAY_S, unmatched_usage_m=unmatched)


# --- pod grouping: the readiness rules of groupPods (TestGroupPods, CPU cases) ------------------

@pytest.mark.parametrize("sample,group", [
    # "unready a pod without ready condition - CPU"
    (hpa.PodSample(1, 1, ready=None, phase=hpa.SUCCEEDED, started_s_ago=0), hpa.UNREADY),
    # "count in a ready pod with fresh metrics during initialization period - CPU"
    (hpa.PodSample(1, 1, phase=hpa.SUCCEEDED, started_s_ago=60, ready_changed_s_ago=30,
                   metric_s_ago=0, metric_window_s=30), hpa.READY),
    # "unready a ready pod without fresh metrics during initialization period - CPU"
    (hpa.PodSample(1, 1, phase=hpa.SUCCEEDED, started_s_ago=60, ready_changed_s_ago=30,
                   metric_s_ago=0, metric_window_s=60), hpa.UNREADY),
    # "unready an unready pod during initialization period - CPU" (10 min old, so the 2 min period is over)
    (hpa.PodSample(1, 1, ready=False, phase=hpa.SUCCEEDED, started_s_ago=600, ready_changed_s_ago=594,
                   metric_s_ago=LONG_AGO), hpa.UNREADY),
    # "count in a ready pod without fresh metrics after initialization period - CPU"
    (hpa.PodSample(1, 1, phase=hpa.SUCCEEDED, started_s_ago=180, ready_changed_s_ago=180,
                   metric_s_ago=120), hpa.READY),
    # "count in an unready pod that was ready after initialization period - CPU"
    (hpa.PodSample(1, 1, ready=False, phase=hpa.SUCCEEDED, started_s_ago=600, ready_changed_s_ago=540,
                   metric_s_ago=LONG_AGO), hpa.READY),
    # "unready pod that has never been ready after initialization period - CPU"
    (hpa.PodSample(1, 1, ready=False, phase=hpa.SUCCEEDED, started_s_ago=600, ready_changed_s_ago=590,
                   metric_s_ago=LONG_AGO), hpa.READY),
    # "a missing pod"
    (hpa.PodSample(None, 1, ready=None, phase=hpa.SUCCEEDED, started_s_ago=180), hpa.MISSING),
    # "pending pods are unreadied"
    (hpa.PodSample(None, 1, ready=None, phase=hpa.PENDING, started_s_ago=None), hpa.UNREADY),
    # "ignore pods with deletion timestamps"
    (hpa.PodSample(1, 1, ready=None, phase=hpa.PENDING, deleting=True), hpa.IGNORED),
    # "ignore pods in a failed state"
    (hpa.PodSample(1, 1, ready=None, phase=hpa.FAILED), hpa.IGNORED),
])
def test_pod_groups_match_upstream(sample, group):
    assert hpa.pod_group(sample, INIT_S, DELAY_S) == group


# --- horizontal.go without behavior (facts of the code, not upstream test cases) ----------------

@pytest.mark.parametrize("current,limit", [(0, 4), (1, 4), (2, 4), (3, 6), (10, 20)])
def test_scale_up_limit_is_double_or_four(current, limit):
    assert hpa.scale_up_limit(current) == limit


@pytest.mark.parametrize("current,desired,lo,hi,expected", [
    (3, 24, 1, 100, 6),   # the scale-up limit binds
    (3, 24, 1, 5, 5),     # maxReplicas binds first
    (1, 9, 1, 10, 4),     # from 1 pod, at most 4
    (6, 0, 2, 10, 2),     # minReplicas
    (6, 4, 1, 10, 4),
])
def test_limit_replicas(current, desired, lo, hi, expected):
    assert hpa.limit_replicas(current, desired, lo, hi) == expected


def idle(n):
    return [hpa.PodSample(usage_m=20, request_m=200) for _ in range(n)]


def busy(n):
    return [hpa.PodSample(usage_m=400, request_m=200) for _ in range(n)]


def test_scale_down_waits_for_the_stabilization_window():
    auto = hpa.HorizontalAutoscaler(target_percent=50, max_replicas=10)
    assert auto.reconcile(0, 6, idle(6)) == 6       # the count at first sight is a recommendation too
    assert auto.last.replicas == 2                  # what the calculator wants
    assert auto.reconcile(15, 6, idle(6)) == 6
    assert auto.reconcile(299, 6, idle(6)) == 6
    assert auto.reconcile(301, 6, idle(6)) == 2     # every proposal in the last 5 minutes says 2


def test_the_window_keeps_the_highest_recent_proposal():
    auto = hpa.HorizontalAutoscaler(target_percent=50, max_replicas=10)
    assert auto.reconcile(0, 4, busy(4)) == 8       # wants 16, at most 2 × 4
    assert auto.reconcile(15, 8, idle(8)) == 10     # idle now, but 16 was proposed 15 s ago
    assert auto.reconcile(301, 10, idle(10)) == 2   # 16 has left the window


def test_scale_up_is_immediate_but_capped():
    auto = hpa.HorizontalAutoscaler(target_percent=50, max_replicas=20)
    assert auto.reconcile(0, 2, busy(2)) == 4       # wants 8, at most max(2 × 2, 4)
    assert auto.reconcile(15, 4, busy(4)) == 8      # wants 16, at most 8


def test_bounds_apply_before_any_metric():
    auto = hpa.HorizontalAutoscaler(target_percent=50, min_replicas=2, max_replicas=5)
    assert auto.reconcile(0, 0, []) == 0            # scaled to zero: autoscaling is off
    assert auto.reconcile(0, 7, []) == 5
    assert auto.reconcile(0, 1, []) == 2


@pytest.mark.parametrize("current,util,target,lo,hi", [
    (1, 200, 50, 1, 10), (3, 120, 50, 1, 10), (4, 54, 50, 1, 10), (4, 56, 50, 1, 10),
    (10, 10, 50, 1, 10), (5, 46, 50, 1, 10), (2, 1000, 50, 1, 10), (6, 0, 50, 1, 10),
    (2, 150, 80, 2, 15),  # lesson 03's example
])
def test_the_simple_formula_is_the_all_ready_special_case(current, util, target, lo, hi):
    """With every pod ready and reporting, the full calculator agrees with ``desired_replicas``."""
    same = [hpa.PodSample(usage_m=util * 10, request_m=1000) for _ in range(current)]
    full = hpa.cpu_utilization_replicas(current, same, target).replicas
    assert max(lo, min(hi, full)) == hpa.desired_replicas(current, util, target, lo, hi)
