"""Real CPU the course burns on kind: the busiest minute of every replay, and the steady loads.

Plain arithmetic on the traffic model (no cluster): for each replay of lessons
01, 03, 05 and lab 2, the most over story minutes of served requests/s × the
millicores each costs (served ≤ the most pods that can be ready × what one pod
serves at its limit). The list of replays is the one the unit test
``tests/unit/test_cpu_budget.py`` holds to ``traffic.REAL_CPU_BUDGET_M``.

    python benchmarks/bench_cpu.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.test_cpu_budget import table  # noqa: E402

if __name__ == "__main__":
    print(table())
