"""Progress reporting for long steps (builds, cluster start, waits).

Terminals get a line per step and a heartbeat that rewrites itself; logs and
CI (no TTY) get a plain line every ``interval`` seconds, so a long build never
looks hung and never floods the output.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints steps with elapsed time; ``tick`` shows a throttled status line."""

    def __init__(self, stream: TextIO | None = None, interval: float = 30.0, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self.quiet = quiet
        self.start = time.monotonic()
        self._last_tick = 0.0
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._dirty = False

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def _write(self, text: str) -> None:
        if not self.quiet:
            self.stream.write(text)
            self.stream.flush()

    def step(self, message: str) -> None:
        """Announce a step on its own line."""
        if self._dirty:
            self._write("\n")
            self._dirty = False
        self._write(f"[{self.elapsed():5.0f}s] {message}\n")

    def tick(self, message: str) -> None:
        """Update a status line: rewritten in place on a TTY, throttled otherwise."""
        now = time.monotonic()
        if self._tty:
            self._write(f"\r[{self.elapsed():5.0f}s] {message[:100]:<100}")
            self._dirty = True
        elif now - self._last_tick >= self.interval:
            self._last_tick = now
            self._write(f"[{self.elapsed():5.0f}s] {message}\n")


def silent() -> Progress:
    return Progress(quiet=True)
