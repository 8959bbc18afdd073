"""A rolling update creates revision 2; `kubectl rollout undo` brings back revision 1's template."""

import subprocess

import pytest
from kubernetes import client

from scalelab import k8s

from .helpers import deployment, eventually, fresh_namespace

pytestmark = pytest.mark.cluster


def rolled_out(apps: client.AppsV1Api, ns: str, name: str) -> bool:
    return k8s.rollout_status(apps.api_client, ns, name)[0]


def test_rolling_update_then_undo(api, cluster):
    ns = fresh_namespace(api, "test-rollout")
    apps = client.AppsV1Api(api)
    k8s.apply_objects(api, [deployment("stream-api", "stream-api:v1", replicas=3)], ns)
    eventually(lambda: rolled_out(apps, ns, "stream-api"), 120, "v1 to roll out")

    k8s.apply_objects(api, [deployment("stream-api", "stream-api:v2", replicas=3)], ns)
    eventually(lambda: rolled_out(apps, ns, "stream-api"), 120, "v2 to roll out")
    d = apps.read_namespaced_deployment("stream-api", ns)
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert d.spec.template.spec.containers[0].image == "stream-api:v2"

    subprocess.run(["kubectl", "--context", cluster.context, "-n", ns, "rollout", "undo", "deployment/stream-api"],
                   check=True, capture_output=True)
    eventually(lambda: rolled_out(apps, ns, "stream-api") and apps.read_namespaced_deployment(
        "stream-api", ns).spec.template.spec.containers[0].image == "stream-api:v1", 120, "the undo to roll out")
    d = apps.read_namespaced_deployment("stream-api", ns)
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "3"  # revision 1 comes back as 3
    pods = client.CoreV1Api(api).list_namespaced_pod(ns, label_selector="app=stream-api").items
    assert {p.spec.containers[0].image for p in pods if not p.metadata.deletion_timestamp} == {"stream-api:v1"}
    k8s.delete_namespace(api, ns)
