"""The kubectl wrapper: where kubectl runs."""

import os
import stat

from scalelab import kubectl, paths


def test_kubectl_runs_in_the_project_root_so_printed_relative_paths_resolve(monkeypatch, tmp_path):
    fake = tmp_path / "kubectl"
    fake.write_text("#!/bin/sh\npwd\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)  # a kernel works in the notebook's folder, not the project root
    out = kubectl.run(["apply", "-f", "manifests/stream-api.yaml"], "kwok-scalelab", "lesson-03")
    assert out.stdout.strip() == str(paths.project_root())
