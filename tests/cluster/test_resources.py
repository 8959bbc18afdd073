"""Admission and scheduling decisions made by the real apiserver and scheduler."""

import pytest
from kubernetes import client

from scalelab import k8s

from .helpers import deployment, eventually, fresh_namespace

pytestmark = pytest.mark.cluster


def pod(name: str, cpu: str | None = None) -> dict:
    resources = {"requests": {"cpu": cpu}} if cpu else {}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "app", "image": "stream-api:v1", "resources": resources}]}}


def test_limitrange_injects_default_requests_and_limits(api):
    ns = fresh_namespace(api, "test-limitrange")
    k8s.apply_objects(api, [{
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults"},
        "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": "150m", "memory": "128Mi"},
                             "default": {"cpu": "300m", "memory": "256Mi"}}]},
    }, pod("no-resources")], ns)
    spec = client.CoreV1Api(api).read_namespaced_pod("no-resources", ns).spec.containers[0].resources
    assert spec.requests == {"cpu": "150m", "memory": "128Mi"}
    assert spec.limits == {"cpu": "300m", "memory": "256Mi"}
    k8s.delete_namespace(api, ns)


def test_resourcequota_rejects_extra_pods_with_the_admission_error(api):
    ns = fresh_namespace(api, "test-quota")
    k8s.apply_objects(api, [{
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "team"},
        "spec": {"hard": {"requests.cpu": "1", "pods": "10"}},
    }], ns)
    core = client.CoreV1Api(api)
    eventually(lambda: (core.read_namespaced_resource_quota("team", ns).status.hard or {}).get("pods"), 30,
               "the quota controller to publish the quota status")

    # Four pods of 400m would need 1600m: the ReplicaSet gets two, the rest are refused.
    k8s.apply_objects(api, [deployment("stream-api", "stream-api:v1", replicas=4, cpu="400m")], ns)

    def refused() -> str:
        events = core.list_namespaced_event(ns).items
        return next((e.message for e in events if e.reason == "FailedCreate" and "exceeded quota" in e.message), "")

    message = eventually(refused, 60, "a FailedCreate event about the quota")
    assert "requests.cpu" in message
    pods = core.list_namespaced_pod(ns, label_selector="app=stream-api").items
    assert len(pods) == 2

    with pytest.raises(client.ApiException) as err:  # the same error, straight from admission
        k8s.apply_objects(api, [pod("one-too-many", cpu="400m")], ns)
    assert err.value.status == 403 and "exceeded quota: team" in err.value.body
    k8s.delete_namespace(api, ns)


def test_pod_bigger_than_any_node_stays_pending_with_failed_scheduling(api):
    ns = fresh_namespace(api, "test-scheduling")
    k8s.apply_objects(api, [pod("too-big", cpu="200")], ns)
    core = client.CoreV1Api(api)

    def failed_scheduling() -> str:
        events = core.list_namespaced_event(ns, field_selector="involvedObject.name=too-big").items
        return next((e.message for e in events if e.reason == "FailedScheduling"), "")

    message = eventually(failed_scheduling, 60, "a FailedScheduling event")
    assert "Insufficient cpu" in message
    assert core.read_namespaced_pod("too-big", ns).status.phase == "Pending"
    k8s.delete_namespace(api, ns)
