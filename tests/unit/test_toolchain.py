"""The recipe that builds Kubernetes and etcd from the Go module proxy, checked on plain text."""

import hashlib
import os
import re
from pathlib import Path

import pytest

from scalelab import paths, toolchain, versions

ROOT = Path(__file__).resolve().parents[2]

K8S_GOMOD = """module k8s.io/kubernetes

go 1.26.0

require (
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
)
"""

ETCD_GOMOD = """module go.etcd.io/etcd/server/v3

replace (
\tgo.etcd.io/etcd/api/v3 => ../api
\tgo.etcd.io/etcd/client/v3 => ../client/v3
)

// Bad imports are sometimes causing attempts to pull that code.
replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY
replace go.etcd.io/tests/v3 => ./FORBIDDEN_DEPENDENCY
"""


def test_local_replaces_of_kubernetes_are_its_staging_modules():
    assert toolchain.local_replaces(K8S_GOMOD) == ["k8s.io/api", "k8s.io/client-go"]


def test_local_replaces_skip_etcd_forbidden_markers():
    assert toolchain.local_replaces(ETCD_GOMOD) == ["go.etcd.io/etcd/api/v3", "go.etcd.io/etcd/client/v3"]


def test_staging_tag_maps_v1_minor_patch_to_v0():
    assert toolchain.staging_tag("v1.36.1") == "v0.36.1"
    assert toolchain.staging_tag("v1.9.12") == "v0.9.12"


def test_wrapper_gomod_pins_each_replaced_module_to_a_tag():
    text = toolchain.wrapper_gomod("x.local/w", "k8s.io/kubernetes", "v1.36.1", {"k8s.io/api": "v0.36.1"})
    assert "require k8s.io/kubernetes v1.36.1" in text
    assert "\tk8s.io/api => k8s.io/api v0.36.1" in text
    assert "./staging" not in text


def test_version_ldflags_stamp_both_version_packages():
    flags = toolchain.version_ldflags("v1.36.1")
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {pkg}.gitVersion=v1.36.1" in flags
        assert f"-X {pkg}.gitMinor=36" in flags


def test_component_is_cached_only_when_complete(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALELAB_CACHE", str(tmp_path))
    comp = toolchain.ETCD
    comp.dir.mkdir(parents=True)
    (comp.dir / "etcd").write_text("")
    assert not comp.cached(), "a folder without the completion marker is a half-finished build"
    (comp.dir / ".complete").write_text("{}")
    assert comp.cached()
    assert comp.dir == paths.cache_dir() / "bin" / f"etcd-{comp.version}"


def test_official_download_urls_are_versioned():
    assert toolchain.KUBERNETES.downloads("kube-apiserver").url.endswith(
        f"/{toolchain.versions.KUBERNETES}/bin/linux/{toolchain.go_arch()}/kube-apiserver")
    assert toolchain.METRICS_SERVER.downloads("metrics-server") is None


def test_unreachable_download_falls_back_without_leaving_files(tmp_path, monkeypatch):
    def refuse(url, dest):
        raise OSError("Name or service not known")

    monkeypatch.setattr(toolchain, "_fetch", refuse)
    pins = {toolchain.KWOK.downloads(b).url: "0" * 64 for b in toolchain.KWOK.binaries}
    assert toolchain.try_download(toolchain.KWOK, tmp_path, toolchain.Progress(quiet=True), pins) is False
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def release_server(tmp_path):
    """A local HTTP server playing a release host: serves files from a folder, records each request."""
    import functools
    import http.server
    import threading

    root = tmp_path / "release"
    root.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()


def _served_component(base: str) -> toolchain.Component:
    return toolchain.Component("demo", "v1", ("alpha", "beta"), lambda b: toolchain.Download(f"{base}/{b}"),
                               lambda *a: None)


def test_a_download_matching_its_pin_is_installed(release_server, tmp_path):
    root, base, _ = release_server
    pins = {}
    for name in ("alpha", "beta"):
        (root / name).write_bytes(name.encode() * 100)
        pins[f"{base}/{name}"] = hashlib.sha256(name.encode() * 100).hexdigest()
    out = tmp_path / "out"
    out.mkdir()
    assert toolchain.try_download(_served_component(base), out, toolchain.Progress(quiet=True), pins) is True
    assert sorted(p.name for p in out.iterdir()) == ["alpha", "beta"]
    assert (out / "beta").read_bytes() == b"beta" * 100 and os.access(out / "beta", os.X_OK)


def test_a_download_that_differs_from_its_pin_is_deleted_and_refused(release_server, tmp_path, capsys):
    root, base, _ = release_server
    (root / "alpha").write_bytes(b"good")
    (root / "beta").write_bytes(b"tampered")
    pins = {f"{base}/alpha": hashlib.sha256(b"good").hexdigest(), f"{base}/beta": hashlib.sha256(b"good").hexdigest()}
    out = tmp_path / "out"
    out.mkdir()
    assert toolchain.try_download(_served_component(base), out, toolchain.Progress(), pins) is False
    assert list(out.iterdir()) == []  # not even the file that matched stays
    assert "pinned" in capsys.readouterr().err


def test_an_unpinned_download_is_never_fetched(release_server, tmp_path):
    root, base, requests = release_server
    (root / "alpha").write_bytes(b"a")
    (root / "beta").write_bytes(b"b")
    pins = {f"{base}/alpha": hashlib.sha256(b"a").hexdigest()}  # beta has no pin
    out = tmp_path / "out"
    out.mkdir()
    assert toolchain.try_download(_served_component(base), out, toolchain.Progress(quiet=True), pins) is False
    assert requests == [] and list(out.iterdir()) == []


def test_every_pin_is_a_sha256_of_a_url_scale_lab_downloads():
    urls = {c.downloads(b).url for c in (*toolchain.ALL, toolchain.KUBERNETES_NODE) for b in c.binaries
            if c.downloads(b) is not None}
    for url, digest in versions.DOWNLOAD_SHA256.items():
        assert url in urls and re.fullmatch(r"[0-9a-f]{64}", digest), url


def test_old_go_is_refused_with_the_fix(monkeypatch, tmp_path):
    fake = tmp_path / "go"
    fake.write_text("#!/bin/sh\necho go1.21.0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(toolchain.MissingToolError) as err:
        toolchain.go_binary()
    assert "go1.21.0" in str(err.value) and "install Go 1.26" in err.value.fix


def test_committed_kubernetes_wrapper_pins_the_release_and_every_staging_module():
    gomod = (toolchain.wrapper_dir("kubebuild") / "go.mod").read_text()
    assert f"require k8s.io/kubernetes {versions.KUBERNETES}" in gomod
    replaces = re.findall(r"^\s*(\S+) => (\S+) (\S+)$", gomod, flags=re.M)
    assert len(replaces) > 20 and all(a == b and tag == toolchain.staging_tag(versions.KUBERNETES)
                                      for a, b, tag in replaces)
    # What go.mod requires, go.sum holds a hash of (so -mod=readonly never resolves anything anew).
    gosum = (toolchain.wrapper_dir("kubebuild") / "go.sum").read_text()
    assert f"k8s.io/kubernetes {versions.KUBERNETES} h1:" in gosum
    tools = (toolchain.wrapper_dir("kubebuild") / "tools.go").read_text()
    for binary in toolchain.KUBERNETES.binaries + toolchain.KUBERNETES_NODE.binaries:
        assert f'"{toolchain.kubernetes_package(binary)}"' in tools


def test_committed_etcd_wrapper_pins_the_release():
    gomod = (toolchain.wrapper_dir("etcdbuild") / "go.mod").read_text()
    assert f"require go.etcd.io/etcd/server/v3 {versions.ETCD}" in gomod
    gosum = (toolchain.wrapper_dir("etcdbuild") / "go.sum").read_text()
    assert f"go.etcd.io/etcd/server/v3 {versions.ETCD} h1:" in gosum


def test_go_builds_never_rewrite_go_mod():
    assert "-mod=readonly" in toolchain.go_env()["GOFLAGS"].split()


def test_wrappers_are_shipped_with_the_package():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"gomod/*/*"' in text
