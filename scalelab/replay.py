"""Replay a traffic profile against a real Deployment, fast-forward, and keep score.

Each tick advances story time by ``step`` minutes (three wall seconds by default),
reads how many pods are *ready* (the real answer from the cluster, through an
informer), turns demand into served and dropped requests with the capacity
model, and has the driver make each ready pod's CPU match its share. Whatever
scales the Deployment meanwhile (an operator function, a schedule, or the real
HPA controller) shows up in the next tick's ready count; that is the whole
point of the lessons.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from kubernetes import client

from scalelab import k8s
from scalelab.traffic import Capacity, Driver, Profile, Score, clock
from scalelab.watch import Informer


@dataclass
class Sample:
    """What the dashboard plots for one tick."""

    minute: float
    demand_rps: float
    served_rps: float
    dropped_rps: float
    desired: int  # what the Deployment asks for (spec.replicas)
    current: int  # pods that exist for it
    ready: int
    cpu_per_pod_m: float
    utilization: float  # % of the CPU request: what the HPA compares with its target
    note: str = ""
    api_gap: bool = False  # the API server did not answer this tick: desired is the last known value

    @property
    def clock(self) -> str:
        return clock(self.minute)


# What a replay rides out: the API server restarting or briefly unreachable.
API_OUTAGE = k8s.UNREADABLE
MAX_OUTAGE_SECONDS = 60.0  # wall seconds without an answer before the replay gives up

# An operator sees the latest sample and may return a new replica count (None: leave it).
Operator = Callable[[Sample], "int | None"]


@dataclass
class Replay:
    """One replay of ``profile`` against ``namespace/deployment``."""

    api: client.ApiClient
    namespace: str
    deployment: str
    profile: Profile
    driver: Driver
    capacity: Capacity = field(default_factory=Capacity)
    fast_forward: float = 20.0  # story seconds per wall second
    step: float = 1.0  # story minutes per tick
    operator: Operator | None = None
    name: str = ""
    # Ends the replay early once the outcome is settled (a lab check that already knows the verdict).
    stop_when: Callable[[Sample], bool] | None = None

    def __post_init__(self) -> None:
        # Test re-runs may speed the replay up (they check idempotency, not the scoreboard).
        self.fast_forward = float(os.environ.get("SCALELAB_FAST_FORWARD", self.fast_forward))
        self.samples: list[Sample] = []
        self.actions: list[tuple[float, Callable[[], None], str]] = []
        self.score = Score(self.name or self.profile.name)
        self.notes: list[str] = []
        self.listeners: list[Callable[[Sample], None]] = []
        self.error: str | None = None
        self.stopped_early: float | None = None  # story minute at which stop_when ended the replay
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._apps = client.AppsV1Api(self.api)
        self.pods = Informer(client.CoreV1Api(self.api).list_namespaced_pod, namespace=self.namespace,
                             label_selector=k8s.selector_of(self.api, self.namespace, self.deployment),
                             name=f"pods-{self.deployment}")

    @property
    def tick_seconds(self) -> float:
        return self.step * 60.0 / self.fast_forward

    # --- control ----------------------------------------------------------------------

    def scale(self, replicas: int, note: str = "") -> None:
        """`kubectl scale deployment/<name> --replicas=N`."""
        k8s.scale(self.api, self.namespace, self.deployment, replicas)
        if note:
            self.notes.append(note)

    def at(self, minute: float, action: Callable[[], None], note: str) -> "Replay":
        """Run ``action`` (in its own thread, so the replay keeps ticking) once story time reaches ``minute``."""
        self.actions.append((minute, action, note))
        return self

    def _due_actions(self, minute: float) -> None:
        due = [a for a in self.actions if a[0] <= minute]
        self.actions = [a for a in self.actions if a[0] > minute]
        for _, action, note in due:
            self.notes.append(f"{clock(minute)} {note}")
            threading.Thread(target=self._guarded, args=(action,), daemon=True).start()

    def _guarded(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - reported by wait()
            self.error = f"scheduled action failed: {type(exc).__name__}: {exc}"[:500]

    def start(self) -> "Replay":
        self.pods.start()
        self.pods.wait_synced(30)
        self._thread = threading.Thread(target=self._run, name=f"scalelab-replay-{self.deployment}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)
        self.pods.stop()

    def wait(self, timeout: float | None = None) -> "Replay":
        """Block until the replay has finished (the whole profile), then stop watching."""
        if self._thread:
            self._thread.join(timeout)
        self.pods.stop()
        if self.error:
            raise RuntimeError(f"the replay stopped early: {self.error}")
        return self

    def run(self) -> "Replay":
        """Start and wait: the unattended form used by notebooks under test."""
        return self.start().wait()

    # --- the loop ---------------------------------------------------------------------

    def tick(self, minute: float) -> Sample:
        pods = [p for p in self.pods.snapshot() if not p.metadata.deletion_timestamp]
        ready = [p for p in pods if k8s.pod_is_ready(p)]
        demand = self.profile.rps(minute)
        cap = self.capacity
        per_pod = cap.cpu_per_pod_m(demand, len(ready))
        gap = ""
        try:
            desired = self._apps.read_namespaced_deployment_scale(self.deployment, self.namespace).spec.replicas or 0
            self.driver.apply(ready, per_pod)
        except API_OUTAGE as exc:
            # Running pods keep serving while the API server is away: score this minute with the
            # pods last seen, and say so; the replay gives up only after MAX_OUTAGE_SECONDS.
            desired = self.samples[-1].desired if self.samples else len(pods)
            gap = f"{clock(minute)} the API server did not answer ({type(exc).__name__}): counted with the last known pods"
        sample = Sample(minute=minute, demand_rps=demand, served_rps=cap.served(demand, len(ready)),
                        dropped_rps=cap.dropped(demand, len(ready)), desired=desired, current=len(pods),
                        ready=len(ready), cpu_per_pod_m=per_pod, utilization=cap.utilization(demand, len(ready)),
                        note=gap, api_gap=bool(gap))
        if gap:
            self.notes.append(gap)
        self.score.add(demand, len(pods), len(ready), self.step, cap)
        if self.operator is not None and not sample.api_gap:  # no decision while the cluster cannot be read
            wanted = self.operator(sample)
            if wanted is not None and wanted != desired:
                self.scale(wanted)
                sample.note = f"{sample.clock} scaled {desired} → {wanted}"
                self.notes.append(sample.note)
        return sample

    def _run(self) -> None:
        minute = 0.0
        next_tick = time.monotonic()
        outage_since: float | None = None
        try:
            while minute <= self.profile.duration and not self._stop.is_set():
                self._due_actions(minute)
                sample = self.tick(minute)
                if sample.api_gap:
                    outage_since = time.monotonic() if outage_since is None else outage_since
                    if time.monotonic() - outage_since > MAX_OUTAGE_SECONDS:
                        raise RuntimeError(f"the API server did not answer for {MAX_OUTAGE_SECONDS:.0f} s "
                                           "(`scalelab status` says whether the cluster is up)")
                else:
                    outage_since = None
                self.samples.append(sample)
                for listener in list(self.listeners):
                    listener(sample)
                if self.stop_when is not None and self.stop_when(sample):
                    self.stopped_early = sample.minute
                    break
                minute += self.step
                next_tick += self.tick_seconds
                self._stop.wait(max(0.0, next_tick - time.monotonic()))
        except Exception as exc:  # noqa: BLE001 - reported by wait() in the notebook's own cell
            self.error = f"{type(exc).__name__}: {exc}"[:500]


def delayed_operator(delay_minutes: float = 6, step_up: int = 2, min_replicas: int = 1,
                     capacity: Capacity | None = None) -> Operator:
    """The scripted on-call engineer of lesson 01.

    They notice dropped requests only after ``delay_minutes`` of them (paging,
    logging in, reading the dashboard), then add ``step_up`` pods; they scale
    down by one pod after demand has been comfortably low for twice as long,
    because nobody wants to be paged twice.
    """
    cap = capacity or Capacity()
    state = {"dropping_since": None, "quiet_since": None}

    def operate(s: Sample) -> int | None:
        if s.dropped_rps > 0:
            state["quiet_since"] = None
            if state["dropping_since"] is None:
                state["dropping_since"] = s.minute
            if s.minute - state["dropping_since"] >= delay_minutes:
                state["dropping_since"] = s.minute  # the next decision takes as long again
                return s.desired + step_up
            return None
        state["dropping_since"] = None
        comfortable = cap.pods_needed(s.demand_rps)
        if s.desired > max(min_replicas, comfortable):
            if state["quiet_since"] is None:
                state["quiet_since"] = s.minute
            if s.minute - state["quiet_since"] >= 2 * delay_minutes:
                state["quiet_since"] = s.minute
                return s.desired - 1
        else:
            state["quiet_since"] = None
        return None

    return operate


def schedule_operator(plan: dict[float, int]) -> Operator:
    """Scale at fixed story minutes, whatever the traffic does ("scale to 6 at 18:00")."""
    times = sorted(plan)

    def operate(s: Sample) -> int | None:
        due = [t for t in times if t <= s.minute]
        return plan[due[-1]] if due else None

    return operate
