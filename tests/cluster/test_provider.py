"""The provider's promises: guarded contexts, idempotent `up`, and a doctor that sees a stopped cluster."""

import subprocess

import pytest
import yaml
from kubernetes import client

from scalelab import doctor, guard, kube, needs
from scalelab.cluster.kwok import KwokProvider
from scalelab.errors import ClusterShapeError, ContextNotAllowedError
from scalelab.lesson import Lesson
from scalelab.progress import Progress

pytestmark = pytest.mark.cluster


def test_cluster_is_ready_for_the_lessons(api, cluster):
    nodes = client.CoreV1Api(api).list_node().items
    assert len(nodes) == cluster.expected_nodes() >= 4
    assert {n.metadata.labels["scalelab.dev/pool"] for n in nodes} >= {"onprem", "cloud"}
    version = client.VersionApi(api).get_code().git_version
    assert version == "v1.36.1"
    top = subprocess.run(["kubectl", "--context", cluster.context, "top", "nodes"], capture_output=True, text=True)
    assert top.returncode == 0, top.stderr
    assert nodes[0].metadata.name in top.stdout


def test_guard_refuses_a_foreign_context_pointing_at_a_real_apiserver(cluster, monkeypatch, tmp_path):
    # A context the learner made by hand, even one pointing at this very apiserver, is refused.
    config = yaml.safe_load(open(kube.kubeconfig_files()))
    ours = next(c for c in config["contexts"] if c["name"] == cluster.context)
    config["contexts"].append({"name": "team-prod", "context": dict(ours["context"])})
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv(guard.ALLOW_ENV, raising=False)

    with pytest.raises(ContextNotAllowedError) as err:
        kube.api_client("team-prod")
    assert f"export {guard.ALLOW_ENV}=team-prod" in err.value.fix

    monkeypatch.setenv(guard.ALLOW_ENV, "team-prod")
    assert client.VersionApi(kube.api_client("team-prod")).get_code().git_version == "v1.36.1"


def test_up_twice_is_a_no_op(cluster):
    pid_before = cluster.apiserver_pid()
    assert cluster.up(Progress(quiet=True)) is False
    assert cluster.apiserver_pid() == pid_before
    assert kube.current_context() == cluster.context  # kubectl in another shell sees the tutorial cluster


def test_up_with_another_config_on_a_running_cluster_says_how_to_switch(cluster, api):
    """`scalelab up --config one-node` beside the running fleet is refused with the recreate command,
    and changes nothing: the fleet is not mixed with another one."""
    from kubernetes import client

    from scalelab.cluster.select import provider_by_name
    from scalelab.errors import ScaleLabError

    nodes_before = sorted(n.metadata.name for n in client.CoreV1Api(api).list_node().items)
    other = provider_by_name(cluster.name, cluster.cluster, "one-node")
    with pytest.raises(ScaleLabError) as err:
        other.up(Progress(quiet=True))
    assert f"--config one-node describes {other.expected_nodes()}" in err.value.problem
    assert "scalelab down && scalelab up --config one-node" in err.value.fix
    assert sorted(n.metadata.name for n in client.CoreV1Api(api).list_node().items) == nodes_before
    assert provider_by_name(cluster.name, cluster.cluster, "fleet").up(Progress(quiet=True)) is False  # same shape


def test_every_notebook_fits_the_default_fleet_and_a_missing_pool_stops_the_first_cell(api, cluster):
    shape = needs.read_shape(api)
    assert needs.check_all(shape, cluster.name) == ([], "")
    gpu = needs.Needs("shape-test", pools=("gpu",), why="it trains a model")
    with pytest.raises(ClusterShapeError) as err:
        Lesson.start("shape-test", need=gpu)
    assert str(err.value).startswith("shape test needs the gpu pool (it trains a model); this cluster has "
                                     f"{len(shape.schedulable)} schedulable nodes (pools cloud, onprem;")
    assert "shape-test" not in [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]


def test_doctor_reports_a_one_node_cluster_and_a_stopped_one_with_the_fix(cluster):
    # A second, throwaway cluster: stopping the shared one would disturb the other tests.
    other = KwokProvider(cluster.cluster + "-stopped", "one-node")
    quiet = Progress(quiet=True)
    other.up(quiet)
    try:
        checks = {c.name: c for c in doctor.run_checks(other)}
        assert checks["cluster"].status == doctor.OK
        assert checks["cluster shape"].status == doctor.FAIL
        assert "lab 4 needs the onprem and cloud pools, 2 zones and 2 schedulable nodes" in checks["cluster shape"].detail
        assert checks["cluster shape"].fix.startswith("`scalelab down && scalelab up --provider kwok`")
        other.stop(quiet)
        assert other.exists() and not other.running()
        checks = {c.name: c for c in doctor.run_checks(other)}
        assert checks["cluster"].status == doctor.FAIL
        assert "stopped" in checks["cluster"].detail and checks["cluster"].fix == "scalelab up"
        assert checks["metrics API"].status == doctor.FAIL
        assert "fix: scalelab up" in doctor.report(list(checks.values()))
    finally:
        other.down(quiet)
    assert not other.exists()
