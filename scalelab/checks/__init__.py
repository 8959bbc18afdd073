"""Lab checks: read the cluster, return pass or a hint that names the exact field to fix.

``Lab.start(N)`` is the entry point of every lab notebook; ``LABS`` maps each
lab number to its :class:`LabSpec` (tasks, checks, hints, starting state).
"""

from __future__ import annotations

from scalelab.checks.core import ERROR, FAIL, PASS, LabSpec, Result, Task, Wrong, run_check
from scalelab.checks.lab import Lab
from scalelab.checks import lab1_right_size, lab2_viral_spike, lab3_ship_v2, lab4_spread

LABS: dict[int, LabSpec] = {spec.number: spec for spec in (
    lab1_right_size.SPEC, lab2_viral_spike.SPEC, lab3_ship_v2.SPEC, lab4_spread.SPEC)}

__all__ = ["Lab", "LABS", "LabSpec", "Result", "Task", "Wrong", "run_check", "PASS", "FAIL", "ERROR"]
