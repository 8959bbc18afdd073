"""Every task's check catches realistic wrong answers with the intended hint, on the real control plane.

Each case starts from the reference solution, applies one named mistake the
way a learner would (``Lab.apply_docs``: the same all-or-nothing path as the
notebook), runs the task's check and expects it to fail with a message that
names the mistake. Cases the API server itself refuses expect that refusal,
with nothing applied. The right answers written another way (other units,
percentages, a limit without a request, matchExpressions, another API version)
must pass. A final test checks that no check passes on an empty namespace.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from kubernetes import client

from scalelab import k8s
from scalelab.checks import FAIL, LABS, PASS, Lab, run_check
from scalelab.checks import lab3_ship_v2 as lab3
from scalelab.checks import settle
from scalelab.checks.lab import labs_dir, read_answer
from scalelab.errors import ScaleLabError

pytestmark = pytest.mark.cluster
DELETE = object()


def edit(path: str, value: Any, kind: str = "Deployment") -> Callable[[list[dict]], list[dict]]:
    """A mutation that sets (or, with DELETE, removes) a dotted path like ``spec.x[0].y`` in the ``kind`` document."""
    def mutate(docs: list[dict]) -> list[dict]:
        docs = copy.deepcopy(docs)
        doc = next(d for d in docs if d["kind"] == kind)
        parts = [k.replace("\\.", ".") for k in re.findall(r"(?:\\\.|[^.\[\]])+", path)]  # "a\\.b" keeps its dot
        keys = [int(k) if k.isdigit() else k for k in parts]
        node = doc
        for key in keys[:-1]:
            node = node[key]
        if value is DELETE:
            node.pop(keys[-1], None) if isinstance(node, dict) else node.pop(keys[-1])
        else:
            node[keys[-1]] = value
        return docs
    return mutate


def replace(kind: str, doc: dict) -> Callable[[list[dict]], list[dict]]:
    """A mutation that swaps the ``kind`` document for ``doc`` (a whole object written another way)."""
    def mutate(docs: list[dict]) -> list[dict]:
        return [copy.deepcopy(doc) if d["kind"] == kind else copy.deepcopy(d) for d in docs]
    return mutate


def chain(*mutations: Callable) -> Callable:
    def mutate(docs: list[dict]) -> list[dict]:
        for m in mutations:
            docs = m(docs)
        return docs
    return mutate


@dataclass(frozen=True)
class Case:
    lab: int
    name: str
    task: str
    file: str
    mutate: Callable[[list[dict]], list[dict]] | None
    expect: str  # a fragment of the hint (or of the API server's refusal, when refused=True)
    refused: bool = False  # the API server refuses the file: nothing may be applied
    action: Callable[[Lab], None] | None = None  # what the learner then does (ship, roll back…)
    before: Callable[[Lab], None] | None = None  # another change made before this file is applied
    also: tuple[tuple[str, Callable[[list[dict]], list[dict]]], ...] = ()  # other files edited first


@dataclass(frozen=True)
class Right:
    """A right answer written another way: every task in ``tasks`` must pass."""

    lab: int
    name: str
    tasks: tuple[str, ...]
    file: str
    mutate: Callable[[list[dict]], list[dict]]
    also: tuple[tuple[str, Callable[[list[dict]], list[dict]]], ...] = ()
    action: Callable[[Lab], None] | None = None


C0 = "spec.template.spec.containers[0]"
RES = f"{C0}.resources"
SPREAD = "spec.template.spec.topologySpreadConstraints"

CASES = [
    # --- lab 1: right-size ------------------------------------------------------------------
    # Without a request or a limit a container gets the LimitRange's defaultRequest (limits.yaml is applied here).
    Case(1, "missing-cpu-request-gets-the-limitrange-default", "requests", "deployment.yaml",
         chain(edit(f"{RES}.requests.cpu", DELETE), edit(f"{RES}.limits.cpu", DELETE)),
         "requests.cpu is 100m (from LimitRange container-defaults), below the p95"),
    Case(1, "cpu-request-below-p95", "requests", "deployment.yaml",
         chain(edit(f"{RES}.requests.cpu", "50m"), edit(f"{RES}.limits.cpu", "50m")), "below the p95"),
    Case(1, "cpu-request-wasteful", "requests", "deployment.yaml",
         chain(edit(f"{RES}.requests.cpu", "1"), edit(f"{RES}.limits.cpu", "1")), "more than twice"),
    Case(1, "missing-memory-request-gets-the-limitrange-default", "requests", "deployment.yaml",
         chain(edit(f"{RES}.requests.memory", DELETE), edit(f"{RES}.limits.memory", DELETE)),
         "requests.memory is 64Mi (from LimitRange container-defaults), below the highest usage"),
    Case(1, "memory-request-below-peak", "requests", "deployment.yaml",
         chain(edit(f"{RES}.requests.memory", "64Mi"), edit(f"{RES}.limits.memory", "64Mi")), "OOMKilled"),
    Case(1, "limit-below-request", "qos", "deployment.yaml", edit(f"{RES}.limits.cpu", "100m"),
         "must be less than or equal to cpu limit", refused=True),
    Case(1, "burstable-cpu-limit-above-request", "qos", "deployment.yaml", edit(f"{RES}.limits.cpu", "500m"),
         "Burstable"),
    Case(1, "no-limits-and-the-limitrange-default-differs", "qos", "deployment.yaml",
         chain(edit(f"{RES}.limits", DELETE), edit(f"{RES}.requests.cpu", "180m")),
         "limits.cpu is 200m (from LimitRange container-defaults) but requests.cpu is 180m"),
    Case(1, "typo-in-field-name", "qos", "deployment.yaml",
         chain(edit(f"{RES}.limits", DELETE), edit(f"{RES}.limtis", {"cpu": "200m", "memory": "128Mi"})),
         'unknown field .spec.template.spec.containers[name="stream-api"].resources.limtis', refused=True),
    Case(1, "wrong-pool", "fit", "deployment.yaml", edit("spec.template.spec.nodeSelector",
                                                          {"scalelab.dev/pool": "onprem"}), "must run in the cloud"),
    Case(1, "too-few-replicas", "fit", "deployment.yaml", edit("spec.replicas", 6), "spec.replicas is 6"),
    Case(1, "requests-too-big-to-fit", "fit", "deployment.yaml",
         chain(edit(f"{RES}.requests.cpu", "1500m"), edit(f"{RES}.limits.cpu", "1500m")), "Pending",
         before=lambda lab: lab.kubectl("delete resourcequota team-quota")),  # else the quota refuses them first
    Case(1, "quota-refuses-the-replicas", "fit", "limits.yaml",
         edit("spec.hard.requests\\.cpu", "1", kind="ResourceQuota"), "The ReplicaSet says: pods",
         action=lambda lab: lab.kubectl("rollout restart deployment/stream-api")),
    Case(1, "limitrange-without-default-limits", "limitrange", "limits.yaml",
         edit("spec.limits[0].default", DELETE, kind="LimitRange"), "default.memory is not set"),
    Case(1, "limitrange-without-max", "limitrange", "limits.yaml",
         edit("spec.limits[0].max", DELETE, kind="LimitRange"), "max.cpu is not set"),
    Case(1, "quota-too-few-pods", "quota", "limits.yaml", edit("spec.hard.pods", "10", kind="ResourceQuota"),
         "no room for 12 replicas"),
    Case(1, "quota-too-generous", "quota", "limits.yaml", edit("spec.hard.pods", "100", kind="ResourceQuota"),
         "does not protect"),
    Case(1, "quota-without-cpu", "quota", "limits.yaml", edit("spec.hard.requests\\.cpu", DELETE,
                                                              kind="ResourceQuota"), "requests.cpu is not set"),
    Case(1, "limitrange-max-above-every-node", "limitrange", "limits.yaml",
         edit("spec.limits[0].max", {"cpu": "16"}, kind="LimitRange"), "max.cpu is 16, more than any node has"),
    Case(1, "limitrange-refusal-was-the-quotas", "limitrange", "limits.yaml",
         chain(edit("spec.limits[0].max", {"cpu": "64"}, kind="LimitRange"),
               edit("spec.hard.limits\\.cpu", "10", kind="ResourceQuota")), "only the ResourceQuota refused it"),
    Case(1, "limitrange-max-below-own-pods", "limitrange", "limits.yaml",
         edit("spec.limits[0]", {"type": "Container", "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
                                 "default": {"cpu": "100m", "memory": "128Mi"}, "max": {"cpu": "150m"}},
              kind="LimitRange"), "refuses the stream-api pods themselves"),
    Case(1, "quota-requests-cpu-unbounded", "quota", "limits.yaml",
         edit("spec.hard.requests\\.cpu", "100", kind="ResourceQuota"), "requests.cpu is 100: room for 500 pods"),
    Case(1, "quota-requests-memory-unbounded", "quota", "limits.yaml",
         edit("spec.hard.requests\\.memory", "64Gi", kind="ResourceQuota"), "requests.memory is 64Gi"),
    Case(1, "quota-while-deployment-requests-nothing", "quota", "deployment.yaml",
         edit(f"{RES}", DELETE), "containers[stream-api].resources.requests.cpu is not set",
         before=lambda lab: lab.kubectl("delete limitrange container-defaults")),
    # --- lab 2: viral spike --------------------------------------------------------------------
    # A limit alone would make the request (request = limit): without both, there is none.
    Case(2, "hpa-on-deployment-without-cpu-request", "request", "deployment.yaml",
         chain(edit(f"{RES}.requests", DELETE), edit(f"{RES}.limits.cpu", DELETE)), "requests.cpu is not set"),
    Case(2, "hpa-targets-wrong-deployment", "target", "hpa.yaml",
         edit("spec.scaleTargetRef.name", "stream-apI", kind="HorizontalPodAutoscaler"), "scaleTargetRef points at"),
    Case(2, "target-above-100-percent", "target", "hpa.yaml",
         edit("spec.metrics[0].resource.target.averageUtilization", 200, kind="HorizontalPodAutoscaler"),
         "averageUtilization is 200%"),
    Case(2, "single-replica-minimum", "target", "hpa.yaml",
         edit("spec.minReplicas", 1, kind="HorizontalPodAutoscaler"), "minReplicas is 1"),
    Case(2, "max-replicas-too-low", "spike", "hpa.yaml",
         edit("spec.maxReplicas", 4, kind="HorizontalPodAutoscaler"), "hit spec.maxReplicas (4)"),
    Case(2, "min-replicas-blows-budget", "spike", "hpa.yaml",
         chain(edit("spec.minReplicas", 16, kind="HorizontalPodAutoscaler")), "budget exceeded"),
    Case(2, "limit-far-above-request-fixed-size-hpa", "spike", "hpa.yaml",
         edit("spec.maxReplicas", 2, kind="HorizontalPodAutoscaler"), "resources.limits.cpu is 1000m",
         also=(("deployment.yaml", edit(f"{RES}.limits.cpu", "1")),)),
    # --- lab 3: ship v2 -------------------------------------------------------------------------
    Case(3, "max-unavailable-too-high", "strategy", "deployment.yaml",
         edit("spec.strategy.rollingUpdate.maxUnavailable", 2), "maxUnavailable is 2"),
    Case(3, "recreate-strategy", "strategy", "deployment.yaml",
         edit("spec.strategy", {"type": "Recreate"}), "strategy.type is Recreate"),
    Case(3, "no-progress-deadline", "strategy", "deployment.yaml",
         edit("spec.progressDeadlineSeconds", 600), "progressDeadlineSeconds is 600"),
    Case(3, "no-readiness-probe", "probe", "deployment.yaml", edit(f"{C0}.readinessProbe", DELETE),
         "readinessProbe is not set"),
    Case(3, "probe-on-wrong-port", "probe", "deployment.yaml",
         edit(f"{C0}.readinessProbe.tcpSocket.port", 9090), "readinessProbe.tcpSocket.port is 9090"),
    Case(3, "httpget-probe-on-a-path-answering-400", "probe", "deployment.yaml",
         edit(f"{C0}.readinessProbe", {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2}),
         "readinessProbe.httpGet.path is /healthz: the stream API answers GET /healthz with 400"),
    Case(3, "pdb-selects-nothing", "pdb", "pdb.yaml",
         edit("spec.selector.matchLabels", {"app": "stream"}, kind="PodDisruptionBudget"), "must select"),
    Case(3, "pdb-blocks-every-eviction", "pdb", "pdb.yaml",
         edit("spec.maxUnavailable", 0, kind="PodDisruptionBudget"), "allows no pod to be evicted"),
    Case(3, "shipped-with-max-unavailable-2", "ship-v2", "deployment.yaml",
         edit("spec.strategy.rollingUpdate.maxUnavailable", 2),
         "Deployment stream-api: spec.strategy.rollingUpdate.maxUnavailable is 2",
         action=lambda lab: lab3.ship(lab, "v2")),
    Case(3, "shipped-before-adding-a-probe", "ship-v2", "deployment.yaml", edit(f"{C0}.readinessProbe", DELETE),
         "v2 was shipped while Deployment stream-api: containers[stream-api].readinessProbe is not set",
         action=lambda lab: lab3.ship(lab, "v2")),
    Case(3, "broken-v3-left-running", "rollback", "deployment.yaml", None, "still runs v3",
         action=lambda lab: (lab3.ship(lab, "v2"), lab3.ship(lab, "v3"))),
    Case(3, "rolled-back-too-far", "rollback", "deployment.yaml", None, "not v2",
         action=lambda lab: (lab3.ship(lab, "v2"), lab3.ship(lab, "v3"),
                             lab.kubectl("rollout undo deployment/stream-api --to-revision=1"))),
    # --- lab 4: spread --------------------------------------------------------------------------
    Case(4, "everything-in-one-pool-nodeselector", "spread", "deployment.yaml",
         edit("spec.template.spec.nodeSelector", {"scalelab.dev/pool": "onprem"}), "pins every pod"),
    Case(4, "affinity-to-one-pool", "spread", "deployment.yaml",
         edit("spec.template.spec.affinity", {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
             "nodeSelectorTerms": [{"matchExpressions": [{"key": "scalelab.dev/pool", "operator": "In",
                                                          "values": ["cloud"]}]}]}}}), "allows only the cloud pool"),
    Case(4, "affinity-notin-onprem", "spread", "deployment.yaml",
         edit("spec.template.spec.affinity", {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
             "nodeSelectorTerms": [{"matchExpressions": [{"key": "scalelab.dev/pool", "operator": "NotIn",
                                                          "values": ["onprem"]}]}]}}}), "allows only the cloud pool"),
    Case(4, "nodeselector-on-one-zone", "spread", "deployment.yaml",
         edit("spec.template.spec.nodeSelector", {"topology.kubernetes.io/zone": "cloud-a"}),
         "pins every pod to the cloud pool"),
    Case(4, "spread-by-hostname-only", "spread", "deployment.yaml",
         edit(SPREAD, [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
                        "labelSelector": {"matchLabels": {"app": "stream-api"}}}]), "no constraint with topologyKey"),
    Case(4, "spread-selector-matches-nothing", "spread", "deployment.yaml",
         edit(f"{SPREAD}[0].labelSelector.matchLabels", {"app": "streamapi"}), "counts nothing"),
    Case(4, "pool-spread-only-a-preference", "spread", "deployment.yaml",
         edit(f"{SPREAD}[0].whenUnsatisfiable", "ScheduleAnyway"), "only a preference"),
    Case(4, "max-skew-too-large", "spread", "deployment.yaml", edit(f"{SPREAD}[0].maxSkew", 4), "maxSkew is 4"),
    Case(4, "hard-zone-rule-fights-pool-rule", "spread", "deployment.yaml",
         edit(f"{SPREAD}[1].whenUnsatisfiable", "DoNotSchedule"), "Pending"),
    Case(4, "no-pdb-min-available-all", "pdb", "pdb.yaml",
         chain(edit("spec.maxUnavailable", DELETE, kind="PodDisruptionBudget"),
               edit("spec.minAvailable", 6, kind="PodDisruptionBudget")), "forbids every eviction"),
    Case(4, "pdb-allows-three-down", "drain", "pdb.yaml",
         edit("spec.maxUnavailable", 3, kind="PodDisruptionBudget"), "maxUnavailable 3"),
    Case(4, "pdb-min-available-half", "pdb", "pdb.yaml",
         chain(edit("spec.maxUnavailable", DELETE, kind="PodDisruptionBudget"),
               edit("spec.minAvailable", "50%", kind="PodDisruptionBudget")), "minAvailable 50% lets a drain take 3"),
    Case(4, "pdb-min-available-percent-rounds-up-to-all", "pdb", "pdb.yaml",
         chain(edit("spec.maxUnavailable", DELETE, kind="PodDisruptionBudget"),
               edit("spec.minAvailable", "90%", kind="PodDisruptionBudget")), "minAvailable 90% forbids every eviction"),
    Case(4, "pdb-max-unavailable-percent-rounds-up-to-two", "pdb", "pdb.yaml",
         edit("spec.maxUnavailable", "20%", kind="PodDisruptionBudget"), "maxUnavailable 20% lets a drain take 2"),
]

IN_STREAM_API = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["stream-api"]}]}
HPA_V1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "stream-api"},
          "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "stream-api"},
                   "minReplicas": 2, "maxReplicas": 20, "targetCPUUtilizationPercentage": 70}}

RIGHT = [
    # --- lab 1 --------------------------------------------------------------------------------------
    Right(1, "requests-in-cores-and-bytes", ("requests", "qos", "fit"), "deployment.yaml",
          chain(edit(f"{RES}.requests", {"cpu": "0.2", "memory": "134217728"}),
                edit(f"{RES}.limits", {"cpu": "200m", "memory": "128Mi"}))),
    Right(1, "limits-only-requests-follow", ("requests", "qos", "fit", "quota"), "deployment.yaml",
          edit(f"{RES}.requests", DELETE)),
    Right(1, "limits-from-the-limitrange-defaults", ("qos",), "deployment.yaml", edit(f"{RES}.limits", DELETE)),
    Right(1, "fit-by-node-affinity", ("fit",), "deployment.yaml",
          chain(edit("spec.template.spec.nodeSelector", DELETE),
                edit("spec.template.spec.affinity", {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "scalelab.dev/pool", "operator": "In",
                                                                 "values": ["cloud"]}]}]}}}))),
    Right(1, "limitrange-max-in-millicores", ("limitrange",), "limits.yaml",
          edit("spec.limits[0].max", {"cpu": "2000m"}, kind="LimitRange")),
    Right(1, "quota-with-cpu-and-memory-keys", ("quota", "limitrange"), "limits.yaml",
          edit("spec.hard", {"pods": "16", "cpu": "3000m", "memory": "2147483648"}, kind="ResourceQuota")),
    # --- lab 2 --------------------------------------------------------------------------------------
    Right(2, "request-and-limit-in-cores-survive-the-spike", ("request", "target", "spike"), "deployment.yaml",
          chain(edit(f"{RES}.requests.cpu", "0.1"), edit(f"{RES}.limits.cpu", "0.25"))),
    Right(2, "limit-only-deployment", ("request", "target"), "deployment.yaml",
          edit(f"{RES}", {"limits": {"cpu": "100m", "memory": "128Mi"}})),
    Right(2, "autoscaling-v1-hpa", ("target",), "hpa.yaml", replace("HorizontalPodAutoscaler", HPA_V1)),
    Right(2, "target-as-an-average-value", ("target",), "hpa.yaml",
          edit("spec.metrics[0].resource.target", {"type": "AverageValue", "averageValue": "70m"},
               kind="HorizontalPodAutoscaler")),
    Right(2, "target-as-a-container-resource", ("target",), "hpa.yaml",
          edit("spec.metrics", [{"type": "ContainerResource", "containerResource": {
              "name": "cpu", "container": "stream-api", "target": {"type": "Utilization", "averageUtilization": 70}}}],
               kind="HorizontalPodAutoscaler")),
    # --- lab 3 --------------------------------------------------------------------------------------
    Right(3, "max-unavailable-as-a-percentage", ("strategy",), "deployment.yaml",
          edit("spec.strategy.rollingUpdate", {"maxSurge": "25%", "maxUnavailable": "20%"})),
    Right(3, "httpget-probe-on-metrics", ("probe",), "deployment.yaml",
          edit(f"{C0}.readinessProbe", {"httpGet": {"path": "/Metrics", "port": 8080}, "periodSeconds": 2})),
    Right(3, "pdb-min-available-percent-match-expressions", ("pdb",), "pdb.yaml",
          chain(edit("spec.maxUnavailable", DELETE, kind="PodDisruptionBudget"),
                edit("spec.minAvailable", "75%", kind="PodDisruptionBudget"),
                edit("spec.selector", IN_STREAM_API, kind="PodDisruptionBudget"))),
    # --- lab 4 --------------------------------------------------------------------------------------
    Right(4, "pdb-max-unavailable-percent-match-expressions", ("pdb",), "pdb.yaml",
          chain(edit("spec.maxUnavailable", "16%", kind="PodDisruptionBudget"),
                edit("spec.selector", IN_STREAM_API, kind="PodDisruptionBudget"))),
    Right(4, "affinity-listing-both-pools", ("spread",), "deployment.yaml",
          edit("spec.template.spec.affinity", {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
              "nodeSelectorTerms": [{"matchExpressions": [{"key": "scalelab.dev/pool", "operator": "In",
                                                           "values": ["onprem", "cloud"]}]}]}}})),
    Right(4, "spread-selector-match-expressions", ("spread",), "deployment.yaml",
          chain(edit(f"{SPREAD}[0].labelSelector", IN_STREAM_API), edit(f"{SPREAD}[1].labelSelector", IN_STREAM_API))),
]


def solution(lab: Lab, filename: str) -> list[dict]:
    return read_answer(labs_dir() / "solutions" / lab.spec.folder / filename)


_labs: dict[int, Lab] = {}


@pytest.fixture(scope="module")
def labs(api):
    """One running lab per number, reset to its reference solution once; cleaned up at the end."""
    yield _labs
    for lab in _labs.values():
        lab.cleanup()
        if lab.spec.number == 2:
            k8s.delete_namespace(lab.api, "lab-2-replay")
    _labs.clear()


def running(labs: dict[int, Lab], number: int) -> Lab:
    if number not in labs:
        lab = Lab.start(number, show=False)
        labs[number] = lab
    return labs[number]


_changed_beyond_files: set[int] = set()


def restore(lab: Lab) -> None:
    """Back to the reference solution for every file (cheap when nothing changed: server-side apply).

    After a case that did more than edit a file (shipped a release, deleted the quota, restarted
    pods), only a fresh namespace is a known state: revisions are history, and pods admitted
    while the quota was gone still count against it.
    """
    fresh = lab.spec.number in _changed_beyond_files
    if fresh:
        lab.reset()
        _changed_beyond_files.discard(lab.spec.number)
    for name in sorted({f for t in lab.spec.tasks if not callable(t.solution) for f in t.solution}):
        lab.apply_docs(solution(lab, name), name, quiet=True)
        if fresh:
            # In a fresh namespace, one file at a time as the notebook goes, each rolled out first: on kind a
            # replaced pod lives on for its grace period, and a quota applied mid-rollout counts it and
            # refuses the new pods (the ReplicaSet then backs off for minutes).
            settle.rollout(lab, timeout=120)
    # Each wrong answer starts from the finished reference state, as a learner's edit would.
    assert settle.rollout(lab, timeout=120), "the reference solution did not roll out"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"lab{c.lab}-{c.name}")
def test_wrong_answer_is_caught_with_its_hint(case: Case, labs):
    lab = running(labs, case.lab)
    restore(lab)
    if case.before is not None or case.action is not None:
        _changed_beyond_files.add(case.lab)
    if case.before is not None:
        case.before(lab)
    for name, mutate in case.also:
        lab.apply_docs(mutate(solution(lab, name)), name, quiet=True)
    if case.mutate is not None:
        docs = case.mutate(solution(lab, case.file))
        if case.refused:
            before = client.AppsV1Api(lab.api).read_namespaced_deployment("stream-api", lab.namespace)
            with pytest.raises(ScaleLabError, match=re.escape(case.expect)) as refused:
                lab.apply_docs(docs, case.file, quiet=True)
            assert "nothing changed" in str(refused.value)
            after = client.AppsV1Api(lab.api).read_namespaced_deployment("stream-api", lab.namespace)
            assert after.metadata.generation == before.metadata.generation, "a refused file changed the cluster"
            return
        lab.apply_docs(docs, case.file, quiet=True)
    if case.action is not None:
        case.action(lab)
    result = run_check(lab.spec.task(case.task), lab)
    assert result.state == FAIL, f"{case.name}: expected a failed check, got {result}"
    assert case.expect in result.message, f"{case.name}: hint does not name the mistake: {result.message}"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("case", RIGHT, ids=lambda c: f"lab{c.lab}-right-{c.name}")
def test_right_answer_in_another_form_passes(case: Right, labs):
    lab = running(labs, case.lab)
    restore(lab)
    for name, mutate in case.also:
        lab.apply_docs(mutate(solution(lab, name)), name, quiet=True)
    lab.apply_docs(case.mutate(solution(lab, case.file)), case.file, quiet=True)
    if case.action is not None:
        _changed_beyond_files.add(case.lab)
        case.action(lab)
    results = [run_check(lab.spec.task(task), lab) for task in case.tasks]
    assert [r.state for r in results] == [PASS] * len(results), [str(r) for r in results]


def test_at_least_thirty_named_wrong_answers_covering_every_task():
    assert len(CASES) >= 30 and len({c.name for c in CASES}) == len(CASES)
    assert len({c.name for c in RIGHT}) == len(RIGHT)
    covered = {(c.lab, c.task) for c in CASES}
    missing = [(n, t.id) for n, spec in LABS.items() for t in spec.tasks if (n, t.id) not in covered]
    assert missing == [], missing  # every task has a wrong answer of its own


@pytest.mark.timeout(300)
@pytest.mark.parametrize("number", sorted(LABS))
def test_no_check_passes_on_an_empty_namespace(number, api):
    namespace = LABS[number].namespace
    k8s.delete_namespace(api, namespace)
    k8s.ensure_namespace(api, namespace)
    try:
        lab = Lab.join(number)
        results = lab.check_all(quiet=True)
        assert [r.state for r in results] == [FAIL] * len(results), [str(r) for r in results]
    finally:
        k8s.delete_namespace(api, namespace)
