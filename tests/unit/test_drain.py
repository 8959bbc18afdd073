"""Which node maintenance drains, and what the drain evicts, on plain objects (no cluster).

The fleet below is kind's default one: a control plane with the static pods,
CoreDNS and metrics-server, one on-prem worker and two cloud workers.
"""

import pytest
from kubernetes import client

from scalelab import k8s


def node(name, pool=None, control_plane=False, cordoned=False):
    labels = {"kubernetes.io/hostname": name}
    if pool:
        labels["scalelab.dev/pool"] = pool
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
    return client.V1Node(metadata=client.V1ObjectMeta(name=name, labels=labels),
                         spec=client.V1NodeSpec(unschedulable=cordoned))


def pod(name, on, namespace="lesson-05", owner="ReplicaSet", labels=None, empty_dir=False, mirror=False):
    owners = [client.V1OwnerReference(api_version="apps/v1", kind=owner, name="x", uid="u", controller=True)] \
        if owner else None
    annotations = {"kubernetes.io/config.mirror": "abc"} if mirror else None
    volumes = [client.V1Volume(name="tmp", empty_dir=client.V1EmptyDirVolumeSource())] if empty_dir else None
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, namespace=namespace, owner_references=owners,
                                     labels=labels if labels is not None else {"app": "stream-api"},
                                     annotations=annotations),
        spec=client.V1PodSpec(node_name=on, containers=[], volumes=volumes),
        status=client.V1PodStatus(phase="Running"))


NODES = [node("cp", control_plane=True), node("onprem-1", "onprem"), node("cloud-a", "cloud"), node("cloud-b", "cloud")]
SYSTEM = [pod("kube-apiserver-cp", "cp", "kube-system", owner="Node", labels={}, mirror=True),
          pod("coredns-1", "cp", "kube-system", labels={"k8s-app": "kube-dns"}),
          pod("kube-proxy-1", "cloud-a", "kube-system", owner="DaemonSet", labels={}),
          pod("kube-proxy-2", "cloud-b", "kube-system", owner="DaemonSet", labels={})]
APP = {"app": "stream-api"}


def test_the_busiest_drainable_node_of_the_pool_is_chosen():
    pods = SYSTEM + [pod("a1", "cloud-a"), pod("b1", "cloud-b"), pod("b2", "cloud-b"),
                     pod("o1", "onprem-1"), pod("o2", "onprem-1"), pod("o3", "onprem-1")]
    assert k8s.choose_node_to_drain(NODES, pods, "lesson-05", APP, pool="cloud") == "cloud-b"
    # Without a pool, on-prem has the most pods but is the pool's only node: its pods would have nowhere to go.
    assert k8s.choose_node_to_drain(NODES, pods, "lesson-05", APP) == "cloud-b"


def test_a_node_running_cluster_add_ons_or_the_control_plane_is_never_chosen():
    metrics = pod("metrics-server-1", "cloud-b", "kube-system", labels={"k8s-app": "metrics-server"}, empty_dir=True)
    on_cp = pod("s1", "cp")  # e.g. a one-node cluster: the pods run on the control plane
    pods = SYSTEM + [metrics, on_cp, pod("a1", "cloud-a"), pod("b1", "cloud-b"), pod("b2", "cloud-b"),
                     pod("b3", "cloud-b")]
    assert k8s.choose_node_to_drain(NODES, pods, "lesson-05", APP, pool="cloud") == "cloud-a"
    assert k8s.why_not_drain(NODES[0], [p for p in pods if p.spec.node_name == "cp"], NODES) == "control plane"
    assert "metrics-server-1" in k8s.why_not_drain(NODES[3], [metrics], NODES)


def test_no_safe_node_is_refused_with_the_reason_for_each():
    pods = SYSTEM + [pod("s1", "cp"), pod("o1", "onprem-1")]
    with pytest.raises(k8s.DrainRefused) as refused:
        k8s.choose_node_to_drain(NODES, pods, "lesson-05", APP)
    assert "cp: control plane" in str(refused.value)
    assert "onprem-1: the only schedulable node of pool onprem" in str(refused.value)


def test_the_drain_plan_evicts_what_kubectl_drain_would_and_refuses_the_rest():
    pods = [pod("web-1", "w"), pod("proxy", "w", owner="DaemonSet"), pod("etcd-w", "w", owner="Node", mirror=True),
            pod("bare", "w", owner=None), pod("cache", "w", empty_dir=True)]
    evict, refused = k8s.drain_plan(pods)
    assert [p.metadata.name for p in evict] == ["web-1"]
    assert refused == ["lesson-05/bare declares no controller (kubectl drain needs --force)",
                       "lesson-05/cache has local storage, an emptyDir (kubectl drain needs --delete-emptydir-data)"]
    evict, refused = k8s.drain_plan(pods[:2] + pods[4:], delete_emptydir_data=True)
    assert [p.metadata.name for p in evict] == ["web-1", "cache"] and refused == []
