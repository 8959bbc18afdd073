"""Which tests must run together, in order, on one pytest-xdist worker.

Each worker has a cluster of its own (conftest.py); a notebook's cells share one
kernel, so they must stay together, and its second run (tests/notebooks) follows
it on the same worker. The lab mutation cases are grouped by lab, so lab 2's long
spike replays spread over the workers apart from the rest; any other test file
is one group.

On kind (``SCALELAB_TEST_PROVIDER=kind``), where the workers share one cluster and
CPU is really burned, the notebooks whose replays burn the most (:data:`REAL_CPU`)
form one group, so no two of them compete for the machine's two cores at once.

(pytest-xdist's own ``loadgroup`` renames node ids, which pytest 9 no longer
allows; conftest.py plugs :func:`group_of` into xdist's scope scheduling instead.)
"""

from __future__ import annotations

import os
import re

_RERUN = re.compile(r"^tests/notebooks/test_rerun\.py::\w+\[(?P<nb>[^\]]+)\.ipynb\]$")
_MUTATION = re.compile(r"^tests/labs/test_mutations\.py::\w+\[lab(?P<lab>\d+)-")


# The spike replays that burn up to about 1.2 cores each on kind, and lesson 02, whose throttling
# cell measures one pod's burn (it saw 34m and 68m of the 250m it should reach while a spike replay
# ran on the other worker).
REAL_CPU = ("01-scaling-by-hand", "02-requests-limits-quotas", "03-horizontal-pod-autoscaling",
            "lab-02-viral-spike", "05-release-day")


def group_of(nodeid: str, provider: str | None = None) -> str:
    """The scheduling group of a test, from its node id (and the test provider: kwok unless told)."""
    provider = provider or os.environ.get("SCALELAB_TEST_PROVIDER", "kwok")
    path = nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        name = path.rsplit("/", 1)[-1].removesuffix(".ipynb")
        return "real-cpu" if provider == "kind" and name in REAL_CPU else name
    rerun = _RERUN.match(nodeid)
    if rerun:
        return rerun["nb"]
    mutation = _MUTATION.match(nodeid)
    if mutation:
        return f"mutations-lab{mutation['lab']}"
    return path
