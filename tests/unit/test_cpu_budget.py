"""The real CPU the course burns on kind stays within a small machine's means (plain data, no cluster).

On kind every millicore the traffic model asks for is burned by a real process.
Each replay of the course is listed here with its profile and the most pods that
can be ready during it; the busiest minute (served requests/s × millicores per
request, served ≤ ready pods × the most one pod serves) must stay within
``traffic.REAL_CPU_BUDGET_M``. The steady loads lessons set by hand are listed
too. A second test checks that the notebooks still use these profiles and this
capacity model, so the list cannot silently drift from the lessons.

``python benchmarks/bench_cpu.py`` prints the table.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from scalelab import traffic
from scalelab.checks import lab2_viral_spike as lab2
from scalelab.traffic import Capacity, Profile

ROOT = Path(__file__).resolve().parents[2]
ALBUM = dict(base=150, peak=1000, release_minute=15)  # lessons 01, 03 and 05
SPIKE = traffic.album_release(**ALBUM)


@dataclass(frozen=True)
class Replay:
    name: str
    profile: Profile
    max_ready_pods: int  # the most pods that can be ready during it (the HPA's maxReplicas, a surge, a schedule)


@dataclass(frozen=True)
class SteadyBurn:
    name: str
    pods: int
    millicores_per_pod: float  # what the lesson asks each pod to burn; a pod burns at most its limit


COURSE = [
    # the scripted engineer adds pods with no ceiling: count as many as the peak could use
    Replay("lesson 01 · by hand", SPIKE, max_ready_pods=Capacity().pods_needed(SPIKE.peak())),
    Replay("lesson 01 · fixed schedule, early spike", SPIKE.shifted(-10), max_ready_pods=6),
    Replay("lesson 03 · HPA (maxReplicas 15)", SPIKE, max_ready_pods=15),
    # a rolling update may add 25 % more pods (maxSurge's default) on top of maxReplicas
    Replay("lesson 05 · release day (15 + surge)", SPIKE, max_ready_pods=19),
    # the learner's maxReplicas is theirs to choose: bound by the demand alone
    Replay("lab 2 · viral spike (any maxReplicas)", lab2.PROFILE,
           max_ready_pods=Capacity().pods_needed(lab2.PROFILE.peak())),
]
STEADY = [
    SteadyBurn("lesson 02 · right-sizing, 4 pods at 17:45", 4, 35),
    SteadyBurn("lesson 02 · a burn above the limit, throttled (kind)", 1, 500),
    SteadyBurn("lesson 03 · 2 pods at 150 %", 2, 150),
    SteadyBurn("lesson 03 · 3 pods far above target (maxReplicas 3)", 3, 225),
]


def course_peaks(capacity: Capacity | None = None) -> list[tuple[str, str, float]]:
    """(what, when, millicores) for every replay and steady burn of the course."""
    cap = capacity or Capacity()
    rows = []
    for r in COURSE:
        minute, millicores = traffic.peak_cpu_m(r.profile, cap, r.max_ready_pods)
        rows.append((r.name, traffic.clock(minute), millicores))
    for b in STEADY:
        rows.append((b.name, "steady", b.pods * min(b.millicores_per_pod, cap.cpu_limit_m)))
    return rows


def table(capacity: Capacity | None = None) -> str:
    cap = capacity or Capacity()
    lines = [f"model: {cap.cpu_per_request_m:g}m per request/s, request {cap.cpu_request_m:g}m, "
             f"limit {cap.cpu_limit_m:g}m; budget {traffic.REAL_CPU_BUDGET_M / 1000:g} cores",
             f"{'replay':<55} {'when':>6} {'cores':>6}"]
    lines += [f"{name:<55} {when:>6} {m / 1000:>6.2f}" for name, when, m in course_peaks(cap)]
    return "\n".join(lines)


@pytest.mark.parametrize("name,when,millicores", course_peaks(), ids=[row[0] for row in course_peaks()])
def test_every_replay_fits_a_small_machine(name, when, millicores):
    assert millicores <= traffic.REAL_CPU_BUDGET_M, (
        f"{name} burns {millicores / 1000:.2f} cores of real CPU on kind at {when}: more than "
        f"{traffic.REAL_CPU_BUDGET_M / 1000:g}. Size traffic.Capacity down (cost, request and limit together).")


def test_the_heaviest_replay_is_the_viral_spike_at_1_2_cores():
    assert max(course_peaks(), key=lambda row: row[2]) == ("lab 2 · viral spike (any maxReplicas)", "18:00", 1200)


def test_the_old_model_would_not_fit():
    """The bound bites: at 2m per request/s (the model before), the spikes burn 2 to 2.4 cores."""
    old = Capacity(cpu_per_request_m=2, cpu_limit_m=500, cpu_request_m=200)
    assert max(m for _, _, m in course_peaks(old)) == 2400


def test_peak_cpu_counts_only_what_ready_pods_serve():
    p = Profile("p", ((0, 100), (10, 900), (20, 300)))
    cap = Capacity()
    # 2 pods serve at most 500 requests/s: reached at minute 5 already (the first busiest minute)
    assert traffic.peak_cpu_m(p, cap, max_pods=2) == (5, 500)
    assert traffic.peak_cpu_m(p, cap, max_pods=10) == (10, 900)


def _calls(source: str, name: str) -> list[dict[str, object]]:
    """Keyword arguments of every call to ``…name(…)`` with literal keywords, in a cell's source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called == name:
                found.append({k.arg: ast.literal_eval(k.value) for k in node.keywords})
    return found


def _code(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code"
                     and not "".join(c["source"]).lstrip().startswith("%"))


@pytest.mark.parametrize("notebook", ["01-scaling-by-hand", "03-horizontal-pod-autoscaling", "05-release-day"])
def test_the_lessons_replay_what_is_listed_here(notebook):
    code = _code(ROOT / "lessons" / f"{notebook}.ipynb")
    default = Capacity()
    capacities = _calls(code, "Capacity")
    assert capacities, "the lesson states its capacity model"
    for kwargs in capacities:
        assert Capacity(**kwargs) == default, f"{notebook} uses {kwargs}, not traffic.Capacity()'s defaults"
    assert _calls(code, "album_release") == [ALBUM]
