"""Time the whole suite, layer by layer: prints each stage's start, duration and the total.

    python benchmarks/bench_suite.py            # the figures of the last `make test` (timings.json)
    python benchmarks/bench_suite.py --run      # run `make test` now, then print them

A *cold* figure is a run on a machine with an empty ``SCALELAB_CACHE`` and no Docker engine
running (what CI's first run on a fresh machine sees); run with ``--run`` after clearing both
and say so next to the number. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scalelab import paths  # noqa: E402


def timings_file() -> Path:
    return paths.logs_dir() / "suite" / "timings.json"


def report(timings: dict) -> list[str]:
    """One line per stage (start offset, duration, state), then the total, in seconds."""
    lines = [f"{'stage':10} {'starts':>7} {'takes':>7}  state"]
    stages = {k: v for k, v in timings.items() if k != "total"}
    for name, t in sorted(stages.items(), key=lambda kv: (kv[1].get("start") is None, kv[1].get("start") or 0)):
        start = "-" if t.get("start") is None else f"{t['start']:.0f}s"
        took = "-" if t.get("seconds") is None else f"{t['seconds']:.0f}s"
        lines.append(f"{name:10} {start:>7} {took:>7}  {t.get('state', '?')}")
    total = timings.get("total", {}).get("seconds")
    if total is not None:
        lines.append(f"{'total':10} {'':>7} {total:>6.0f}s  ({total / 60:.1f} min)")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="run `make test` first")
    args = parser.parse_args()
    code = 0
    if args.run:
        code = subprocess.run(["make", "test"], cwd=ROOT, stdin=subprocess.DEVNULL).returncode
    path = timings_file()
    if not path.exists():
        print(f"no timings yet ({path}): run `make test` or this script with --run")
        return 1
    print("\n".join(report(json.loads(path.read_text()))))
    return code


if __name__ == "__main__":
    sys.exit(main())
