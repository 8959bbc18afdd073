"""Time the whole test suite (the README's test command, minus environment setup). Prints seconds."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    start = time.monotonic()
    code = subprocess.run([sys.executable, "-m", "pytest", "-q", *sys.argv[1:]], cwd=ROOT).returncode
    print(f"test suite: {time.monotonic() - start:.0f} s (pytest exit {code})")
