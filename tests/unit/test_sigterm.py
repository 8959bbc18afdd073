"""SIGTERM to a test session (a CI timeout, the suite's stop) tears it down like Ctrl-C: the fixtures
that delete clusters run, instead of the process dying with the clusters left running."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TEST = '''
import time
import pytest

@pytest.fixture(scope="session")
def cluster_like(tmp_path_factory):
    yield
    open({done!r}, "w").write("torn down")

def test_waits(cluster_like):
    open({started!r}, "w").write("started")
    time.sleep(60)
'''


def test_sigterm_runs_the_session_teardown(tmp_path):
    done, started = tmp_path / "done", tmp_path / "started"
    folder = ROOT / "tests" / "unit" / f"_sigterm_{tmp_path.name}"
    folder.mkdir()
    try:
        (folder / "test_waits.py").write_text(TEST.format(done=str(done), started=str(started)))
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(folder)],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
    assert done.read_text() == "torn down", out
    assert "stopped by SIGTERM" in out
