"""`make lab`'s last step, tools/jupyter-lab.sh, really starts JupyterLab, as root too.

It runs the script's own command line (with --no-browser on a free loopback port) as
whatever user runs the tests, and asks the server for its status. On these machines
that user is root, where JupyterLab refuses to start without --allow-root.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from scalelab import paths

SCRIPT = paths.project_root() / "tools" / "jupyter-lab.sh"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_jupyter_lab_script_serves_and_warns_exactly_when_root(tmp_path: Path):
    port, token = free_port(), "scalelab-test"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    stderr = tmp_path / "stderr"
    with open(stderr, "w") as err:
        proc = subprocess.Popen(["bash", str(SCRIPT), "--no-browser", f"--port={port}",
                                 "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"],
                                env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        deadline, status = time.monotonic() + 90, None
        while time.monotonic() < deadline and proc.poll() is None and status is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2) as r:
                    status = r.status
            except OSError:
                time.sleep(0.5)
        log = stderr.read_text()
        assert status == 200, f"JupyterLab did not answer (exit {proc.poll()}):\n{log[-2000:]}"
        warned = [line for line in log.splitlines() if line.startswith("warning: running as root")]
        assert len(warned) == (1 if os.geteuid() == 0 else 0), log[-2000:]
        assert f"http://127.0.0.1:{port}/" in log, "the script must bind JupyterLab to loopback explicitly"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
