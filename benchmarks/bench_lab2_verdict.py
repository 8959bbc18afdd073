"""Lab 2's spike verdict with the reference solution, run after run: how far from the objective?

Prints one line per replay (dropped %, pod-minutes, peak pods, the story minute at
which the ready count first passed 2) and the spread; asserts nothing. It runs on
the cluster of the current kubeconfig context (start one with `scalelab up`),
with the reference solution applied, so the margin on kind (real CPU, real
metrics lag) and on kwok can be compared. Cleans up lab 2's namespaces.

    SCALELAB_LAB_SOLUTIONS=1 python benchmarks/bench_lab2_verdict.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ["SCALELAB_LAB_SOLUTIONS"] = "1"  # apply labs/solutions/ instead of the learner's TODO files

from scalelab import k8s  # noqa: E402
from scalelab.checks import Lab  # noqa: E402
from scalelab.checks import lab2_viral_spike as lab2  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    lab = Lab.start(2, show=False)
    try:
        lab.apply("deployment.yaml", quiet=True)
        lab.apply("hpa.yaml", quiet=True)
        lab.check("target", quiet=True)
        dropped = []
        print(f"provider: {lab.lesson.provider}; objective ≤ {lab2.OBJECTIVE_PERCENT:g} % dropped, "
              f"budget ≤ {lab2.BUDGET_POD_MINUTES:.0f} pod-minutes")
        for run in range(args.runs):
            started = time.monotonic()
            replay, v = lab2.replay_spike(lab)
            more = next((s.minute for s in replay.samples if s.ready > 2), None)
            dropped.append(v["dropped_percent"])
            print(f"run {run + 1}: dropped {v['dropped_percent']:.2f} %, {v['pod_minutes']:.0f} pod-minutes, "
                  f"peak {v['peak_replicas']} pods, a third pod ready at story minute {more}, "
                  f"stopped early: {v['stopped_early']}, {time.monotonic() - started:.0f} s")
        if len(dropped) > 1:
            print(f"dropped %: mean {statistics.mean(dropped):.2f}, max {max(dropped):.2f}")
    finally:
        lab.cleanup()
        k8s.delete_namespace(lab.api, lab2.REPLAY_NAMESPACE, timeout=180)


if __name__ == "__main__":
    main()
