"""The kwok provider's generated configuration, checked without starting anything."""

from pathlib import Path

import pytest

from scalelab.cluster import kwok
from scalelab.errors import ScaleLabError

BINARIES = {name: Path(f"/cache/{name}") for name in
            ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kwok", "metrics-server")}


def config() -> list[dict]:
    return kwok.kwokctl_config(BINARIES, "/venv/bin/kubectl", Path("/cache/ms"))


def test_every_binary_is_local_so_kwokctl_never_downloads():
    options = config()[0]["options"]
    assert options["runtime"] == "binary"
    for key in ("kubeApiserverBinary", "kubeControllerManagerBinary", "kubeSchedulerBinary", "etcdBinary",
                "kwokControllerBinary", "metricsServerBinary", "kubectlBinary"):
        assert options[key].startswith("/"), key
    assert options["metricsServerManifests"] == ["/cache/ms"]


def test_components_listen_on_loopback_only():
    assert config()[0]["options"]["bindAddress"] == "127.0.0.1"


def test_controller_manager_evaluates_hpas_every_5s():
    patches = {p["name"]: p["extraArgs"] for p in config()[0]["componentsPatches"]}
    assert {"key": "horizontal-pod-autoscaler-sync-period", "value": "5s"} in patches["kube-controller-manager"]
    assert patches["metrics-server"][0]["value"].startswith("Hostname")


def test_cpu_usage_comes_from_the_pod_annotation():
    docs = {d["kind"]: d for d in config()[1:]}
    cpu = docs["ClusterResourceUsage"]["spec"]["usages"][0]["usage"]["cpu"]["expression"]
    assert '"kwok.x-k8s.io/usage-cpu"' in cpu
    names = {m["name"] for m in docs["Metric"]["spec"]["metrics"]}
    assert {"container_cpu_usage_seconds_total", "node_cpu_usage_seconds_total"} <= names


def test_fleet_has_pools_zones_and_the_metrics_path_annotation():
    provider = kwok.KwokProvider("x")
    nodes = [d for d in kwok.k8s.load_manifests(provider.fleet) if d["kind"] == "Node"]
    assert provider.expected_nodes() == len(nodes) == 6
    assert {n["metadata"]["labels"]["scalelab.dev/pool"] for n in nodes} == {"onprem", "cloud"}
    assert len({n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes}) == 3
    for n in nodes:
        path = n["metadata"]["annotations"]["metrics.k8s.io/resource-metrics-path"]
        assert path == f"/metrics/nodes/{n['metadata']['name']}/metrics/resource"
        assert int(n["status"]["allocatable"]["cpu"]) >= 4


def test_one_node_fleet_is_one_node_without_pools_the_labs_need():
    provider = kwok.KwokProvider("x", "one-node")
    nodes = [d for d in kwok.k8s.load_manifests(provider.fleet) if d["kind"] == "Node"]
    assert provider.expected_nodes() == len(nodes) == 1
    assert nodes[0]["metadata"]["labels"]["scalelab.dev/pool"] == "laptop"


def test_unknown_fleet_file_is_named_in_the_error():
    with pytest.raises(ScaleLabError) as err:
        kwok.fleet_path("no-such-fleet.yaml")
    assert "no-such-fleet.yaml" in err.value.problem


def test_metrics_server_scrapes_every_10s_with_a_shorter_request_timeout():
    args = {a["key"]: a["value"] for p in config()[0]["componentsPatches"] if p["name"] == "metrics-server"
            for a in p["extraArgs"]}
    assert args["metric-resolution"] == "10s"
    assert int(args["kubelet-request-timeout"].rstrip("s")) < 10  # metrics-server panics otherwise


def test_a_crashed_component_ends_the_wait_with_its_log():
    from scalelab.cluster import readiness
    from scalelab.progress import Progress

    with pytest.raises(readiness.ComponentCrashed) as err:
        readiness.wait_ready(api=None, expected_nodes=1, progress=Progress(quiet=True), timeout=60,
                             health=lambda: "metrics-server exited; last lines: panic: ...", logs="/logs")
    assert "metrics-server exited" in err.value.problem and "/logs" in err.value.fix
