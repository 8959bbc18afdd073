"""The rules checks judge by, without a cluster: Kubernetes' own arithmetic and what each answer does.

Every right answer written another way (0.2 for 200m, a limit without a
request, matchExpressions for matchLabels, a percentage for a count) must be
judged like its plain form, and every wrong one must name its object and field.
The same answers against a real control plane are in tests/labs/test_mutations.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kubernetes import client

from scalelab.checks import FAIL, PASS, LabSpec, Lab, Task, Wrong, run_check
from scalelab.checks import lab1_right_size as lab1
from scalelab.checks import lab2_viral_spike as lab2
from scalelab.checks import lab3_ship_v2 as lab3
from scalelab.checks import lab4_spread as lab4
from scalelab.checks import read


# --- a namespace's objects, served to the checks as the client library would ---------------------


class FakeCluster:
    """Stands in for CoreV1Api / AppsV1Api / PolicyV1Api: one namespace's objects, read-only."""

    def __init__(self, deployment=None, limit_ranges=(), quotas=(), pdbs=()):
        self.deployment, self.limit_ranges, self.quotas, self.pdbs = deployment, list(limit_ranges), list(quotas), list(pdbs)

    def __call__(self, _api=None):
        return self

    def read_namespaced_deployment(self, name, namespace):
        if self.deployment is None:
            raise client.ApiException(status=404, reason="Not Found")
        return self.deployment

    def list_namespaced_limit_range(self, namespace):
        return SimpleNamespace(items=self.limit_ranges)

    def list_namespaced_resource_quota(self, namespace):
        return SimpleNamespace(items=self.quotas)

    def list_namespaced_pod_disruption_budget(self, namespace):
        return SimpleNamespace(items=self.pdbs)

    def list_namespaced_replica_set(self, namespace, label_selector=None):
        return SimpleNamespace(items=[])

    def list_node(self):
        return SimpleNamespace(items=[client.V1Node(metadata=client.V1ObjectMeta(name=name, labels=labels))
                                      for name, labels in FLEET.items()])


FLEET = {"onprem-1": {"scalelab.dev/pool": "onprem", "topology.kubernetes.io/zone": "dc-1"},
         "onprem-2": {"scalelab.dev/pool": "onprem", "topology.kubernetes.io/zone": "dc-1"},
         "cloud-a-1": {"scalelab.dev/pool": "cloud", "topology.kubernetes.io/zone": "cloud-a"},
         "cloud-b-1": {"scalelab.dev/pool": "cloud", "topology.kubernetes.io/zone": "cloud-b"}}


@pytest.fixture
def cluster(monkeypatch):
    fake = FakeCluster()
    for api in ("CoreV1Api", "AppsV1Api", "PolicyV1Api"):
        monkeypatch.setattr(client, api, fake)
    return fake


LAB = SimpleNamespace(api=None, namespace="lab-1")


def deployment(resources=None, probe=None, replicas=12, strategy=None):
    container = client.V1Container(name="stream-api", image="x", readiness_probe=probe,
                                   resources=client.V1ResourceRequirements(**(resources or {})))
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name="stream-api"),
        spec=client.V1DeploymentSpec(replicas=replicas, selector=client.V1LabelSelector(match_labels={"app": "stream-api"}),
                                     strategy=strategy or client.V1DeploymentStrategy(type="RollingUpdate"),
                                     template=client.V1PodTemplateSpec(spec=client.V1PodSpec(containers=[container]))))


def limit_range(default=None, default_request=None, max_=None, name="container-defaults"):
    item = client.V1LimitRangeItem(type="Container", default=default, default_request=default_request, max=max_)
    return client.V1LimitRange(metadata=client.V1ObjectMeta(name=name), spec=client.V1LimitRangeSpec(limits=[item]))


def quota(**hard):
    return client.V1ResourceQuota(metadata=client.V1ObjectMeta(name="team-quota"),
                                  spec=client.V1ResourceQuotaSpec(hard={k.replace("_", "."): v for k, v in hard.items()}))


# --- requests and limits as the pods get them ---------------------------------------------------


def test_a_limit_without_a_request_makes_the_request_and_other_units_are_the_same_amount(cluster):
    c = deployment({"limits": {"cpu": "0.2", "memory": "134217728"}}).spec.template.spec.containers[0]
    res = read.effective_resources(LAB, c)
    assert (res.millicores("requests"), res.mebibytes("requests")) == (200, 128)
    assert res.requests == res.limits
    assert res.text("requests.cpu") == "200m (from resources.limits.cpu)"


def test_what_a_container_leaves_unset_comes_from_the_limitrange_defaults(cluster):
    cluster.limit_ranges = [limit_range(default={"cpu": "250m", "memory": "128Mi"},
                                        default_request={"cpu": "100m", "memory": "64Mi"})]
    c = deployment({"requests": {"cpu": "150m"}}).spec.template.spec.containers[0]
    res = read.effective_resources(LAB, c)
    assert res.millicores("requests") == 150 and res.millicores("limits") == 250
    assert res.mebibytes("requests") == 64 and res.source["requests.memory"] == "LimitRange container-defaults"


def test_lab1_requests_and_qos_accept_limits_only_and_other_units(cluster, monkeypatch):
    monkeypatch.setattr(lab1.settle, "rollout", lambda *a, **k: True)
    guaranteed = client.V1Pod(metadata=client.V1ObjectMeta(name="p"), status=client.V1PodStatus(qos_class="Guaranteed"))
    monkeypatch.setattr(lab1.read, "pods", lambda lab: [guaranteed])
    for resources in ({"limits": {"cpu": "200m", "memory": "128Mi"}},
                      {"requests": {"cpu": "0.2", "memory": "134217728"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
                      {"requests": {"cpu": "200m", "memory": "128M"}, "limits": {"cpu": "0.2", "memory": "128M"}}):
        cluster.deployment = deployment(resources)
        assert "requests cpu 200m" in lab1.check_requests(LAB), resources
        assert "Guaranteed" in lab1.check_qos(LAB), resources


def test_lab1_without_a_request_or_a_limit_or_a_limitrange_nothing_is_set(cluster):
    cluster.deployment = deployment({"limits": {"memory": "128Mi"}})
    with pytest.raises(Wrong, match=r"resources.requests.cpu is not set \(nor made by a limit"):
        lab1.check_requests(LAB)
    cluster.deployment = deployment({"requests": {"cpu": "200m", "memory": "128Mi"}})
    with pytest.raises(Wrong, match=r"resources.limits.cpu is not set"):
        lab1.check_qos(LAB)


def test_lab1_qos_names_the_limit_that_differs(cluster):
    cluster.deployment = deployment({"requests": {"cpu": "200m", "memory": "128Mi"},
                                     "limits": {"cpu": "500m", "memory": "128Mi"}})
    with pytest.raises(Wrong, match=r"limits.cpu is 500m but requests.cpu is 200m: that makes the pod Burstable"):
        lab1.check_qos(LAB)


def test_lab1_fit_judges_the_pools_the_pods_may_use(cluster, monkeypatch):
    monkeypatch.setattr(lab1.settle, "rollout", lambda *a, **k: True)
    monkeypatch.setattr(lab1.read, "pods", lambda lab: [])
    for dep in (spread_deployment({"scalelab.dev/pool": "onprem"}),
                spread_deployment(None, ("scalelab.dev/pool", "In", ["onprem", "cloud"]))):
        dep.spec.replicas = 12
        cluster.deployment = dep
        with pytest.raises(Wrong, match="the pods must run in the cloud pool, and only there"):
            lab1.check_fit(LAB)
    for dep in (spread_deployment({"scalelab.dev/pool": "cloud"}),
                spread_deployment(None, ("scalelab.dev/pool", "NotIn", ["onprem"]))):
        dep.spec.replicas = 12
        cluster.deployment = dep
        with pytest.raises(Wrong, match="only 0 of 12 pods exist"):  # past the pool rule: no pods in this fake
            lab1.check_fit(LAB)


# --- lab 1: the quota fits the service and no more ---------------------------------------------------


REFERENCE = {"requests": {"cpu": "200m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}


@pytest.mark.parametrize("hard", [
    {"pods": "16", "requests.cpu": "3", "requests.memory": "2Gi"},  # the reference
    {"pods": "16", "cpu": "3000m", "memory": "2147483648"},  # `cpu` and `memory` mean requests.cpu/memory
    {"pods": "16", "requests.cpu": "3.5", "cpu": "3", "requests.memory": "1920Mi"},  # both: the smaller applies
    {"pods": 16, "requests.cpu": "3", "requests.memory": "2Gi", "limits.cpu": "4", "limits.memory": "2Gi"},
])
def test_quota_in_every_correct_form_passes(cluster, hard):
    cluster.deployment = deployment(REFERENCE)
    cluster.quotas = [quota(**{k.replace(".", "_"): v for k, v in hard.items()})]
    assert "quota caps 16 pods" in lab1.check_quota(LAB)


@pytest.mark.parametrize("hard, resources, expect", [
    ({"pods": "16", "requests.cpu": "100", "requests.memory": "2Gi"}, REFERENCE,
     "spec.hard.requests.cpu is 100: room for 500 pods of 200m"),
    ({"pods": "16", "requests.cpu": "3", "requests.memory": "64Gi"}, REFERENCE, "spec.hard.requests.memory is 64Gi"),
    ({"pods": "16", "cpu": "2", "requests.memory": "2Gi"}, REFERENCE, "spec.hard.cpu is 2: 15 pods × 200m need 3 CPU"),
    ({"pods": "16", "requests.cpu": "3", "requests.memory": "2Gi", "limits.cpu": "1"}, REFERENCE,
     "spec.hard.limits.cpu is 1"),
    ({"pods": "16", "requests.cpu": "3", "requests.memory": "2Gi"}, {},
     "containers[stream-api].resources.requests.cpu is not set"),
])
def test_quota_wrong_answers_name_the_field(cluster, hard, resources, expect):
    cluster.deployment = deployment(resources)
    cluster.quotas = [quota(**{k.replace(".", "_"): v for k, v in hard.items()})]
    with pytest.raises(Wrong) as exc:
        lab1.check_quota(LAB)
    assert expect in str(exc.value)


def test_quota_judges_the_request_a_limitrange_gives_a_deployment_without_one(cluster):
    cluster.deployment = deployment({})
    cluster.limit_ranges = [limit_range(default={"cpu": "200m", "memory": "128Mi"},
                                        default_request={"cpu": "200m", "memory": "128Mi"})]
    cluster.quotas = [quota(pods="16", requests_cpu="3", requests_memory="2Gi")]
    assert "quota caps 16 pods" in lab1.check_quota(LAB)


def test_admission_refusals_are_told_apart_and_an_rbac_refusal_is_not_the_answer(monkeypatch):
    import json

    def refuse(message):
        def dry_run(lab, resources):
            exc = client.ApiException(status=403, reason="Forbidden")
            exc.body = json.dumps({"kind": "Status", "message": message})
            raise exc
        return dry_run

    monkeypatch.setattr(lab1, "_dry_run_pod", refuse('pods "x" is forbidden: maximum cpu usage per Container is 2, '
                                                     'but limit is 8001m'))
    assert lab1._admit(None, {})[1] == lab1.LIMITRANGE
    monkeypatch.setattr(lab1, "_dry_run_pod", refuse('pods "x" is forbidden: exceeded quota: team-quota, requested: '
                                                     'requests.cpu=8001m, used: requests.cpu=2400m, limited: '
                                                     'requests.cpu=3'))
    assert lab1._admit(None, {})[1] == lab1.QUOTA
    monkeypatch.setattr(lab1, "_dry_run_pod", refuse('pods is forbidden: User "alice" cannot create resource "pods" '
                                                     'in API group "" in the namespace "lab-1"'))
    with pytest.raises(client.ApiException):
        lab1._admit(None, {})  # run_check makes it CANNOT CHECK


# --- lab 2: a limit far above the request buys no capacity ---------------------------------------------


def test_the_replay_counts_a_pods_cpu_up_to_its_limit_but_at_most_the_models_burst():
    assert lab2.counted_limit_m(100, 250) == 250  # the reference: as before
    assert lab2.counted_limit_m(100, 1000) == 250
    assert lab2.counted_limit_m(200, 300) == 300


def test_a_spike_missed_with_a_clipped_limit_names_the_limit():
    verdict = {"dropped_percent": 40.0, "pod_minutes": 50, "peak_replicas": 2, "max_replicas": 2, "min_replicas": 2,
               "request_m": 100, "limit_m": 1000, "counted_m": 250}
    with pytest.raises(Wrong) as exc:
        lab2.judge(verdict)
    assert "hit spec.maxReplicas (2)" in str(exc.value)
    assert "containers[stream-api].resources.limits.cpu is 1000m" in str(exc.value)


def test_an_hpa_target_as_an_average_value_is_a_percentage_of_the_request():
    target = client.V2MetricTarget(type="AverageValue", average_value="70m")
    assert lab2.target_percent(target, 100) == pytest.approx(70)
    assert lab2.target_percent(client.V2MetricTarget(type="AverageValue", average_value="0.15"), 100) == pytest.approx(150)
    assert lab2.target_percent(client.V2MetricTarget(type="Utilization", average_utilization=70), None) == 70
    assert lab2.target_percent(client.V2MetricTarget(type="Value", value="1"), 100) is None


def test_lab2_request_accepts_a_limit_only_answer(cluster):
    cluster.deployment = deployment({"limits": {"cpu": "0.1", "memory": "128Mi"}}, replicas=None)
    assert lab2.check_request(LAB).startswith("requests 100m CPU, limit 100m")


# --- lab 3: strategy, probe and shipping --------------------------------------------------------------


def rolling(surge, unavailable):
    return client.V1DeploymentStrategy(type="RollingUpdate", rolling_update=client.V1RollingUpdateDeployment(
        max_surge=surge, max_unavailable=unavailable))


@pytest.mark.parametrize("surge, unavailable, expect", [
    (1, 0, (0, "maxUnavailable is 0")),
    ("25%", "20%", (0, "maxUnavailable is 20%")),  # 20% of 4 = 0.8, rounded down
    (1, "25%", (1, "maxUnavailable is 25%")),
    (1, 2, (2, "maxUnavailable is 2")),
    ("0%", "10%", (1, "maxSurge is 0%")),  # both resolve to 0: the controller takes one pod away anyway
])
def test_rollout_fenceposts_round_as_the_deployment_controller_does(surge, unavailable, expect):
    dep = deployment(replicas=4, strategy=rolling(surge, unavailable))
    got = lab3._unavailable(dep)
    assert got[0] == expect[0] and expect[1] in got[1]


def test_recreate_takes_every_pod():
    dep = deployment(replicas=4, strategy=client.V1DeploymentStrategy(type="Recreate"))
    assert lab3._unavailable(dep) == (4, "strategy.type is Recreate")


def http_probe(path, port="http", scheme=None):
    return client.V1Probe(http_get=client.V1HTTPGetAction(path=path, port=port, scheme=scheme), period_seconds=2)


@pytest.mark.parametrize("probe", [
    client.V1Probe(tcp_socket=client.V1TCPSocketAction(port="http")),
    client.V1Probe(tcp_socket=client.V1TCPSocketAction(port=8080)),
    http_probe("/Metrics"), http_probe("/Metrics", port=8080, scheme="HTTP"),
])
def test_probes_the_server_answers_pass(probe):
    assert lab3._probe_problem(deployment(probe=probe).spec.template.spec.containers[0]) is None


@pytest.mark.parametrize("probe, expect", [
    (None, "readinessProbe is not set"),
    (http_probe("/healthz"), "readinessProbe.httpGet.path is /healthz: the stream API answers GET /healthz with 400"),
    (http_probe(None), "httpGet.path is /:"),
    (http_probe("/metrics"), "httpGet.path is /metrics"),  # the server's path is /Metrics, case and all
    (http_probe("/Metrics", scheme="HTTPS"), "httpGet.scheme is HTTPS"),
    (client.V1Probe(tcp_socket=client.V1TCPSocketAction(port=9090)), "tcpSocket.port is 9090"),
])
def test_probes_that_never_pass_name_the_field(probe, expect):
    problem = lab3._probe_problem(deployment(probe=probe).spec.template.spec.containers[0])
    assert problem and expect in problem and problem.startswith("Deployment stream-api: ")


class Recalls:
    def __init__(self, record):
        self.record = record

    def recall(self, key):
        return self.record


SHIPPED = {"version": "v2", "lowest_ready": 4, "allowed_floor": 4, "stalled": False,
           "strategy": "strategy.rollingUpdate.maxUnavailable is 0", "probe_problem": None}


@pytest.mark.parametrize("change, expect", [
    ({"probe_problem": "Deployment stream-api: containers[stream-api].readinessProbe is not set: …"},
     "v2 was shipped while Deployment stream-api: containers[stream-api].readinessProbe is not set"),
    ({"lowest_ready": 2, "allowed_floor": 2, "strategy": "strategy.rollingUpdate.maxUnavailable is 2"},
     "ready pods fell to 2, below the floor of 3: requests were dropped. Deployment stream-api: "
     "spec.strategy.rollingUpdate.maxUnavailable is 2"),
    ({"lowest_ready": 3, "allowed_floor": 2, "strategy": "strategy.rollingUpdate.maxUnavailable is 2"},
     "which lets ready pods fall to 2, below the floor of 3. This time the new pods happened to be ready"),
    ({"lowest_ready": 1}, "ready pods fell to 1, below the floor of 3, although the strategy keeps at least 4"),
    ({"stalled": True}, "stalled"),
])
def test_each_way_of_shipping_below_the_floor_says_its_own_cause(change, expect):
    result = run_check(Task("ship-v2", "ship", lab3.check_ship, ("", "")), Recalls({**SHIPPED, **change}))
    assert result.state == FAIL and expect in result.message, result.message


def test_the_below_the_floor_messages_differ():
    messages = set()
    for change in ({"lowest_ready": 2, "allowed_floor": 2}, {"lowest_ready": 3, "allowed_floor": 2},
                   {"lowest_ready": 1}):
        messages.add(run_check(Task("s", "s", lab3.check_ship, ("", "")), Recalls({**SHIPPED, **change})).message)
    assert len(messages) == 3


def test_a_clean_ship_passes_and_an_old_record_asks_to_ship_again():
    assert run_check(Task("s", "s", lab3.check_ship, ("", "")), Recalls(SHIPPED)).state == PASS
    old = {k: v for k, v in SHIPPED.items() if k not in ("probe_problem", "strategy")}
    assert "ship v2 again" in run_check(Task("s", "s", lab3.check_ship, ("", "")), Recalls(old)).message


# --- selectors and PodDisruptionBudgets (labs 3 and 4) ------------------------------------------------


def selector(labels=None, *expressions):
    return client.V1LabelSelector(match_labels=labels, match_expressions=[
        client.V1LabelSelectorRequirement(key=k, operator=op, values=v) for k, op, v in expressions] or None)


@pytest.mark.parametrize("sel", [
    selector({"app": "stream-api"}),
    selector(None, ("app", "In", ["stream-api"])),
    selector(None, ("app", "In", ["stream-api", "stream-api-canary"])),
    selector({"app": "stream-api"}, ("tier", "DoesNotExist", None)),
])
def test_selectors_that_pick_the_stream_api_pods_are_right(sel):
    assert read.stream_api_selector_problem(sel, "spec.selector") is None


@pytest.mark.parametrize("sel, expect", [
    (None, "nothing (no selector)"),
    (selector({"app": "stream"}), "does not select the stream-api pods"),
    (selector({"app": "stream-api", "tier": "web"}), "does not select the stream-api pods"),
    (selector(None, ("app", "NotIn", ["stream-api"])), "does not select"),
    (selector(None, ("app", "Exists", None)), "selects other services' pods"),
    (client.V1LabelSelector(), "everything (an empty selector)"),
])
def test_selectors_that_miss_or_overreach_are_named(sel, expect):
    problem = read.stream_api_selector_problem(sel, "spec.selector")
    assert problem and expect in problem


def test_a_selector_is_judged_against_the_labels_the_pods_really_carry():
    sel = selector({"app": "stream-api", "tier": "web"})
    assert read.stream_api_selector_problem(sel, "spec.selector") is not None
    assert read.stream_api_selector_problem(sel, "spec.selector", {"app": "stream-api", "tier": "web"}) is None


def pdb(min_available=None, max_unavailable=None):
    return client.V1PodDisruptionBudget(metadata=client.V1ObjectMeta(name="stream-api"), spec=client.V1PodDisruptionBudgetSpec(
        min_available=min_available, max_unavailable=max_unavailable, selector=selector({"app": "stream-api"})))


@pytest.mark.parametrize("budget, pods, allowed", [
    (pdb(max_unavailable=1), 6, 1),
    (pdb(max_unavailable="16%"), 6, 1),  # 0.96 rounds up to 1
    (pdb(max_unavailable="17%"), 6, 2),  # 1.02 rounds up to 2
    (pdb(min_available=5), 6, 1),
    (pdb(min_available="83%"), 6, 1),  # 4.98 rounds up to 5
    (pdb(min_available="84%"), 6, 0),  # 5.04 rounds up to 6
    (pdb(min_available="100%"), 6, 0),
    (pdb(max_unavailable="25%"), 4, 1),
    (pdb(min_available="50%"), 4, 2),
])
def test_pdb_percentages_round_up_as_the_disruption_controller_does(budget, pods, allowed):
    assert read.disruptions_allowed(budget, pods)[0] == allowed


@pytest.mark.parametrize("budget", [pdb(max_unavailable=1), pdb(max_unavailable="16%"), pdb(min_available=5),
                                    pdb(min_available="83%")])
def test_lab4_pdb_right_in_every_form(cluster, budget):
    cluster.pdbs = [budget]
    assert "one stream-api pod at most" in lab4.check_pdb(LAB)


@pytest.mark.parametrize("budget, expect", [
    (pdb(min_available="90%"), "minAvailable 90% forbids every eviction"),
    (pdb(min_available="50%"), "minAvailable 50% lets a drain take 3 pods"),
    (pdb(max_unavailable="20%"), "maxUnavailable 20% lets a drain take 2 pods"),
    (pdb(max_unavailable=0), "forbids every eviction"),
])
def test_lab4_pdb_wrong_in_percentages_too(cluster, budget, expect):
    cluster.pdbs = [budget]
    with pytest.raises(Wrong) as exc:
        lab4.check_pdb(LAB)
    assert expect in str(exc.value) and "PodDisruptionBudget stream-api" in str(exc.value)


def spread_deployment(node_selector=None, *terms):
    dep = deployment(replicas=6)
    dep.spec.template.spec.node_selector = node_selector
    if terms:
        dep.spec.template.spec.affinity = client.V1Affinity(node_affinity=client.V1NodeAffinity(
            required_during_scheduling_ignored_during_execution=client.V1NodeSelector(node_selector_terms=[
                client.V1NodeSelectorTerm(match_expressions=[client.V1NodeSelectorRequirement(key=k, operator=op,
                                                                                              values=v)])
                for k, op, v in terms])))
    return dep


@pytest.mark.parametrize("dep, expect", [
    (spread_deployment({"scalelab.dev/pool": "onprem"}), "nodeSelector {'scalelab.dev/pool': 'onprem'} pins every pod "
                                                         "to the onprem pool"),
    (spread_deployment({"topology.kubernetes.io/zone": "cloud-a"}), "pins every pod to the cloud pool"),
    (spread_deployment(None, ("scalelab.dev/pool", "In", ["cloud"])), "allows only the cloud pool"),
    (spread_deployment(None, ("scalelab.dev/pool", "NotIn", ["onprem"])), "allows only the cloud pool"),
    (spread_deployment(None, ("topology.kubernetes.io/zone", "In", ["dc-1"])), "allows only the onprem pool"),
])
def test_lab4_any_way_of_pinning_one_pool_is_named(cluster, dep, expect):
    cluster.deployment = dep
    with pytest.raises(Wrong) as exc:
        lab4.check_spread(LAB)
    assert expect in str(exc.value)


@pytest.mark.parametrize("dep", [
    spread_deployment(None, ("scalelab.dev/pool", "In", ["onprem", "cloud"])),
    spread_deployment(None, ("scalelab.dev/pool", "Exists", None)),
    spread_deployment(None, ("scalelab.dev/pool", "In", ["onprem"]), ("scalelab.dev/pool", "In", ["cloud"])),  # ORed
])
def test_lab4_affinity_that_allows_both_pools_is_not_taken_for_pinning(cluster, dep):
    cluster.deployment = dep
    with pytest.raises(Wrong) as exc:  # the test's Deployment has no spread constraints: that is what is named
        lab4.check_spread(LAB)
    assert "has no constraint with topologyKey" in str(exc.value)


# --- the summary checks again ----------------------------------------------------------------------------


def test_summary_checks_again_instead_of_showing_a_stale_pass():
    state = {"ok": True, "slow_runs": 0, "judged": "a"}

    def quick(lab):
        if not state["ok"]:
            raise Wrong("spec.replicas is 6")
        return "fine"

    def slow(lab):
        state["slow_runs"] += 1
        return "replayed"

    spec = LabSpec(9, "09-x", "a lab", (Task("quick", "quick", quick, ("", "")),
                                        Task("slow", "slow", slow, ("", ""), fingerprint=lambda lab: state["judged"])),
                   starting_state="none.yaml")
    lab = Lab(spec, lesson=None, show=False)
    assert lab.check("quick", quiet=True).passed and lab.check("slow", quiet=True).passed
    state["ok"] = False
    text = lab.summary()
    assert "not yet  quick" in text and "1/2 tasks pass" in text
    assert state["slow_runs"] == 1  # unchanged since its check: its verdict still holds, no second replay
    state["judged"] = "b"
    lab.summary()
    assert state["slow_runs"] == 2  # what it judged changed: checked again


def test_remembering_a_key_keeps_the_keys_remembered_before(monkeypatch):
    from scalelab.checks import lab as lab_module

    stored: dict[str, str] = {}

    class ConfigMaps:
        def __init__(self, _api=None):
            pass

        def read_namespaced_config_map(self, name, namespace):
            if not stored:
                raise client.ApiException(status=404, reason="Not Found")
            return client.V1ConfigMap(data=dict(stored))

    def apply_objects(api, objects, namespace=None):
        (body,) = objects
        stored.clear()
        stored.update(body["data"])  # what server-side apply leaves: exactly the applied map
        return ["ConfigMap/" + body["metadata"]["name"]]

    monkeypatch.setattr(client, "CoreV1Api", ConfigMaps)
    monkeypatch.setattr(lab_module.k8s, "apply_objects", apply_objects)
    spec = LabSpec(9, "09-x", "a lab", (), starting_state="none.yaml")
    lab = Lab(spec, lesson=SimpleNamespace(api=None), show=False)
    lab.remember("ship-v2", {"version": "v2"})
    lab.remember("ship-v3", {"version": "v3"})
    assert lab.recall("ship-v2") == {"version": "v2"} and lab.recall("ship-v3") == {"version": "v3"}
