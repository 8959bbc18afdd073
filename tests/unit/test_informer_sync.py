"""An informer that never listed answers "unknown", never "zero pods"."""

from __future__ import annotations

import pytest

from scalelab.watch import Informer, NotSyncedError


def unreachable(**_: object) -> object:
    raise ConnectionRefusedError("connection refused (the API server is down)")


def test_an_informer_that_cannot_list_raises_instead_of_counting_nothing():
    informer = Informer(unreachable, namespace="lesson-03", name="pods-stream-api").start()
    try:
        with pytest.raises(NotSyncedError) as err:
            informer.wait_synced(1)
        assert "pods-stream-api" in err.value.problem and "connection refused" in err.value.problem
        with pytest.raises(NotSyncedError):
            informer.snapshot()
    finally:
        informer.stop()
