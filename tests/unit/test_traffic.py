"""Profile arithmetic, the capacity model and the scoreboard, on plain numbers."""

import pytest

from scalelab import traffic
from scalelab.traffic import Capacity, Profile


def test_profile_interpolates_between_points():
    p = Profile("p", ((0, 100), (10, 200), (20, 200)))
    assert p.rps(0) == 100 and p.rps(5) == 150 and p.rps(15) == 200
    assert p.rps(-3) == 100 and p.rps(99) == 200
    assert p.duration == 20 and p.peak() == 200


@pytest.mark.parametrize("points", [((0, 1),), ((5, 1), (0, 2)), ((0, -1), (1, 1))])
def test_invalid_profiles_are_refused(points):
    with pytest.raises(ValueError):
        Profile("bad", points)


def test_album_release_spikes_at_18_00():
    p = traffic.album_release(base=150, peak=1000)
    assert traffic.clock(0) == "17:45" and traffic.clock(15) == "18:00"
    assert p.rps(10) == 150
    assert p.rps(17) == 1000
    assert p.rps(40) < p.rps(20)
    assert p.duration == 60


def test_shifted_profile_comes_earlier_and_keeps_the_evening_length():
    p = traffic.album_release()
    early = p.shifted(-10)
    assert early.duration == p.duration
    assert early.rps(7) == p.rps(17)
    assert early.rps(0) == p.rps(10)


def test_viral_ramp_climbs_monotonically():
    p = traffic.viral_ramp(base=100, peak=900, start_minute=10)
    values = [p.rps(m) for m in range(0, 91, 5)]
    assert values == sorted(values) and values[-1] == 900


def test_capacity_serves_up_to_the_limit_and_drops_the_rest():
    cap = Capacity(cpu_per_request_m=1, cpu_limit_m=250, cpu_request_m=100)
    assert cap.max_rps_per_pod == 250
    assert cap.served(600, 2) == 500 and cap.dropped(600, 2) == 100
    assert cap.dropped(400, 2) == 0
    assert cap.cpu_per_pod_m(400, 2) == 200  # 200 rps each at 1m per request
    assert cap.utilization(400, 2) == 200.0  # of a 100m request
    assert cap.total_cpu_m(600, 2) == 500  # what both pods burn together: the served requests only
    assert cap.cpu_per_pod_m(100, 0) == 0 and cap.dropped(100, 0) == 100


def test_the_default_model_is_the_lessons_story_at_half_the_millicores():
    """Halving the cost per request, the request and the limit together changes no requests/s figure,
    no utilisation percentage, hence no replica count, dropped request or pod-minute of the story."""
    cap, before = Capacity(), Capacity(cpu_per_request_m=2, cpu_limit_m=500, cpu_request_m=200)
    assert (cap.cpu_per_request_m, cap.cpu_request_m, cap.cpu_limit_m) == (1, 100, 250)
    assert (cap.rps_at_request, cap.max_rps_per_pod) == (before.rps_at_request, before.max_rps_per_pod) == (100, 250)
    for demand, ready in [(150, 2), (1000, 4), (1000, 13), (1200, 20)]:
        assert cap.utilization(demand, ready) == before.utilization(demand, ready)
        assert cap.dropped(demand, ready) == before.dropped(demand, ready)
        assert cap.pods_needed(demand) == before.pods_needed(demand)
        assert cap.cpu_per_pod_m(demand, ready) == before.cpu_per_pod_m(demand, ready) / 2


def test_pods_needed_keeps_every_pod_within_its_request():
    cap = Capacity(cpu_per_request_m=1, cpu_limit_m=250, cpu_request_m=100)
    assert cap.rps_at_request == 100
    assert cap.pods_needed(0) == 1
    assert cap.pods_needed(100) == 1
    assert cap.pods_needed(101) == 2


def test_score_counts_drops_and_overprovisioning():
    cap = Capacity(cpu_per_request_m=1, cpu_limit_m=250)
    score = traffic.Score("s")
    score.add(demand_rps=600, pods=2, ready=2, minutes=1, capacity=cap)  # 100 rps dropped for 60 s
    score.add(demand_rps=100, pods=5, ready=5, minutes=2, capacity=cap)  # 4 pods too many for 2 min
    assert score.dropped_requests == 6000
    assert score.demand_requests == 600 * 60 + 100 * 120
    assert score.pod_minutes == 12
    assert score.overprovisioned_pod_minutes == 8
    assert score.as_row()["dropped %"] == round(100 * 6000 / 48000, 2)


def test_fixed_schedule_loses_to_an_early_spike():
    cap = Capacity()
    on_time = traffic.album_release(release_minute=15)
    early = on_time.shifted(-10, "early spike")
    plan = lambda minute: 6 if minute >= 15 else 2  # "scale to 6 at 18:00"
    assert traffic.replay_offline(on_time, plan, cap).dropped_requests < \
        traffic.replay_offline(early, plan, cap).dropped_requests


class RecordingApi:
    """Stands in for the HTTP transport: records each call, answers like the consumer (plain text)."""

    def __init__(self, failing: set[str] = frozenset()) -> None:
        self.calls: list[tuple[str, list]] = []
        self.failing = failing

    def call_api(self, path, method, query_params, response_types_map, **kwargs):
        from kubernetes.client import ApiException

        assert method == "POST" and response_types_map == {}
        if any(name in path for name in self.failing):
            raise ApiException(status=503, reason="Service Unavailable")
        self.calls.append((path, query_params))
        return type("Response", (), {"data": b"ConsumeCPU will be consumed"})()


def test_resource_consumer_burns_one_window_at_a_time_through_the_pod_proxy():
    from kubernetes import client

    clock = [100.0]
    api = RecordingApi(failing={"stream-api-new"})
    driver = traffic.ResourceConsumerCPU(api, window_seconds=3, now=lambda: clock[0], background=False)
    pods = [client.V1Pod(metadata=client.V1ObjectMeta(name=n, namespace="l03")) for n in ("stream-api-abc", "stream-api-new")]
    driver.apply(pods, 249.6)
    clock[0] += 1.5
    driver.apply(pods, 400)  # mid-window: asking again now would stack a second burner
    assert api.calls == [("/api/v1/namespaces/l03/pods/stream-api-abc:8080/proxy/ConsumeCPU",
                          [("millicores", 250), ("durationSec", 3)])]
    clock[0] += 1.5
    api.failing = set()
    driver.tick()  # the window ended: both renewed at the new rate, the pod that failed included
    assert [q[0][1] for _, q in api.calls] == [250, 400, 400]
    assert api.calls[-1][0].endswith("/pods/stream-api-new:8080/proxy/ConsumeCPU")
    driver.apply(pods[:1], 0)  # no load: that pod is no longer renewed
    clock[0] += 3
    driver.tick()
    assert [p for p, _ in api.calls[3:]] == ["/api/v1/namespaces/l03/pods/stream-api-new:8080/proxy/ConsumeCPU"]


def test_resource_consumer_holds_memory_one_window_at_a_time_and_keeps_it_when_only_cpu_moves():
    from kubernetes import client

    clock = [0.0]
    api = RecordingApi()
    driver = traffic.ResourceConsumerCPU(api, window_seconds=3, memory_window_seconds=30,
                                         now=lambda: clock[0], background=False)
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="stream-api-abc", namespace="lab-1"))
    mem = "/api/v1/namespaces/lab-1/pods/stream-api-abc:8080/proxy/ConsumeMem"

    def memory_calls():
        return [q for path, q in api.calls if path == mem]

    driver.apply([pod], 180, memory_mib=91.6)
    assert memory_calls() == [[("megabytes", 92), ("durationSec", 30)]]
    clock[0] += 3
    driver.apply([pod], 150)  # a replay moving CPU only: memory is neither dropped nor stacked
    clock[0] += 26.9
    driver.tick()
    assert len(memory_calls()) == 1  # the first holder still runs: a second would hold twice as much
    clock[0] += 0.1
    driver.tick()
    assert memory_calls()[-1] == [("megabytes", 92), ("durationSec", 30)]
    driver.apply([pod], 150, memory_mib=0)  # no memory: not renewed once the running holder exits
    clock[0] += 30
    driver.tick()
    assert len(memory_calls()) == 2
    assert api.calls[-1][0].endswith("/ConsumeCPU")  # CPU carries on


def test_a_stopped_consumer_renews_nothing_and_starts_again_on_the_next_apply():
    from kubernetes import client

    clock = [0.0]
    api = RecordingApi()
    driver = traffic.ResourceConsumerCPU(api, now=lambda: clock[0], background=False)
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="stream-api-abc", namespace="lab-1"))
    driver.apply([pod], 200, memory_mib=100)
    driver.stop()
    clock[0] += 60
    driver.tick()
    assert len(api.calls) == 2  # the first CPU and memory windows only: nothing keeps burning
    driver.apply([pod], 100)
    assert [path.rsplit("/", 1)[1] for path, _ in api.calls[2:]] == ["ConsumeCPU"]


class RecordingCore:
    """Stands in for CoreV1Api: records each pod patch."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, dict]] = []

    def patch_namespaced_pod(self, name, namespace, body):
        self.patches.append((name, body))


def test_emulated_usage_writes_memory_beside_cpu_and_skips_pods_already_there():
    from kubernetes import client

    driver = traffic.EmulatedCPU.__new__(traffic.EmulatedCPU)
    driver.core = RecordingCore()
    done = client.V1Pod(metadata=client.V1ObjectMeta(name="done", namespace="lab-1", annotations={
        traffic.USAGE_ANNOTATION: "180m", traffic.MEMORY_ANNOTATION: "92Mi"}))
    fresh = client.V1Pod(metadata=client.V1ObjectMeta(name="fresh", namespace="lab-1"))
    driver.apply([done, fresh], 180.2, memory_mib=91.6)
    assert driver.core.patches == [("fresh", {"metadata": {"annotations": {
        "kwok.x-k8s.io/usage-cpu": "180m", "kwok.x-k8s.io/usage-memory": "92Mi"}}})]
    driver.apply([done], 90)  # CPU only: the memory annotation is left alone
    assert driver.core.patches[-1] == ("done", {"metadata": {"annotations": {"kwok.x-k8s.io/usage-cpu": "90m"}}})


def test_short_evenings_cut_the_profile_cleanly():
    p = traffic.album_release(release_minute=10, minutes=30)
    assert p.duration == 30 and p.rps(12) == p.peak()
    assert traffic.viral_ramp(start_minute=5, minutes=20).duration == 20


def test_the_scoreboard_keeps_runs_and_notes_apart(tmp_path, monkeypatch):
    from scalelab import scoreboard

    monkeypatch.setenv("SCALELAB_STATE_DIR", str(tmp_path))
    score = traffic.Score("your HPA")
    score.dropped_requests, score.pod_minutes = 120.0, 250.0
    scoreboard.record("lab 2 viral spike", score, run="lab 2 · viral song")
    scoreboard.note("02 right-sizing", "request 40m")
    scoreboard.note("02 right-sizing", "request 45m")  # a re-run replaces the note
    assert scoreboard.load()["lab 2 viral spike"]["run"] == "lab 2 · viral song"
    assert "_notes" not in scoreboard.load() and scoreboard.notes() == {"02 right-sizing": "request 45m"}
    html = scoreboard.table(["lab 2 viral spike"], with_notes=["02 right-sizing", "not recorded"])
    assert "lab 2 · viral song" in html and "<li><b>02 right-sizing</b>: request 45m</li>" in html
    assert "not recorded" not in html
