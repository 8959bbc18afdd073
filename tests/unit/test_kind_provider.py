"""The kind path cannot run on CI machines; check the commands it would run and its configs."""

import pytest
import yaml

from scalelab import versions
from scalelab.cluster import kind
from scalelab.errors import ScaleLabError


def test_create_command_pins_the_node_image_and_config():
    cfg = kind.config_path("default")
    assert kind.create_command("scalelab", cfg) == [
        "kind", "create", "cluster", "--name", "scalelab", "--config", str(cfg),
        "--image", versions.KIND_NODE_IMAGE, "--wait", "180s"]


def test_delete_and_start_commands():
    assert kind.delete_command("scalelab") == ["kind", "delete", "cluster", "--name", "scalelab"]
    assert kind.start_command("s", ["s-control-plane", "s-worker"]) == ["docker", "start", "s-control-plane", "s-worker"]


def test_unknown_config_names_the_choices():
    with pytest.raises(ScaleLabError) as err:
        kind.config_path("flet")
    assert "default" in err.value.fix and "one-node" in err.value.fix


@pytest.mark.parametrize("name,nodes", [("default", 4), ("fleet", 4), ("one-node", 1)])
def test_configs_have_fast_hpa_and_expected_nodes(name, nodes):
    path = kind.config_path(name)
    config = yaml.safe_load(path.read_text())
    assert config["kind"] == "Cluster" and kind.node_count(path) == nodes
    control_plane = config["nodes"][0]
    patch = yaml.safe_load(control_plane["kubeadmConfigPatches"][0])
    args = {a["name"]: a["value"] for a in patch["controllerManager"]["extraArgs"]}
    assert args["horizontal-pod-autoscaler-sync-period"] == "5s"


def test_the_default_is_the_fleet_whose_workers_span_pools_and_zones():
    assert kind.config_path(None) == kind.config_path("default") == kind.config_path("fleet")
    config = yaml.safe_load(kind.config_path(None).read_text())
    workers = [n["labels"] for n in config["nodes"] if n["role"] == "worker"]
    assert {w["scalelab.dev/pool"] for w in workers} == {"onprem", "cloud"}
    assert len({w["topology.kubernetes.io/zone"] for w in workers}) == 3


def test_kind_and_kwok_know_the_same_config_names():
    from scalelab.cluster import kwok

    assert set(kind.CONFIGS) == set(kwok.FLEETS) == {"default", "fleet", "one-node"}


def test_every_config_comments_each_field_for_learners():
    for name in set(kind.CONFIGS.values()):
        text = (kind.config_path(None).parent / name).read_text()
        for field in ("kind:", "nodes:", "role:", "labels:", "kubeadmConfigPatches:"):
            line = next(i for i, l in enumerate(text.splitlines()) if l.strip().startswith(("- " + field, field)))
            assert text.splitlines()[line - 1].strip().startswith("#"), f"{name}: {field} has no comment above it"


def test_metrics_server_manifest_has_the_flag_kind_needs():
    docs = list(yaml.safe_load_all(kind.metrics_server_manifest().read_text()))
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert "--kubelet-insecure-tls" in container["args"]
    assert container["image"] == versions.METRICS_SERVER_IMAGE
    assert any(d["kind"] == "APIService" and d["metadata"]["name"] == "v1beta1.metrics.k8s.io" for d in docs)


def test_missing_docker_says_how_to_fall_back(monkeypatch):
    monkeypatch.setattr(kind.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(kind, "docker_running", lambda: False)
    with pytest.raises(ScaleLabError) as err:
        kind.KindProvider("scalelab").create(kind.Progress(quiet=True))
    assert "--provider kwok" in err.value.fix


@pytest.mark.parametrize("present, env, expected", [
    ({versions.KIND_NODE_IMAGE, versions.OFFLINE_KIND_NODE_IMAGE}, None, versions.KIND_NODE_IMAGE),
    ({versions.OFFLINE_KIND_NODE_IMAGE}, None, versions.OFFLINE_KIND_NODE_IMAGE),
    (set(), None, versions.KIND_NODE_IMAGE),  # kind pulls the official image where a registry answers
    ({versions.OFFLINE_KIND_NODE_IMAGE}, "example/node:v1", "example/node:v1"),
])
def test_node_image_prefers_the_official_one_and_falls_back_to_the_offline_build(monkeypatch, present, env, expected):
    monkeypatch.setattr(kind, "image_present", lambda image: image in present)
    if env:
        monkeypatch.setenv("SCALELAB_KIND_IMAGE", env)
    else:
        monkeypatch.delenv("SCALELAB_KIND_IMAGE", raising=False)
    assert kind.node_image() == expected


def test_missing_kind_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(kind.shutil, "which", lambda name: None)
    monkeypatch.setenv("SCALELAB_CACHE", str(tmp_path))
    with pytest.raises(ScaleLabError) as err:
        kind.kind_binary()
    assert f"sigs.k8s.io/kind@{versions.KIND}" in err.value.fix


def test_auto_picks_kind_from_the_cache_as_the_doctor_does(monkeypatch, tmp_path):
    from scalelab import paths
    from scalelab.cluster import select

    monkeypatch.setattr(kind.shutil, "which", lambda name: None)  # kind is not on PATH
    monkeypatch.setenv("SCALELAB_CACHE", str(tmp_path))
    monkeypatch.setattr(kind, "docker_running", lambda: True)
    monkeypatch.setattr(select, "provider_by_name", lambda name, *a: _Named(name))
    assert select.choose_provider("auto").name == "kwok"  # no kind anywhere
    cached = paths.bin_dir("kind", versions.KIND) / "kind"
    cached.parent.mkdir(parents=True)
    cached.write_text("")
    assert kind.kind_binary() == str(cached)
    assert select.choose_provider("auto").name == "kind"


class _Named:
    def __init__(self, name):
        self.name = name

    def exists(self):
        return False
