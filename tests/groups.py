"""Which tests must run together, in order, on one pytest-xdist worker.

Each worker has a cluster of its own (conftest.py); a notebook's cells share one
kernel, so they must stay together, and its second run (tests/notebooks) follows
it on the same worker. The lab mutation cases are grouped by lab, so lab 2's long
spike replays spread over the workers apart from the rest; any other test file
is one group.

(pytest-xdist's own ``loadgroup`` renames node ids, which pytest 9 no longer
allows; conftest.py plugs :func:`group_of` into xdist's scope scheduling instead.)
"""

from __future__ import annotations

import re

_RERUN = re.compile(r"^tests/notebooks/test_rerun\.py::\w+\[(?P<nb>[^\]]+)\.ipynb\]$")
_MUTATION = re.compile(r"^tests/labs/test_mutations\.py::\w+\[lab(?P<lab>\d+)-")


def group_of(nodeid: str) -> str:
    """The scheduling group of a test, from its node id alone."""
    path = nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        return path.rsplit("/", 1)[-1].removesuffix(".ipynb")
    rerun = _RERUN.match(nodeid)
    if rerun:
        return rerun["nb"]
    mutation = _MUTATION.match(nodeid)
    if mutation:
        return f"mutations-lab{mutation['lab']}"
    return path
