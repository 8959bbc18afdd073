"""Deadline-bound waits that say what they waited for and what they last saw."""

from __future__ import annotations

import time
from typing import Callable

from scalelab.errors import WaitTimeout
from scalelab.progress import Progress, silent

Probe = Callable[[], tuple[bool, str]]


def wait_for(probe: Probe, what: str, timeout: float, progress: Progress | None = None,
             interval: float = 1.0, fix: str = "run `scalelab doctor` to see what is missing",
             reraise: tuple[type[BaseException], ...] = ()) -> str:
    """Poll ``probe`` (returning ``(done, observed)``) until done; raise WaitTimeout after ``timeout`` s.

    Exceptions from the probe count as "not yet" (an apiserver restarting answers
    with connection errors for a moment) and are reported if time runs out;
    those in ``reraise`` end the wait at once.
    """
    progress = progress or silent()
    deadline = time.monotonic() + timeout
    observed = "nothing yet"
    while True:
        error: BaseException | None = None
        try:
            done, observed = probe()
        except reraise:
            raise
        except Exception as exc:  # noqa: BLE001 - the last error becomes the explanation
            done, observed, error = False, f"{type(exc).__name__}: {exc}"[:300], exc
        if done:
            return observed
        if time.monotonic() >= deadline:
            timeout_error = WaitTimeout(f"Timed out after {timeout:.0f}s waiting for {what}. Last seen: {observed}", fix)
            timeout_error.last_error = error
            raise timeout_error
        progress.tick(f"waiting for {what}: {observed}")
        time.sleep(interval)
