"""Shared fixtures: one real kwok cluster per test session, isolated from the learner's own.

The cluster gets its own name ("scalelab-test") and its own kubeconfig file, so
running the tests never touches a learner's ``scalelab`` cluster or
``~/.kube/config``. Binaries come from the shared cache (built once).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

TEST_CLUSTER = "scalelab-test"


def pytest_configure(config: pytest.Config) -> None:
    # Set before any test imports the client library, so every layer (library,
    # kubectl subprocesses, notebook kernels) sees the same isolated kubeconfig.
    if "SCALELAB_TEST_KUBECONFIG" not in os.environ:
        folder = Path(tempfile.mkdtemp(prefix="scalelab-test-"))
        os.environ["SCALELAB_TEST_KUBECONFIG"] = str(folder / "kubeconfig")
    os.environ["KUBECONFIG"] = os.environ["SCALELAB_TEST_KUBECONFIG"]
    os.environ["SCALELAB_CLUSTER"] = TEST_CLUSTER


@pytest.fixture(scope="session")
def cluster():
    """The kwok provider with the test cluster up and ready; deleted at the end of the session."""
    from scalelab.cluster.kwok import KwokProvider
    from scalelab.progress import Progress

    provider = KwokProvider(TEST_CLUSTER)
    provider.up(Progress(interval=30))
    yield provider
    provider.down(Progress(interval=30))


@pytest.fixture(scope="session")
def api(cluster):
    return cluster.api()
