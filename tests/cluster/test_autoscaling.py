"""The real HPA controller scales a Deployment on emulated CPU, up and back down."""

import pytest
from kubernetes import client

from scalelab import k8s

from .helpers import deployment, eventually, fresh_namespace, running_pods, spread_cpu

pytestmark = pytest.mark.cluster


def hpa(name: str) -> dict:
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1, "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 5,
                                       "policies": [{"type": "Percent", "value": 100, "periodSeconds": 5}]}},
        },
    }


def test_hpa_scales_up_with_load_and_down_after_it(api):
    ns = fresh_namespace(api, "test-hpa")
    k8s.apply_objects(api, [deployment("stream-api", "stream-api:v1", cpu="200m"), hpa("stream-api")], ns)
    apps, autoscaling = client.AppsV1Api(api), client.AutoscalingV2Api(api)

    # 800m of load over pods requesting 200m each: the controller's formula gives
    # ceil(n * (800/n/200) / 0.5) = 8 replicas, whatever n is now.
    eventually(lambda: apps.read_namespaced_deployment("stream-api", ns).spec.replicas >= 8, 240,
               "the HPA to scale stream-api to 8 replicas",
               between=lambda: spread_cpu(api, ns, "stream-api", 800), interval=2)
    status = autoscaling.read_namespaced_horizontal_pod_autoscaler("stream-api", ns).status
    assert status.current_metrics[0].resource.current.average_utilization >= 50

    eventually(lambda: len(running_pods(api, ns, "stream-api")) >= 8, 120, "8 running pods",
               between=lambda: spread_cpu(api, ns, "stream-api", 800), interval=2)

    # Load falls to 20m in total: one replica is enough, after the short stabilization window.
    eventually(lambda: apps.read_namespaced_deployment("stream-api", ns).spec.replicas == 1, 240,
               "the HPA to scale stream-api back to 1 replica",
               between=lambda: spread_cpu(api, ns, "stream-api", 20), interval=2)
    k8s.delete_namespace(api, ns)
