"""Traffic for the stream API: profiles, a capacity model, and load drivers.

A *profile* is demand in requests per second over story time (minutes since
17:45 on release day). It is replayed fast-forward: with ``fast_forward=20``
one story minute passes in three wall seconds, so the hour from 17:45 to 18:45
takes three minutes. (Faster would hide the autoscaler's real reaction time:
metrics are scraped every 10 s and, on the course's clusters, the HPA re-evaluates
every 5 s of wall time; Kubernetes' default is 15 s.)

The *capacity model* turns ready replicas into served and dropped requests:
each request costs ``cpu_per_request_m`` millicores, so a pod that may burn up
to its CPU limit serves at most ``limit / cost`` requests per second; the rest
are dropped. The same numbers give each pod's CPU, which a *driver* makes real:

- :class:`EmulatedCPU` (kwok): sets each ready pod's ``kwok.x-k8s.io/usage-cpu``
  (and ``kwok.x-k8s.io/usage-memory``) annotation; kwok reports it to
  metrics-server like a kubelet would (``manifests/cluster/kwok-usage.yaml``).
- :class:`ResourceConsumerCPU` (kind): asks pods running the Kubernetes e2e
  image ``registry.k8s.io/e2e-test-images/resource-consumer:1.13`` to burn that
  many millicores (``POST /ConsumeCPU?millicores=N&durationSec=S`` on port 8080,
  reached through the API server's pod proxy), so the CPU is really spent; and,
  when asked, to hold memory (``POST /ConsumeMem?megabytes=N&durationSec=S``,
  which runs ``stress --vm 1 --vm-bytes NM --vm-hang 0 -t S`` in the pod: N MiB
  allocated, touched and kept until S seconds are over).

Both drivers take the same call, ``apply(pods, millicores_per_pod,
memory_mib=None)``: ``None`` leaves the memory as it was, so a replay that
only moves CPU never drops the memory a lab set up.

On kind that CPU comes out of the learner's machine, so the model is sized
small: at 1 millicore per request/s the busiest replay of the course (1200
requests/s) burns 1.2 cores at its peak, within :data:`REAL_CPU_BUDGET_M`.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from kubernetes import client

USAGE_ANNOTATION = "kwok.x-k8s.io/usage-cpu"
MEMORY_ANNOTATION = "kwok.x-k8s.io/usage-memory"
STORY_START = (17, 45)  # story minute 0 is 17:45 on release day; the album drops at 18:00


def clock(minute: float) -> str:
    """Story minute → wall-clock label, e.g. 15 → '18:00'."""
    total = STORY_START[0] * 60 + STORY_START[1] + int(minute)
    return f"{total // 60 % 24:02d}:{total % 60:02d}"


@dataclass(frozen=True)
class Profile:
    """Demand (requests/s) at each story minute; ``rps(minute)`` interpolates linearly."""

    name: str
    points: tuple[tuple[float, float], ...]  # (story minute, rps), minutes increasing

    def __post_init__(self) -> None:
        minutes = [m for m, _ in self.points]
        if len(self.points) < 2 or minutes != sorted(minutes) or any(r < 0 for _, r in self.points):
            raise ValueError(f"profile {self.name!r}: need 2+ points, minutes increasing, rps >= 0")

    @property
    def duration(self) -> float:
        return self.points[-1][0]

    def rps(self, minute: float) -> float:
        pts = self.points
        if minute <= pts[0][0]:
            return pts[0][1]
        for (m0, r0), (m1, r1) in zip(pts, pts[1:]):
            if minute <= m1:
                return r0 + (r1 - r0) * (minute - m0) / (m1 - m0) if m1 > m0 else r1
        return pts[-1][1]

    def peak(self) -> float:
        return max(r for _, r in self.points)

    def shifted(self, minutes: float, name: str | None = None) -> "Profile":
        """The same shape ``minutes`` earlier (negative) or later, clipped to the same evening."""
        end = self.duration
        moved = [(min(max(m + minutes, 0.0), end), r) for m, r in self.points]
        dedup: list[tuple[float, float]] = []
        for m, r in moved:
            if dedup and m == dedup[-1][0]:
                dedup[-1] = (m, r)
            else:
                dedup.append((m, r))
        if dedup[0][0] > 0:
            dedup.insert(0, (0.0, self.points[0][1]))
        if dedup[-1][0] < end:
            dedup.append((end, self.points[-1][1]))
        return Profile(name or f"{self.name} ({minutes:+g} min)", tuple(dedup))

    def until(self, minutes: float) -> "Profile":
        """The same profile cut (or held flat) at ``minutes``."""
        kept = tuple((m, r) for m, r in self.points if m < minutes)
        return Profile(self.name, (*kept, (minutes, self.rps(minutes))))

    def sample(self, step: float = 1.0) -> list[tuple[float, float]]:
        n = int(self.duration / step)
        return [(i * step, self.rps(i * step)) for i in range(n + 1)]


def steady(rps: float = 150, minutes: float = 60) -> Profile:
    return Profile("steady", ((0, rps), (minutes, rps)))


def album_release(base: float = 150, peak: float = 1000, release_minute: float = 15, minutes: float = 60) -> Profile:
    """Quiet evening, then the album drops at 18:00: demand jumps within two minutes, holds, then decays."""
    r = release_minute
    shape = Profile("album release", (
        (0, base), (r - 1, base), (r + 2, peak), (r + 10, peak * 0.9), (r + 22, peak * 0.45),
        (r + 35, base * 1.5), (max(minutes, r + 36), base * 1.5)))
    return shape.until(minutes)


def viral_ramp(base: float = 150, peak: float = 900, start_minute: float = 5, minutes: float = 60) -> Profile:
    """A song goes viral: demand climbs steadily for most of an hour, then plateaus."""
    s = start_minute
    return Profile("viral ramp", ((0, base), (s, base), (s + 40, peak), (max(minutes, s + 41), peak))).until(minutes)


@dataclass(frozen=True)
class Capacity:
    """How much one pod of the stream API can do."""

    # Sized so that on kind, where this CPU is really burned, the busiest minute of any
    # replay in the course (1200 requests/s) costs 1.2 cores: a small laptop keeps up.
    # Only the ratios matter to the story: 100 requests/s per pod at its request, 250 at
    # its limit, whatever the millicores.
    cpu_per_request_m: float = 1.0  # millicores per request/s
    cpu_limit_m: float = 250.0  # a pod cannot burn more than its limit
    cpu_request_m: float = 100.0  # what the HPA's utilisation is measured against

    @property
    def max_rps_per_pod(self) -> float:
        return self.cpu_limit_m / self.cpu_per_request_m

    def served(self, demand_rps: float, ready_pods: int) -> float:
        return min(demand_rps, ready_pods * self.max_rps_per_pod)

    def dropped(self, demand_rps: float, ready_pods: int) -> float:
        return demand_rps - self.served(demand_rps, ready_pods)

    def cpu_per_pod_m(self, demand_rps: float, ready_pods: int) -> float:
        """Millicores each ready pod burns while serving its share."""
        if ready_pods <= 0:
            return 0.0
        return self.served(demand_rps, ready_pods) / ready_pods * self.cpu_per_request_m

    def utilization(self, demand_rps: float, ready_pods: int) -> float:
        """CPU use as a percentage of the request: the number the HPA compares with its target."""
        return 100.0 * self.cpu_per_pod_m(demand_rps, ready_pods) / self.cpu_request_m

    @property
    def rps_at_request(self) -> float:
        """Requests/s a pod serves while using exactly the CPU it requested."""
        return self.cpu_request_m / self.cpu_per_request_m

    def pods_needed(self, demand_rps: float) -> int:
        """Fewest pods that serve ``demand_rps`` without any pod using more CPU than it requested.

        Beyond its request a pod still serves (up to its limit) but borrows CPU the
        scheduler never reserved for it; pods above this number are counted as
        over-provisioned.
        """
        return max(1, math.ceil(demand_rps / self.rps_at_request - 1e-9))

    def total_cpu_m(self, demand_rps: float, ready_pods: int) -> float:
        """Millicores all ready pods burn together: on kind, real CPU taken from the machine."""
        return self.served(demand_rps, ready_pods) * self.cpu_per_request_m


REAL_CPU_BUDGET_M = 1500.0  # the most real CPU (kind) any replay of the course may burn at once


def peak_cpu_m(profile: Profile, capacity: Capacity, max_pods: int, step: float = 1.0) -> tuple[float, float]:
    """(story minute, millicores): the first busiest minute of ``profile`` with at most ``max_pods`` ready pods.

    An upper bound of the CPU a replay burns on kind: served requests never exceed
    demand, nor what ``max_pods`` pods can serve at their limit. Demand is linear
    between the profile's points, so its busiest minute is one of them.
    """
    minutes = sorted({m for m, _ in profile.sample(step)} | {m for m, _ in profile.points})
    return max(((m, capacity.total_cpu_m(profile.rps(m), max_pods)) for m in minutes), key=lambda pair: pair[1])


@dataclass
class Score:
    """The scoreboard line of one replay: what users lost and what it cost."""

    name: str
    demand_requests: float = 0.0
    dropped_requests: float = 0.0
    pod_minutes: float = 0.0
    overprovisioned_pod_minutes: float = 0.0

    def add(self, demand_rps: float, pods: int, ready: int, minutes: float, capacity: Capacity) -> None:
        seconds = minutes * 60
        self.demand_requests += demand_rps * seconds
        self.dropped_requests += capacity.dropped(demand_rps, ready) * seconds
        self.pod_minutes += pods * minutes
        self.overprovisioned_pod_minutes += max(0, pods - capacity.pods_needed(demand_rps)) * minutes

    @property
    def dropped_percent(self) -> float:
        return 100.0 * self.dropped_requests / self.demand_requests if self.demand_requests else 0.0

    def as_row(self) -> dict[str, float | str]:
        return {"run": self.name, "dropped requests": round(self.dropped_requests),
                "dropped %": round(self.dropped_percent, 2), "pod-minutes": round(self.pod_minutes, 1),
                "over-provisioned pod-minutes": round(self.overprovisioned_pod_minutes, 1)}


def replay_offline(profile: Profile, replicas_at: Callable[[float], int], capacity: Capacity,
                   step: float = 1.0, name: str | None = None) -> Score:
    """Score a replica plan against a profile without a cluster (used for previews and tests)."""
    score = Score(name or profile.name)
    minute = 0.0
    while minute < profile.duration:
        pods = replicas_at(minute)
        score.add(profile.rps(minute), pods, pods, step, capacity)
        minute += step
    return score


# --- drivers: make the per-pod CPU real (or emulated) on the cluster ---------------------


class Driver(Protocol):
    def apply(self, pods: Sequence[client.V1Pod], millicores_per_pod: float,
              memory_mib: float | None = None) -> None:
        """Make each pod in ``pods`` use ``millicores_per_pod`` CPU (and ``memory_mib`` MiB, unless None) from now on."""

    def stop(self) -> None:
        """Stop making CPU happen (before a namespace is deleted)."""


class EmulatedCPU:
    """kwok: write the usage annotations on each pod (a merge patch, so other annotations survive).

    Pods, not the pod template: changing the template would start a rollout.
    """

    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)

    def apply(self, pods: Sequence[client.V1Pod], millicores_per_pod: float,
              memory_mib: float | None = None) -> None:
        wanted = {USAGE_ANNOTATION: f"{max(1, round(millicores_per_pod))}m"}
        if memory_mib is not None:
            wanted[MEMORY_ANNOTATION] = f"{max(1, round(memory_mib))}Mi"
        for pod in pods:
            have = pod.metadata.annotations or {}
            if all(have.get(k) == v for k, v in wanted.items()):
                continue
            try:
                self.core.patch_namespaced_pod(pod.metadata.name, pod.metadata.namespace,
                                               {"metadata": {"annotations": wanted}})
            except client.ApiException as exc:
                if exc.status != 404:  # a pod deleted meanwhile is fine
                    raise

    def stop(self) -> None:
        """Nothing runs in the background: the annotations go with the pods."""


def call_consumer(api: client.ApiClient, pod: client.V1Pod, endpoint: str, **query: int) -> str:
    """POST to a resource-consumer pod's ``endpoint`` (ConsumeCPU, ConsumeMem) through the pod proxy.

    ``kubectl`` equivalent: ``kubectl get --raw`` cannot POST, so this is
    ``curl -X POST <apiserver>/api/v1/namespaces/NS/pods/POD:8080/proxy/ENDPOINT?...``.
    """
    path = f"/api/v1/namespaces/{pod.metadata.namespace}/pods/{pod.metadata.name}:8080/proxy/{endpoint}"
    # An empty response map: the consumer answers plain text, not a Kubernetes object.
    data = api.call_api(path, "POST", query_params=list(query.items()), auth_settings=["BearerToken"],
                        response_types_map={}, _preload_content=False, _return_http_data_only=True)
    return data.data.decode()


class ResourceConsumerCPU:
    """kind: keep each resource-consumer pod burning the millicores (and holding the memory) last asked for.

    A ConsumeCPU call starts a burner process in the pod for a few seconds, and
    burners add up; so a background thread renews each pod's burn only when its
    previous window has ended, never stacking them. Short windows let a new rate
    apply within seconds. Memory works the same way with longer windows
    (ConsumeMem starts a ``stress`` process that holds the memory until its
    window ends): it is renewed only once the previous holder has exited, since
    two at once would hold twice the memory (and could pass a memory limit).
    Pods that are gone (404) are dropped; :meth:`stop` ends it, and a stopped
    driver starts again on the next :meth:`apply`.
    """

    IMAGE = "registry.k8s.io/e2e-test-images/resource-consumer:1.13"

    def __init__(self, api: client.ApiClient, window_seconds: int = 3, memory_window_seconds: int = 30,
                 now: Callable[[], float] = time.monotonic, background: bool = True) -> None:
        self.api = api
        self.window = window_seconds
        self.memory_window = memory_window_seconds
        self.now = now
        self.background = background
        self.targets: dict[tuple[str, str], tuple[client.V1Pod, int]] = {}  # (ns, pod) -> (pod, millicores)
        self.until: dict[tuple[str, str], float] = {}  # (ns, pod) -> end of the window it is burning
        self.memory: dict[tuple[str, str], tuple[client.V1Pod, int]] = {}  # (ns, pod) -> (pod, MiB)
        self.memory_until: dict[tuple[str, str], float] = {}  # (ns, pod) -> end of the window holding it
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def apply(self, pods: Sequence[client.V1Pod], millicores_per_pod: float,
              memory_mib: float | None = None) -> None:
        with self._lock:
            for pod in pods:
                key = (pod.metadata.namespace, pod.metadata.name)
                if millicores_per_pod < 1:
                    self.targets.pop(key, None)
                    self.until.pop(key, None)
                else:
                    self.targets[key] = (pod, round(millicores_per_pod))
                if memory_mib is None:
                    continue
                if memory_mib < 1:
                    self.memory.pop(key, None)  # the holder running now exits at the end of its window
                else:
                    self.memory[key] = (pod, round(memory_mib))
        self.tick()
        if self.background and self._thread is None:
            self._stopped.clear()
            self._thread = threading.Thread(target=self._run, name="resource-consumer", daemon=True)
            self._thread.start()

    def tick(self) -> None:
        """Renew every pod whose CPU window (or memory window) has ended."""
        with self._lock:
            for key, (pod, millicores) in list(self.targets.items()):
                if self.now() < self.until.get(key, 0.0) - 0.2:
                    continue
                if self._call(key, pod, "ConsumeCPU", millicores=millicores, durationSec=self.window):
                    self.until[key] = self.now() + self.window
            for key, (pod, mib) in list(self.memory.items()):
                if self.now() < self.memory_until.get(key, 0.0):
                    continue  # never two holders at once
                if self._call(key, pod, "ConsumeMem", megabytes=mib, durationSec=self.memory_window):
                    self.memory_until[key] = self.now() + self.memory_window

    def _call(self, key: tuple[str, str], pod: client.V1Pod, endpoint: str, **query: int) -> bool:
        try:
            call_consumer(self.api, pod, endpoint, **query)
        except client.ApiException as exc:
            if exc.status == 404:
                self._forget(key)  # the pod is gone
            return False  # starting or terminating: asked again on the next tick
        except OSError:
            return False
        return True

    def _forget(self, key: tuple[str, str]) -> None:
        for table in (self.targets, self.until, self.memory, self.memory_until):
            table.pop(key, None)

    def _run(self) -> None:
        while not self._stopped.wait(0.5):
            self.tick()

    def stop(self) -> None:
        """Stop renewing; running windows end by themselves (CPU within ``window`` s, memory ``memory_window`` s)."""
        self._stopped.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        with self._lock:
            for table in (self.targets, self.until, self.memory, self.memory_until):
                table.clear()


def driver_for(api: client.ApiClient, provider: str) -> Driver:
    """Real CPU on kind (resource-consumer), emulated CPU on kwok."""
    return ResourceConsumerCPU(api) if provider == "kind" else EmulatedCPU(api)
