"""The whole test suite on both providers, in as little wall time as a 2-core machine allows.

The suite mostly waits on story time (replays at one story minute per 3 s, HPA
syncs, metrics scrapes), not on CPU, so independent stages overlap:

    docker    start a Docker engine (tools/offline-kind/docker-up.sh)
    node      kind's offline node image (tools/offline-kind/build.py), once Docker answers;
              skipped when the official kindest/node image is present or can be pulled
    binaries  the kwok control plane (`scalelab binaries`), after the node image and niced: the
              kind path is longer, and the two share the control plane's Go builds
    npm       playwright-core for the browser tests
    unit      unit tests
    kwok      the kwok layer, once the binaries are there: cluster tests, every lesson and lab
              under nbval and again (idempotency), the lab mutation suite; pytest-xdist
              workers, each with a kwok cluster of its own
    browser   the browser tests on a kwok cluster, once both layers above have ended
    kind      the kind layer, once the node image is there: tests/kind and every lesson and
              lab under nbval (tools/test-kind.sh)

Both layers must run. The kind layer is skipped only when a person sets
SCALELAB_SKIP_KIND_LAYER to the reason (a machine without Docker); the summary
says so. Each stage logs to <cache>/logs/suite/<stage>.log; stage times go to
timings.json there (benchmarks/bench_suite.py prints them). The last line is
"suite: N passed, N failed" over both layers; exit 1 if any stage failed or did
not run.

    python tools/suite.py [--only kwok,kind,unit] [--kwok-workers N] [-- PYTEST ARGS]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scalelab import paths  # noqa: E402

LAYERS = ("unit", "kwok", "kind")
SKIP_KIND = "SCALELAB_SKIP_KIND_LAYER"


@dataclass
class Stage:
    name: str
    cmd: list[str]
    after: tuple[str, ...] = ()  # must have passed
    later_than: tuple[str, ...] = ()  # must have ended, passed or not (only to keep the machine quiet)
    env: dict[str, str] = field(default_factory=dict)
    state: str = "waiting"  # waiting, running, passed, failed, not run
    started: float | None = None
    ended: float | None = None
    code: int | None = None
    reason: str = ""
    summary: str = ""  # pytest's closing line, when the stage ran pytest
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def log(self) -> Path:
        return log_dir() / f"{self.name}.log"

    @property
    def seconds(self) -> float | None:
        return None if self.started is None or self.ended is None else self.ended - self.started


def log_dir() -> Path:
    folder = paths.logs_dir() / "suite"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Suite:
    def __init__(self, stages: list[Stage], deadline: float) -> None:
        self.stages = {s.name: s for s in stages}
        self.start = time.monotonic()
        self.deadline = deadline
        self.procs: dict[str, subprocess.Popen] = {}
        self.lock = threading.Lock()
        self.stopping = False  # set on SIGTERM/SIGINT: no stage starts after that

    def say(self, text: str) -> None:
        with self.lock:
            print(f"[{time.monotonic() - self.start:6.0f}s] {text}", flush=True)

    def run_stage(self, stage: Stage) -> None:
        for other in stage.later_than:
            if other in self.stages:
                self.stages[other].done.wait()
        for dep in stage.after:
            self.stages[dep].done.wait()
            if self.stages[dep].state != "passed":
                stage.state, stage.reason = "not run", f"{dep} {self.stages[dep].state}"
                self.say(f"{stage.name}: not run ({stage.reason})")
                stage.done.set()
                return
        with self.lock:  # with stop_all's check: a stage starts entirely before a stop, or not at all
            if self.stopping:
                stage.state, stage.reason = "not run", "the suite was stopped"
                stage.done.set()
                return
            stage.state, stage.started = "running", time.monotonic()
            log = open(stage.log, "w")
            log.write(f"$ {' '.join(stage.cmd)}\n")
            log.flush()
            proc = subprocess.Popen(stage.cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env={**os.environ, **stage.env}, start_new_session=True)
            self.procs[stage.name] = proc
        self.say(f"{stage.name}: started (log: {stage.log})")
        with log:
            stage.code = proc.wait()
        stage.ended = time.monotonic()
        stage.state = "passed" if stage.code == 0 else "failed"
        stage.summary = pytest_summary(stage.log)
        self.say(f"{stage.name}: {stage.state} in {stage.seconds:.0f}s (exit {stage.code})"
                 + (f" — {stage.summary}" if stage.summary else ""))
        stage.done.set()

    def stop_all(self, reason: str) -> None:
        """SIGTERM every running stage's process group (each stage runs in a session of its own, so a
        signal to the suite alone would leave them running): builds unmount what they mounted, the kind
        layer deletes its cluster, pytest's fixtures tear down."""
        for name, proc in list(self.procs.items()):
            if proc.poll() is None:
                self.stages[name].reason = reason
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def stop_on_signals(self) -> None:
        """On SIGTERM/SIGINT (a CI timeout, Ctrl-C): stop every stage, give each a minute to clean up, exit."""

        def interrupted(signum: int, _frame: object) -> None:
            name = signal.Signals(signum).name
            with self.lock:
                self.stopping = True
            self.say(f"suite: {name}: stopping every stage")
            self.stop_all(f"stopped by {name}")
            for proc in list(self.procs.values()):
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, interrupted)
        signal.signal(signal.SIGINT, interrupted)

    def run(self) -> None:
        threads = [threading.Thread(target=self.run_stage, args=(s,), daemon=True) for s in self.stages.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(0.0, self.deadline - (time.monotonic() - self.start)))
        if any(t.is_alive() for t in threads):
            self.say(f"deadline of {self.deadline:.0f}s reached: stopping what still runs")
            self.stop_all("stopped at the deadline")
            for t in threads:
                t.join(timeout=60)
            for stage in self.stages.values():
                if stage.state in ("waiting", "running"):
                    stage.state = "failed" if stage.state == "running" else "not run"
                    stage.reason = stage.reason or "stopped at the deadline"


PYTEST_LINE = re.compile(r"^=+ (.*\d+ (passed|failed|error|errors|deselected|skipped).*) in [\d.]+s")


def pytest_summary(log: Path) -> str:
    """pytest's closing line ("331 passed, 5 deselected"), if the stage ran pytest; several joined by "; "
    when the stage ran it more than once (the kind layer: side by side, then alone)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "; ".join(m[1] for m in map(PYTEST_LINE.match, (line.strip() for line in lines)) if m)


def counts(summary: str) -> tuple[int, int]:
    """(passed, failed + errors) in pytest's closing line(s)."""
    numbers = {"passed": 0, "failed": 0, "error": 0, "errors": 0}
    for n, word in re.findall(r"(\d+) (passed|failed|errors?)", summary):
        numbers[word] += int(n)
    return numbers["passed"], numbers["failed"] + numbers["error"] + numbers["errors"]


def stages(only: set[str], kwok_workers: int, extra: list[str]) -> list[Stage]:
    py = sys.executable
    out: list[Stage] = []
    if "unit" in only:
        out.append(Stage("unit", [py, "-m", "pytest", "-p", "no:cacheprovider", "tests/unit", *extra]))
    if "kwok" in only:
        out += [
            # Beside the node image. kwok, which only this stage needs, compiles at nice 19 in the CPU the
            # node build leaves (its links are single-threaded); then the control plane, etcd and
            # metrics-server, which the node build also makes, at normal priority: whichever of the two
            # takes a build's lock first builds it at full speed and the other waits. (When this whole
            # stage ran at nice 10, it took the etcd and metrics-server locks the moment the control
            # plane was done, and the node build, on the kind layer's critical path, waited on niced
            # compiles; at nice 10 the kwok compile alone still delayed the node build by about 3 min.)
            Stage("binaries", ["sh", "-c", f"nice -n 19 {shlex.quote(py)} -m scalelab.cli binaries --only kwok"
                                           f" && {shlex.quote(py)} -m scalelab.cli binaries"]),
            Stage("npm", ["npm", "ci", "--prefix", "tests/browser", "--no-audit", "--no-fund", "--loglevel=error"]),
            # Niced, and so are the kwok control planes its workers start: the kind layer's pods burn
            # real CPU that the lessons measure, and on cgroup v1 every runnable process outside Docker
            # weighs as much as all of Docker's containers together (a 100m pod asked to burn 500m
            # got 68m while the three kwok clusters ran beside it at normal priority). After the node
            # image: its many niced threads still slowed the node build (CoreDNS took twice its time),
            # and the kind layer, which starts when the node image is there, is the longer of the two.
            Stage("kwok", ["nice", "-n", "10", py, "-m", "pytest", "-p", "no:cacheprovider", "--ignore=tests/unit",
                           "--ignore=tests/kind",
                           "--ignore=tests/browser", "-n", str(kwok_workers), "--dist", "loadscope", *extra],
                  after=("binaries",), later_than=("node",)),
            # JupyterLab in Chromium, last and alone. Beside both layers (niced, from the end of the node
            # build) it saved 6 minutes of a cold run but did not hold: the 300-pod board never drew in
            # Chromium within 180 s, and the kind layer's real-CPU notebooks failed beside it.
            Stage("browser", [py, "-m", "pytest", "-p", "no:cacheprovider", "tests/browser", *extra],
                  after=("binaries", "npm"), later_than=("kwok", "kind")),
        ]
    if "kind" in only:
        out.append(Stage("docker", ["bash", "tools/offline-kind/docker-up.sh"]))
        out.append(Stage("node", ["bash", "tools/offline-kind/node-image.sh"], after=("docker",)))
        # test-kind.sh checks Docker and the image again: both are quick no-ops by then.
        out.append(Stage("kind", ["bash", "tools/test-kind.sh", *extra], after=("node",)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(LAYERS), help="layers to run: unit,kwok,kind")
    parser.add_argument("--kwok-workers", type=int, default=int(os.environ.get("SCALELAB_KWOK_WORKERS", "3")))
    parser.add_argument("--deadline", type=float, default=float(os.environ.get("SCALELAB_SUITE_DEADLINE", "5100")),
                        help="seconds after which running stages are stopped and count as failed")
    parser.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments for every layer")
    args = parser.parse_args()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(LAYERS)
    if unknown:
        parser.error(f"unknown layer(s) {', '.join(sorted(unknown))}; use {', '.join(LAYERS)}")
    skip_reason = os.environ.get(SKIP_KIND, "").strip()
    if "kind" in only and skip_reason:
        only.discard("kind")
    suite = Suite(stages(only, args.kwok_workers, args.pytest_args), args.deadline)
    suite.stop_on_signals()
    suite.say(f"suite: layers {', '.join(sorted(only))}; logs in {log_dir()}")
    suite.run()

    passed = failed = 0
    print("\n=== suite summary ===")
    for stage in suite.stages.values():
        if stage.started and not stage.summary:  # stopped at the deadline: read what it wrote so far
            stage.summary = pytest_summary(stage.log)
        p, f = counts(stage.summary)
        passed, failed = passed + p, failed + f
        took = f"{stage.seconds:.0f}s" if stage.seconds is not None else "-"
        print(f"{stage.name:9} {stage.state:8} {took:>6}  {stage.summary or stage.reason}")
    bad = [s for s in suite.stages.values() if s.state != "passed"]
    for stage in bad:
        if stage.started:
            print(f"\n--- last lines of {stage.log}")
            print("\n".join(stage.log.read_text(errors="replace").splitlines()[-80:]))
    if skip_reason and "kind" in args.only:
        print(f"KIND LAYER SKIPPED: {SKIP_KIND}={skip_reason!r} was set by hand")
    timings = {s.name: {"state": s.state, "seconds": s.seconds,
                        "start": None if s.started is None else s.started - suite.start} for s in suite.stages.values()}
    timings["total"] = {"seconds": time.monotonic() - suite.start}
    (log_dir() / "timings.json").write_text(json.dumps(timings, indent=2))
    # A failed stage without failed tests of its own (a build, a layer that did not run) counts once.
    total_failed = failed + sum(1 for s in bad if counts(s.summary)[1] == 0)
    print(f"suite: {passed} passed, {total_failed} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
