"""`scalelab up` interrupted while it creates the cluster leaves no cluster, or one the next `up` finishes.

Real kwok clusters of their own (name and kubeconfig), started by the real CLI in
a subprocess, as a learner would, and interrupted as a learner would (Ctrl-C) or
as a crash would (SIGKILL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scalelab.cluster.kwok import KwokProvider
from scalelab.progress import Progress

pytestmark = pytest.mark.cluster


def start_up(name: str, kubeconfig: Path) -> subprocess.Popen:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    return subprocess.Popen([sys.executable, "-m", "scalelab.cli", "up", "--provider", "kwok", "--cluster", name],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its own process group, as a terminal's foreground job


def interrupt_while_creating(proc: subprocess.Popen, provider: KwokProvider, sig: int) -> str:
    deadline = time.monotonic() + 120
    while not provider.exists() and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.2)
    assert provider.exists(), "the cluster never began to exist"
    os.killpg(proc.pid, sig)  # a terminal's Ctrl-C (or a kill) reaches the whole job: kwokctl too
    out, _ = proc.communicate(timeout=120)
    return out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_an_interrupted_up_leaves_nothing_half_made(tmp_path, monkeypatch, sig):
    name = f"scalelab-intr-{os.environ.get('PYTEST_XDIST_WORKER', 'solo')}-{sig.name.lower()}"
    kubeconfig = tmp_path / "kubeconfig"
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    provider = KwokProvider(name)
    try:
        out = interrupt_while_creating(start_up(name, kubeconfig), provider, sig)
        if sig == signal.SIGINT:
            assert not provider.exists(), f"Ctrl-C left a half-made cluster:\n{out}"
        again = start_up(name, kubeconfig)
        out, _ = again.communicate(timeout=600)
        assert again.returncode == 0, out
        if sig == signal.SIGKILL:
            assert "half-made" in out, out
        assert provider.running()
    finally:
        provider.down(Progress(quiet=True))
