"""The offline kind path's own pieces, without Docker: image list, pod network manifest, runc shim."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from scalelab import versions

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tools" / "offline-kind"


def build_module():
    spec = importlib.util.spec_from_file_location("offline_kind_build", HERE / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def normalized(image: str) -> str:
    return image if "." in image.split("/")[0] else "docker.io/" + image


def test_every_image_the_project_runs_is_built_offline():
    built = {normalized(i.name) for i in build_module().images()}
    used = set()
    for path in [*ROOT.glob("manifests/**/*.yaml"), *ROOT.glob("lessons/*.ipynb"), *ROOT.glob("labs/**/*.ipynb"),
                 *ROOT.glob("labs/**/*.yaml"), *ROOT.glob("scalelab/**/*.py")]:
        if "kwok" in path.name:
            continue  # kwok's fake nodes never pull their images
        used |= set(re.findall(r"(registry\.k8s\.io/[\w./-]+:[\w.-]+)", path.read_text()))
    assert used, "no image references found: the scan is broken"
    assert used <= built, f"not built by tools/offline-kind/build.py: {sorted(used - built)}"


def test_kubeadm_finds_its_control_plane_images_under_the_tags_it_expects():
    names = {i.name for i in build_module().images()}
    k = versions.KUBERNETES
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"):
        assert f"registry.k8s.io/{component}:{k}" in names
    assert f"registry.k8s.io/etcd:{versions.KUBEADM_ETCD.lstrip('v')}-0" in names
    assert f"registry.k8s.io/coredns/coredns:{versions.COREDNS}" in names
    assert f"registry.k8s.io/pause:{versions.PAUSE}" in names


def test_pod_network_manifest_is_one_kind_can_patch():
    text = (HERE / "podnet.yaml").read_text()
    assert "would you kindly patch this file" in text  # kind then adds CONTROL_PLANE_ENDPOINT
    docs = list(yaml.safe_load_all(text))
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    container = ds["spec"]["template"]["spec"]["containers"][0]
    assert isinstance(container["env"], list)  # kind's JSON patch appends to /env/-
    assert container["imagePullPolicy"] == "Never"
    assert normalized(container["image"]) in {normalized(i.name) for i in build_module().images()}
    assert ds["spec"]["template"]["spec"]["hostNetwork"] is True


def run_shim(tmp_path: Path, *args: str) -> None:
    env = dict(os.environ, SCALELAB_REAL_RUNC="/bin/true")
    subprocess.run([str(HERE / "runc-shim"), "--root", str(tmp_path / "state"), *args], env=env, check=True)


def caps(names: list[str]) -> dict:
    return {kind: list(names) for kind in ("bounding", "effective", "permitted")}


def test_runc_shim_drops_cap_sys_resource_from_create_and_exec(tmp_path):
    wanted = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"]
    (tmp_path / "config.json").write_text(json.dumps({"process": {"capabilities": caps(wanted)}, "root": {}}))
    run_shim(tmp_path, "create", "--bundle", str(tmp_path), "--pid-file", str(tmp_path / "pid"), "node-1")
    spec = json.loads((tmp_path / "config.json").read_text())
    assert spec["process"]["capabilities"] == caps(["CAP_CHOWN", "CAP_SYS_ADMIN"])

    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["sh"], "capabilities": caps(wanted)}))
    run_shim(tmp_path, "exec", "--process", str(process), "node-1")
    assert json.loads(process.read_text())["capabilities"] == caps(["CAP_CHOWN", "CAP_SYS_ADMIN"])


def test_runc_shim_leaves_other_commands_and_specs_alone(tmp_path):
    spec = {"process": {"capabilities": caps(["CAP_CHOWN"])}}
    (tmp_path / "config.json").write_text(json.dumps(spec))
    run_shim(tmp_path, "state", "node-1")
    run_shim(tmp_path, "create", "--bundle", str(tmp_path), "node-1")
    assert json.loads((tmp_path / "config.json").read_text()) == spec


def test_images_carry_scalelab_names_on_the_host_and_official_names_inside_the_node(tmp_path):
    import io
    import tarfile

    build = build_module()
    official = "registry.k8s.io/pause:3.10.2"
    host = build.host_name(official)
    assert not host.startswith("registry.k8s.io/") and official in host
    saved = tmp_path / "saved.tar"  # the layout `docker save` writes, with the host names
    with tarfile.open(saved, "w") as tar:
        for name, doc in (("manifest.json", [{"Config": "abc.json", "RepoTags": [host], "Layers": ["l1/layer.tar"]}]),
                          ("repositories", {host.rsplit(":", 1)[0]: {"3.10.2": "l1"}})):
            body = json.dumps(doc).encode()
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        layer = b"layer bytes"
        info = tarfile.TarInfo("l1/layer.tar")
        info.size = len(layer)
        tar.addfile(info, io.BytesIO(layer))
    out = tmp_path / "node.tar"
    build.retag_archive(saved, out, {host: official})
    with tarfile.open(out) as tar:
        assert json.load(tar.extractfile("manifest.json"))[0]["RepoTags"] == [official]
        assert json.load(tar.extractfile("repositories")) == {"registry.k8s.io/pause": {"3.10.2": "l1"}}
        assert tar.extractfile("l1/layer.tar").read() == b"layer bytes"


def test_the_node_build_makes_the_binaries_the_kwok_provider_shares_first():
    """`scalelab binaries` runs beside it (tools/suite.py) and waits for these instead of building them."""
    from scalelab import toolchain

    components = build_module().COMPONENTS
    shared = {c.name for c in (toolchain.KUBERNETES, toolchain.ETCD, toolchain.METRICS_SERVER)}
    assert {c.name for c in components[:3]} == shared
    assert toolchain.KWOK.name not in {c.name for c in components}
