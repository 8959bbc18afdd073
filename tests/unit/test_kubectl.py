"""The kubectl wrapper: where kubectl runs, and reading a refused server-side apply."""

import os
import stat

from scalelab import kubectl, paths

# Observed with kubectl 1.36.3 against kube-apiserver 1.36.1 (kwok), lesson 03 section 7: the second
# `kubectl apply --server-side -f manifests/stream-api.yaml`, once the HPA owns .spec.replicas
# (stdout, then stderr; the advice after "Please review" is shortened).
REFUSED_BY_THE_HPA = """service/stream-api serverside-applied
error: Apply failed with 1 conflict: conflict with "kube-controller-manager" with subresource "scale" using apps/v1: .spec.replicas
Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
* If you intend to manage all of these fields, please re-run the apply
  command with the `--force-conflicts` flag.
See https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts
"""

# Observed on the same cluster: a third manager applying a file that changes replicas (owned through
# `kubectl scale`) and two fields the manager scalelab applied.
REFUSED_THREE_TIMES = """error: Apply failed with 3 conflicts: conflicts with "kubectl" with subresource "scale" using apps/v1:
- .spec.replicas
conflicts with "scalelab":
- .spec.template.spec.containers[name="stream-api"].env[name="STREAM_API_VERSION"].value
- .spec.template.spec.containers[name="stream-api"].resources.requests.cpu
Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
"""


def test_kubectl_runs_in_the_project_root_so_printed_relative_paths_resolve(monkeypatch, tmp_path):
    fake = tmp_path / "kubectl"
    fake.write_text("#!/bin/sh\npwd\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)  # a kernel works in the notebook's folder, not the project root
    out = kubectl.run(["apply", "-f", "manifests/stream-api.yaml"], "kwok-scalelab", "lesson-03")
    assert out.stdout.strip() == str(paths.project_root())


def test_the_one_conflict_form_names_field_manager_and_subresource():
    assert kubectl.conflicts(REFUSED_BY_THE_HPA) == [
        kubectl.Conflict(".spec.replicas", "kube-controller-manager", "scale")]


def test_the_several_conflicts_form_lists_each_field_under_its_manager():
    env = '.spec.template.spec.containers[name="stream-api"].env[name="STREAM_API_VERSION"].value'
    cpu = '.spec.template.spec.containers[name="stream-api"].resources.requests.cpu'
    assert kubectl.conflicts(REFUSED_THREE_TIMES) == [
        kubectl.Conflict(".spec.replicas", "kubectl", "scale"),
        kubectl.Conflict(env, "scalelab"), kubectl.Conflict(cpu, "scalelab")]


def test_an_apply_that_went_through_has_no_conflicts():
    assert kubectl.conflicts("deployment.apps/stream-api serverside-applied\nservice/stream-api serverside-applied") == []
