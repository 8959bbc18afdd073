"""A cross-process lock on a file, for state that several Scale Lab processes share.

Two commands can run at once on one machine (``scalelab binaries`` while the
offline kind build runs; parallel test workers each recording their cluster's
context). Without a lock both would build the same component, or the last
writer of ``contexts.json`` would drop the other's entry. ``flock`` locks are
released by the kernel when the holder dies, so a killed process never leaves
a stale lock behind.
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def held(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block; waits for other holders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
