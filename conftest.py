"""Shared set-up: one real cluster per test session, isolated from the learner's own.

kwok by default; ``SCALELAB_TEST_PROVIDER=kind`` runs the same tests on a kind
cluster (real containers; see tools/offline-kind for machines without a registry).

The cluster gets its own name ("scalelab-test") and its own kubeconfig file, so
running the tests never touches a learner's ``scalelab`` cluster or
``~/.kube/config``. It starts before the first test that needs it (a cluster
test or a notebook cell) and is deleted when the session ends. Binaries come
from the shared cache (built once).
"""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path

import pytest

# SCALELAB_TEST_CLUSTER lets two test sessions run side by side (e.g. a browser-test session).
# Under pytest-xdist (`-n N`) each worker gets a cluster of its own ("<name>-gw0", …): notebooks
# drain nodes and count every pod, so two of them must never share a cluster, unless
# SCALELAB_TEST_SHARED_CLUSTER=1 says the notebooks of this session may (tools/test-kind.sh:
# notebooks that drain nodes run in a session of their own). Then the workers share the
# cluster and the kubeconfig (SCALELAB_TEST_KUBECONFIG), and the caller deletes the cluster.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
SHARED = os.environ.get("SCALELAB_TEST_SHARED_CLUSTER") == "1"
TEST_CLUSTER = os.environ.get("SCALELAB_TEST_CLUSTER", "scalelab-test") + (f"-{WORKER}" if WORKER and not SHARED else "")
TEST_PROVIDER = os.environ.get("SCALELAB_TEST_PROVIDER", "kwok")
_provider = None


def _end_like_ctrl_c(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def pytest_configure(config: pytest.Config) -> None:
    # A CI timeout or the suite's stop (tools/suite.py) sends SIGTERM, which would end pytest on the
    # spot and leave the session's cluster running: end as Ctrl-C does, through the fixtures'
    # teardown and pytest_sessionfinish, which delete it.
    signal.signal(signal.SIGTERM, _end_like_ctrl_c)
    # Set before anything imports the client library, so every layer (library,
    # kubectl subprocesses, notebook kernels) sees the same isolated kubeconfig.
    # xdist workers inherit the controller's environment, so each makes its own file.
    if SHARED and "SCALELAB_TEST_KUBECONFIG" not in os.environ:
        raise pytest.UsageError("SCALELAB_TEST_SHARED_CLUSTER=1 needs SCALELAB_TEST_KUBECONFIG (one file for all workers)")
    if "SCALELAB_TEST_KUBECONFIG" not in os.environ or (WORKER and not SHARED):
        folder = Path(tempfile.mkdtemp(prefix=f"scalelab-test-{WORKER}-" if WORKER else "scalelab-test-"))
        os.environ["SCALELAB_TEST_KUBECONFIG"] = str(folder / "kubeconfig")
    os.environ["KUBECONFIG"] = os.environ["SCALELAB_TEST_KUBECONFIG"]
    # The guard's record of created contexts (and scoreboards) apart from the learner's: an
    # interrupted test run must not leave a test cluster in their trusted list.
    if "SCALELAB_STATE_DIR" not in os.environ:
        os.environ["SCALELAB_STATE_DIR"] = tempfile.mkdtemp(prefix="scalelab-test-state-")
    os.environ["SCALELAB_CLUSTER"] = TEST_CLUSTER
    os.environ.pop("SCALELAB_ALLOW_CONTEXT", None)
    # Lab notebooks apply the reference solutions (labs/solutions/) instead of the learner's TODO files.
    os.environ["SCALELAB_LAB_SOLUTIONS"] = "1"


def needs_cluster(item: pytest.Item) -> bool:
    return item.get_closest_marker("cluster") is not None or str(item.fspath).endswith(".ipynb")


def test_cluster():
    """Start the session's cluster once; later calls only make sure it is up and the current context.

    (A test that creates a second cluster moves the kubeconfig's current context;
    notebooks, like learners, use the current context.)
    """
    global _provider
    from scalelab.progress import Progress

    if _provider is None:
        if TEST_PROVIDER == "kind":
            from scalelab.cluster.kind import KindProvider

            # SCALELAB_TEST_KIND_CONFIG: a kind config name or file (default: the learner's, kind-configs/default.yaml).
            provider = KindProvider(TEST_CLUSTER, os.environ.get("SCALELAB_TEST_KIND_CONFIG"))
        elif TEST_PROVIDER == "kwok":
            from scalelab.cluster.kwok import KwokProvider

            provider = KwokProvider(TEST_CLUSTER)
        else:
            raise pytest.UsageError(f"SCALELAB_TEST_PROVIDER={TEST_PROVIDER!r}: use kwok or kind")
        if SHARED:  # the first worker creates it, the others wait and reuse it
            from scalelab import paths
            from scalelab.filelock import held

            with held(paths.locks_dir() / f"test-cluster-{TEST_CLUSTER}.lock"):
                provider.up(Progress(interval=30))
        else:
            if provider.exists():  # left by an interrupted session: its kubeconfig is gone, start afresh
                provider.down(Progress(interval=30))
            provider.up(Progress(interval=30))
        _provider = provider
    else:
        _provider.up(Progress(quiet=True))
    return _provider


test_cluster.__test__ = False  # a helper, not a test


def pytest_runtest_setup(item: pytest.Item) -> None:
    if needs_cluster(item):
        test_cluster()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _provider is not None and not SHARED:
        from scalelab.progress import Progress

        _provider.down(Progress(interval=30))


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run each notebook's second run (tests/notebooks) right after its nbval run.

    Tests marked ``kind`` (real containers) are deselected on a kwok session, and
    reported as such: `make test-kind` runs them.
    """
    if TEST_PROVIDER != "kind":
        kind_only = [i for i in items if i.get_closest_marker("kind")]
        if kind_only:
            config.hook.pytest_deselected(items=kind_only)
            items[:] = [i for i in items if not i.get_closest_marker("kind")]
    reruns = {}
    rest = []
    for item in items:
        param = getattr(item, "callspec", None)
        if item.get_closest_marker("notebook_rerun") and param is not None:
            reruns[param.params["notebook"]] = item
        else:
            rest.append(item)
    ordered: list[pytest.Item] = []
    for i, item in enumerate(rest):
        ordered.append(item)
        path = str(item.fspath)
        nxt = rest[i + 1] if i + 1 < len(rest) else None
        if path.endswith(".ipynb") and (nxt is None or str(nxt.fspath) != path):
            name = Path(path).name
            if name in reruns:
                ordered.append(reruns.pop(name))
    ordered.extend(reruns.values())
    items[:] = ordered


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Under ``-n N --dist loadscope``: schedule by :func:`tests.groups.group_of` (a notebook with its second run)."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    from tests.groups import group_of

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return ByGroup(config, log)


@pytest.fixture(scope="session")
def cluster():
    """The session's provider (kwok, or kind) with the test cluster up and ready."""
    return test_cluster()


@pytest.fixture(scope="session")
def api(cluster):
    return cluster.api()
