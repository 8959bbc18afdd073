"""The API server goes away mid-lesson: the kwok control plane (this layer's cluster) stops, then starts again.

A replay rides it out, scoring the minutes it could not read with the pods last
seen and saying so; a lab check whose wait runs out because nothing answers is
CANNOT CHECK, not a wrong answer.
"""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client

from scalelab import k8s
from scalelab.progress import Progress
from scalelab.replay import Replay
from scalelab.traffic import Capacity, EmulatedCPU, Profile
from scalelab.wait import wait_for
from tests.cluster.helpers import deployment

pytestmark = pytest.mark.cluster

NS = "outage-replay"


def test_a_replay_rides_out_an_api_server_outage(cluster, api, monkeypatch):
    monkeypatch.delenv("SCALELAB_FAST_FORWARD", raising=False)
    k8s.delete_namespace(api, NS)
    # Not a tutorial namespace (no label): other tests count those, and its deletion after the outage
    # may wait minutes on the namespace controller's backoff (its discovery failed while the API was away).
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
    k8s.apply_objects(api, [deployment("stream-api", "registry.k8s.io/pause:3.10", replicas=3, cpu="100m")], NS)
    wait_for(lambda: k8s.rollout_status(api, NS, "stream-api"), "3 ready pods", 120)
    replay = Replay(api, NS, "stream-api", Profile("flat", ((0, 200), (40, 200))), EmulatedCPU(api),
                    capacity=Capacity(), fast_forward=120.0)  # one story minute every 0.5 s: 20 s in all
    outage = threading.Thread(target=lambda: (time.sleep(3), cluster.stop(Progress(quiet=True)),
                                              time.sleep(3), cluster.start(Progress(quiet=True))))
    try:
        replay.start()
        outage.start()
        replay.wait(180)  # raises if the replay gave up
        outage.join(180)
    finally:
        cluster.up(Progress(quiet=True))  # ready again, metrics flowing, before the next test
        client.CoreV1Api(cluster.api()).delete_namespace(NS)  # not awaited: see above
    gaps = [s for s in replay.samples if s.api_gap]
    assert gaps, "the outage never showed in the samples (did the cluster stop?)"
    assert replay.samples[-1].minute == 40 and not replay.samples[-1].api_gap
    assert all(s.ready == 3 for s in gaps), "pods kept serving while the API server was away"
    assert any("did not answer" in n for n in replay.notes)


NS_CHECK = "outage-check"


def test_a_check_whose_wait_the_outage_ends_says_cannot_check(cluster, api):
    """Lab 3's PodDisruptionBudget check waits up to 20 s for the budget to count the pods. Here it never
    can (no pod matches), and the API server goes away during that wait: the result must be CANNOT CHECK
    with the fix, not NOT YET with a hint that blames the learner's budget."""
    from types import SimpleNamespace

    from scalelab.checks import core, lab3_ship_v2

    k8s.delete_namespace(api, NS_CHECK)
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS_CHECK)))
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "stream-api"},
           "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "stream-api"}}}}
    k8s.apply_objects(api, [pdb], NS_CHECK)
    task = next(t for t in lab3_ship_v2.SPEC.tasks if t.id == "pdb")
    lab = SimpleNamespace(api=api, namespace=NS_CHECK)
    # Before the outage the same check is an answer the learner can act on (no pods to count yet).
    before = core.run_check(task, lab)
    assert before.state == core.FAIL and "does not count" in before.message
    outage = threading.Thread(target=lambda: (time.sleep(2), cluster.stop(Progress(quiet=True))))
    try:
        outage.start()
        during = core.run_check(task, lab)  # reads the budget, then waits 20 s; the API goes away at 2 s
        outage.join(120)
    finally:
        cluster.up(Progress(quiet=True))
        client.CoreV1Api(cluster.api()).delete_namespace(NS_CHECK)  # not awaited: see the replay test
    assert during.state == core.ERROR, during.message
    assert "scalelab up" in during.message and "does not count" not in during.message
