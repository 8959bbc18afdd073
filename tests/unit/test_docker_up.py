"""tools/offline-kind/docker-up.sh: Docker is started only when asked, and never through the system's config.

A stand-in ``docker`` client on PATH (a shell script) says whether an engine
answers; no engine is started by these tests.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "offline-kind" / "docker-up.sh"


def run(tmp_path: Path, *args: str, docker_answers: bool, with_dockerd: bool = True, ci: str = "") -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text(f"#!/bin/sh\nexit {0 if docker_answers else 1}\n")
    (bin_dir / "docker").chmod(0o755)
    dockerd = bin_dir / "dockerd"
    if with_dockerd:
        dockerd.write_text("#!/bin/sh\necho started >> \"$SCALELAB_CACHE/dockerd-was-run\"\n")
        dockerd.chmod(0o755)
    elif dockerd.exists():
        dockerd.unlink()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "SCALELAB_CACHE": str(tmp_path / "cache"), "CI": ci,
           "SCALELAB_DOCKER_WAIT": "2"}
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120)


def test_an_engine_that_answers_is_used_as_it_is(tmp_path):
    out = run(tmp_path, "--start", docker_answers=True)
    assert out.returncode == 0 and "already running" in out.stdout
    assert not (tmp_path / "cache" / "docker").exists()


def test_without_being_asked_no_engine_is_started_and_the_message_names_the_fix(tmp_path):
    out = run(tmp_path, docker_answers=False)
    assert out.returncode == 1
    assert "make docker" in out.stdout.strip().splitlines()[-1]
    assert not (tmp_path / "cache" / "dockerd-was-run").exists()
    assert not (tmp_path / "cache" / "docker").exists()


def test_a_missing_dockerd_is_named_with_how_to_install_it_not_installed(tmp_path):
    out = run(tmp_path, "--start", docker_answers=False, with_dockerd=False)
    assert out.returncode == 1
    assert "apt-get install docker.io" in out.stdout and "not installed" in out.stdout


def test_the_private_engine_keeps_everything_under_the_cache(tmp_path):
    out = run(tmp_path, ci="true", docker_answers=False)  # CI=true means --start; the stand-in never answers
    if os.geteuid() != 0:  # dockerd needs root: the script says so and writes nothing
        assert out.returncode == 1 and "needs root" in out.stdout
        assert not (tmp_path / "cache" / "docker").exists()
        return
    assert out.returncode == 1 and (tmp_path / "cache" / "dockerd-was-run").exists()
    config = (tmp_path / "cache" / "docker" / "daemon.json").read_text()
    home = str(tmp_path / "cache" / "docker")
    for key in ("data-root", "exec-root", "pidfile", "hosts"):
        assert f'"{key}"' in config
    assert "/etc/docker" not in config and "/var/lib/docker" not in config
    assert config.count(home) >= 4
