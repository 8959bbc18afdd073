"""The context guard refuses contexts Scale Lab did not create, and says how to opt in."""

import pytest

from scalelab import guard
from scalelab.errors import ContextNotAllowedError


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALELAB_CACHE", str(tmp_path))
    monkeypatch.delenv(guard.ALLOW_ENV, raising=False)


def test_foreign_context_is_refused_with_the_opt_in_command():
    with pytest.raises(ContextNotAllowedError) as err:
        guard.check("prod-eu-west")
    assert "prod-eu-west" in err.value.problem
    assert f"export {guard.ALLOW_ENV}=prod-eu-west" in err.value.fix


def test_created_context_is_allowed_until_forgotten():
    guard.remember("kwok-scalelab")
    assert guard.check("kwok-scalelab") == "kwok-scalelab"
    guard.forget("kwok-scalelab")
    with pytest.raises(ContextNotAllowedError):
        guard.check("kwok-scalelab")


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
