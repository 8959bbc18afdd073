"""An opted-in cluster (SCALELAB_ALLOW_CONTEXT) gets namespaced work in tutorial namespaces only.

The session's cluster stands in for a learner's own practice cluster: its
kubeconfig is copied under another context name, which `scalelab up` never
recorded, and opted in.
"""

from __future__ import annotations

import pytest
import yaml
from kubernetes import client

from scalelab import guard, k8s, kube
from scalelab.errors import ContextNotAllowedError

pytestmark = pytest.mark.cluster


@pytest.fixture
def practice_api(api, tmp_path, monkeypatch):
    doc = yaml.safe_load(open(kube.kubeconfig_path()).read())
    current = doc["current-context"]
    for ctx in doc["contexts"]:
        if ctx["name"] == current:
            ctx["name"] = "my-practice"
    doc["current-context"] = "my-practice"
    path = tmp_path / "practice-kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.setenv(guard.ALLOW_ENV, "my-practice")
    practice = kube.api_client("my-practice")
    assert guard.is_opted_in(practice)
    return practice


def test_an_opted_in_cluster_refuses_to_delete_a_namespace_without_the_tutorial_label(api, practice_api):
    core = client.CoreV1Api(api)
    k8s.delete_namespace(api, "someone-elses-work")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="someone-elses-work")))
    try:
        with pytest.raises(ContextNotAllowedError) as err:
            k8s.delete_namespace(practice_api, "someone-elses-work")
        assert "scalelab.dev/tutorial" in err.value.problem
        assert core.read_namespace("someone-elses-work").status.phase == "Active"
    finally:
        k8s.delete_namespace(api, "someone-elses-work")


def test_an_opted_in_cluster_still_runs_tutorial_namespaces_but_no_node_operations(api, practice_api):
    k8s.ensure_namespace(practice_api, "lesson-guard")  # labelled: a tutorial namespace
    k8s.delete_namespace(practice_api, "lesson-guard")
    node = client.CoreV1Api(api).list_node().items[0].metadata.name
    with pytest.raises(ContextNotAllowedError):
        k8s.drain(practice_api, node, timeout=5)
    assert not client.CoreV1Api(api).read_node(node).spec.unschedulable
