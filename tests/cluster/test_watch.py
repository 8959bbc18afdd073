"""The informer behind every live view recovers from an expired watch and from a closed connection."""

import time

import pytest
from kubernetes import client, watch

from scalelab import k8s
from scalelab.watch import Informer

from .helpers import eventually, fresh_namespace

pytestmark = pytest.mark.cluster


def config_map(name: str, value: str = "v") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": value}}


def test_informer_relists_after_410_and_resumes_after_the_server_closes_the_watch(api):
    ns = fresh_namespace(api, "test-watch")
    core = client.CoreV1Api(api)
    k8s.apply_objects(api, [config_map("before")], ns)
    # The server ends each watch after 2 s: the informer must resume every time.
    informer = Informer(core.list_namespaced_config_map, namespace=ns, timeout_seconds=2, name="cm").start()
    try:
        assert informer.wait_synced(30)
        assert "test-watch/before" in informer.items

        eventually(lambda: informer.reconnects >= 2, 30, "the informer to resume after server-side closes")
        k8s.apply_objects(api, [config_map("after-reconnect")], ns)
        eventually(lambda: "test-watch/after-reconnect" in informer.items, 30, "a change seen after resuming")

        # Expire it for real: stop watching, let history move on and etcd compact it
        # (every minute on the kwok provider), then resume from the old version.
        # The server answers 410 Gone, and the informer must re-list.
        informer.stop()
        stale = informer.resource_version
        core.delete_namespaced_config_map("before", ns)
        k8s.apply_objects(api, [config_map("after-expiry")], ns)

        def expired() -> bool:
            try:
                for _ in watch.Watch().stream(core.list_namespaced_config_map, ns, resource_version=stale,
                                              timeout_seconds=1):
                    pass
            except client.ApiException as exc:
                return exc.status == 410
            return False

        eventually(expired, 150, "etcd to compact the version the informer last saw", interval=5,
                   between=lambda: k8s.apply_objects(api, [config_map("churn", str(time.monotonic()))], ns))
        relists = informer.relists
        informer.start(resume=True)
        eventually(lambda: informer.relists > relists, 30, "a re-list after 410 Gone")
        eventually(lambda: "test-watch/after-expiry" in informer.items and "test-watch/before" not in informer.items,
                   30, "the copy to match the server after the re-list")
        assert informer.last_error is None or "410" not in informer.last_error
    finally:
        informer.stop()
    assert not informer.running
    k8s.delete_namespace(api, ns)


def test_informer_stops_promptly(api):
    informer = Informer(client.CoreV1Api(api).list_node, name="nodes").start()
    assert informer.wait_synced(30)
    informer.stop(timeout=10)
    assert not informer.running, "stop() must end the thread even while a watch is open"
