"""What only real containers do: burned CPU, throttling, OOMKills, the HPA on real CPU, real readiness.

Run on a kind cluster (`make test-kind`, SCALELAB_TEST_PROVIDER=kind); on the
kwok session these tests are deselected, since kwok has no processes to measure.
"""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from scalelab import k8s
from scalelab.traffic import ResourceConsumerCPU

from ..cluster.helpers import eventually, fresh_namespace, running_pods

pytestmark = [pytest.mark.cluster, pytest.mark.kind]
IMAGE = ResourceConsumerCPU.IMAGE


def consumer(name: str, cpu_request: str, cpu_limit: str, replicas: int = 1) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
                     "name": "app", "image": IMAGE, "ports": [{"containerPort": 8080}],
                     "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 2},
                     "resources": {"requests": {"cpu": cpu_request, "memory": "32Mi"},
                                   "limits": {"cpu": cpu_limit, "memory": "256Mi"}}}]}}},
    }


@pytest.fixture
def ready_consumer(api, request):
    def make(name: str, cpu_request: str, cpu_limit: str) -> tuple[str, client.V1Pod]:
        ns = fresh_namespace(api, f"kind-{name}")
        request.addfinalizer(lambda: k8s.delete_namespace(api, ns))
        k8s.apply_objects(api, [consumer(name, cpu_request, cpu_limit)], ns)
        pods = eventually(lambda: [p for p in running_pods(api, ns, name) if k8s.pod_is_ready(p)],
                          180, f"a ready {name} pod")
        return ns, pods[0]
    return make


def steady_millicores(api: client.ApiClient, ns: str, pod: client.V1Pod, millicores: int) -> float:
    """Burn ``millicores`` in the pod; once metrics-server sees the burn, wait two scrapes and read it."""
    driver = ResourceConsumerCPU(api)
    try:
        driver.apply([pod], millicores)
        eventually(lambda: k8s.pod_cpu(api, ns).get(pod.metadata.name, 0) > 100, 180,
                   "metrics-server to report the burn", interval=3)
        time.sleep(25)  # two 10 s scrapes later: a steady reading, not the ramp
        return k8s.pod_cpu(api, ns).get(pod.metadata.name, 0.0)
    finally:
        driver.stop()


def test_burned_cpu_is_what_metrics_server_reports(api, ready_consumer):
    ns, pod = ready_consumer("burner", "100m", "1")
    seen = steady_millicores(api, ns, pod, 300)
    assert 220 < seen < 400, f"asked for 300m, metrics-server reports {seen:.0f}m"


def test_a_cpu_limit_throttles_instead_of_killing(api, ready_consumer):
    ns, pod = ready_consumer("throttled", "100m", "200m")
    seen = steady_millicores(api, ns, pod, 600)
    assert 150 < seen < 240, f"a 200m limit let a 600m burn show as {seen:.0f}m"
    status = client.CoreV1Api(api).read_namespaced_pod(pod.metadata.name, ns).status
    assert status.container_statuses[0].restart_count == 0


def test_hpa_scales_out_on_really_burned_cpu(api, ready_consumer):
    ns, pod = ready_consumer("autoscaled", "100m", "500m")
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "autoscaled"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "autoscaled"},
                    "minReplicas": 1, "maxReplicas": 4,
                    "metrics": [{"type": "Resource", "resource": {
                        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}}
    k8s.apply_objects(api, [hpa], ns)
    driver = ResourceConsumerCPU(api)
    apps = client.AppsV1Api(api)
    try:
        # 200m on a 100m request is 200 % against a 50 % target: the controller wants 4 pods.
        driver.apply([pod], 200)
        eventually(lambda: apps.read_namespaced_deployment("autoscaled", ns).spec.replicas >= 2, 240,
                   "the HPA to add pods on real CPU", interval=3)
    finally:
        driver.stop()


def test_a_memory_limit_gets_the_container_oomkilled(api):
    """A container whose process allocates past its memory limit is killed by the kernel: OOMKilled.

    The allocating process is the container's own (stress, shipped in the consumer image): on a
    cgroup v1 host the kernel kills only the process that overflows, so a side process of a
    long-lived server would die without the container being reported as OOMKilled.
    """
    ns = fresh_namespace(api, "kind-hungry")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hungry"},
           "spec": {"restartPolicy": "Never", "containers": [{
               "name": "app", "image": IMAGE,
               "command": ["stress", "--vm", "1", "--vm-bytes", "400M", "--vm-hang", "0", "-t", "60"],
               "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                             "limits": {"cpu": "200m", "memory": "128Mi"}}}]}}
    try:
        k8s.apply_objects(api, [pod], ns)
        core = client.CoreV1Api(api)

        def termination():
            statuses = core.read_namespaced_pod("hungry", ns).status.container_statuses or []
            state = statuses[0].state.terminated if statuses else None
            return state and state.reason
        assert eventually(termination, 120, "the container to be killed") == "OOMKilled"
    finally:
        k8s.delete_namespace(api, ns)


def test_a_rolling_update_waits_for_real_readiness(api, ready_consumer):
    """maxUnavailable 0: the old pod serves until the new one's readiness probe really passes."""
    ns, _ = ready_consumer("rolled", "50m", "200m")
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.patch_namespaced_deployment("rolled", ns, {"spec": {
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {"spec": {"containers": [{"name": "app", "env": [{"name": "VERSION", "value": "2"}],
                                              "readinessProbe": {"tcpSocket": {"port": 8080},
                                                                 "initialDelaySeconds": 8, "periodSeconds": 2}}]}}}})
    lowest, started = 1, time.monotonic()
    while not k8s.rollout_status(api, ns, "rolled")[0]:
        ready = sum(1 for p in core.list_namespaced_pod(ns, label_selector="app=rolled").items
                    if p.status.container_statuses and all(c.ready for c in p.status.container_statuses))
        lowest = min(lowest, ready)
        assert time.monotonic() - started < 180, "the rollout did not finish in 180 s"
        time.sleep(0.5)
    took = time.monotonic() - started
    assert lowest >= 1, "a moment with no ready pod during a maxUnavailable=0 rollout"
    assert took >= 8, f"the rollout finished in {took:.1f} s, before the new pod's 8 s readiness delay"
