"""The suite runner (tools/suite.py): a layer that fails or does not run fails the suite."""

from __future__ import annotations

import importlib.util
import multiprocessing
import sys
import time
from pathlib import Path

import pytest

from scalelab.filelock import held

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("suite", ROOT / "tools" / "suite.py")
suite = importlib.util.module_from_spec(spec)
sys.modules["suite"] = suite
spec.loader.exec_module(suite)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALELAB_CACHE", str(tmp_path / "cache"))


def test_pytest_closing_line_is_read_from_a_log(tmp_path):
    log = tmp_path / "kwok.log"
    log.write_text("collected 9 items\n...\n===== 7 passed, 1 failed, 1 error, 5 deselected in 812.31s (0:13:32) =====\n")
    assert suite.pytest_summary(log) == "7 passed, 1 failed, 1 error, 5 deselected"
    assert suite.counts(suite.pytest_summary(log)) == (7, 2)


def test_a_stage_that_ran_pytest_twice_counts_both_runs(tmp_path):
    log = tmp_path / "kind.log"
    log.write_text("== 100 passed, 1 failed in 900.00s ==\nkind layer, alone\n== 24 passed in 300.10s ==\n")
    assert suite.pytest_summary(log) == "100 passed, 1 failed; 24 passed"
    assert suite.counts(suite.pytest_summary(log)) == (124, 1)


def test_a_log_without_pytest_has_no_summary(tmp_path):
    log = tmp_path / "docker.log"
    log.write_text("docker: engine running\n")
    assert suite.pytest_summary(log) == ""


def test_a_stage_after_a_failed_one_does_not_run_and_is_reported():
    stages = [suite.Stage("build", ["false"]), suite.Stage("layer", ["true"], after=("build",)),
              suite.Stage("other", ["true"])]
    runner = suite.Suite(stages, deadline=60)
    runner.run()
    assert runner.stages["build"].state == "failed"
    assert runner.stages["layer"].state == "not run" and runner.stages["layer"].reason == "build failed"
    assert runner.stages["other"].state == "passed"


def test_a_stage_past_the_deadline_is_stopped_and_fails():
    runner = suite.Suite([suite.Stage("slow", ["sleep", "30"]), suite.Stage("next", ["true"], after=("slow",))],
                         deadline=1)
    started = time.monotonic()
    runner.run()
    assert time.monotonic() - started < 25
    assert runner.stages["slow"].state == "failed" and runner.stages["next"].state == "not run"


def test_skipping_the_kind_layer_needs_the_variable_and_says_so(monkeypatch, capsys):
    monkeypatch.setenv(suite.SKIP_KIND, "no Docker on this laptop")
    monkeypatch.setattr(sys, "argv", ["suite.py", "--only", "kind"])
    assert suite.main() == 0
    out = capsys.readouterr().out
    assert "KIND LAYER SKIPPED" in out and "no Docker on this laptop" in out


def _append_twice(path: str, lock: str, tag: str) -> None:
    with held(Path(lock)):
        with open(path, "a") as out:
            out.write(f"{tag}-start\n")
            out.flush()
            time.sleep(0.3)
            out.write(f"{tag}-end\n")


def test_file_lock_keeps_two_processes_apart(tmp_path):
    path, lock = tmp_path / "log", tmp_path / "x.lock"
    procs = [multiprocessing.Process(target=_append_twice, args=(str(path), str(lock), t)) for t in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(10)
    lines = path.read_text().split()
    assert sorted(lines) == ["a-end", "a-start", "b-end", "b-start"]
    assert lines[0].split("-")[0] == lines[1].split("-")[0]  # the first holder finished before the other began


def test_a_notebook_its_second_run_and_each_labs_mutations_are_scheduled_together():
    from tests.groups import group_of

    assert group_of("lessons/03-horizontal-pod-autoscaling.ipynb::Cell 7") == "03-horizontal-pod-autoscaling"
    assert group_of("tests/notebooks/test_rerun.py::test_lesson_runs_again_and_cleans_up["
                    "03-horizontal-pod-autoscaling.ipynb]") == "03-horizontal-pod-autoscaling"
    assert group_of("labs/02-viral-spike/lab-02-viral-spike.ipynb::Cell 3") == "lab-02-viral-spike"
    assert group_of("tests/notebooks/test_rerun.py::test_lesson_runs_again_and_cleans_up["
                    "lab-02-viral-spike.ipynb]") == "lab-02-viral-spike"
    assert group_of("tests/labs/test_mutations.py::test_wrong_answer_is_caught_with_its_hint[lab2-no-request]") \
        == group_of("tests/labs/test_mutations.py::test_wrong_answer_is_caught_with_its_hint[lab2-max-too-low]") \
        != group_of("tests/labs/test_mutations.py::test_wrong_answer_is_caught_with_its_hint[lab3-no-probe]")
    assert group_of("tests/cluster/test_resources.py::test_limitrange") == "tests/cluster/test_resources.py"


def test_on_kind_the_notebooks_that_burn_real_cpu_never_run_side_by_side():
    from tests.groups import group_of

    lesson_01, lab_2 = "lessons/01-scaling-by-hand.ipynb::Cell 5", "labs/02-viral-spike/lab-02-viral-spike.ipynb::Cell 10"
    assert group_of(lesson_01, "kind") == group_of(lab_2, "kind") != group_of("lessons/00-setup-and-tour.ipynb::Cell 1",
                                                                             "kind")
    assert group_of(lesson_01, "kwok") != group_of(lab_2, "kwok")  # kwok workers each have a cluster: no need
    # Lesson 02's throttling cell measures one pod's burn: never beside a spike replay.
    assert group_of("lessons/02-requests-limits-quotas.ipynb::Cell 14", "kind") == group_of(lab_2, "kind")


def test_a_stage_that_only_waits_for_quiet_runs_after_a_failed_one():
    runner = suite.Suite([suite.Stage("kind", ["false"]), suite.Stage("browser", ["true"], later_than=("kind",))],
                         deadline=60)
    runner.run()
    assert runner.stages["kind"].state == "failed" and runner.stages["browser"].state == "passed"
    assert runner.stages["browser"].started >= runner.stages["kind"].ended


def test_the_kwok_binaries_build_beside_the_node_image_the_kwok_layer_after_it_and_the_browser_last():
    both = {s.name: s for s in suite.stages({"kwok", "kind"}, 3, [])}
    # kwok niced, then the shared builds at normal priority: a niced compile never holds a lock the node build waits on
    assert both["binaries"].later_than == () and both["binaries"].cmd[0] == "sh"
    script = both["binaries"].cmd[-1]
    niced, shared = script.split(" && ")
    assert niced.startswith("nice -n 19 ") and niced.endswith("binaries --only kwok")
    assert not shared.startswith("nice") and shared.endswith("scalelab.cli binaries")
    assert both["kind"].after == ("node",) and "binaries" not in both["kind"].after + both["kind"].later_than
    # the niced kwok layer starts once the node image is built: beside it, its threads slowed it down
    assert both["kwok"].later_than == ("node",)
    assert both["browser"].later_than == ("kwok", "kind") and both["browser"].after == ("binaries", "npm")


def test_scalelab_binaries_only_builds_the_named_components_kwok_first(monkeypatch, tmp_path):
    from scalelab import toolchain
    from scalelab.errors import ScaleLabError

    built: list[str] = []
    monkeypatch.setattr(toolchain, "ensure", lambda c, _progress: built.append(c.name) or tmp_path)
    toolchain.ensure_all(None, ["metrics-server", "kwok"])
    assert built == ["kwok", "metrics-server"]
    built.clear()
    toolchain.ensure_all(None)
    assert built[0] == "kwok" and sorted(built) == sorted(c.name for c in toolchain.ALL)
    with pytest.raises(ScaleLabError) as err:
        toolchain.ensure_all(None, ["kowk"])
    assert "kowk" in err.value.problem and "kwok" in err.value.fix


def test_a_stage_later_than_a_failed_one_still_runs_after_it():
    stages = [suite.Stage("node", ["sh", "-c", "sleep 0.5; exit 1"]),
              suite.Stage("binaries", ["true"], later_than=("node",))]
    runner = suite.Suite(stages, deadline=60)
    runner.run()
    assert runner.stages["binaries"].state == "passed"
    assert runner.stages["binaries"].started >= runner.stages["node"].ended


def test_a_signal_to_the_suite_stops_its_stages_and_lets_them_clean_up(tmp_path):
    """Each stage runs in a session of its own: SIGTERM to the suite must reach them (a CI timeout
    must not leave a build or a kind cluster behind), and no stage may start after it."""
    import signal
    import subprocess
    import textwrap

    cleaned, later = tmp_path / "cleaned", tmp_path / "later"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT / 'tools')!r})
        import suite
        stage = suite.Stage("build", ["sh", "-c", "trap 'echo unmounted > {cleaned}; exit 143' TERM; "
                                             "echo ready; sleep 60 & wait"])
        after = suite.Stage("layer", ["sh", "-c", "touch {later}"], later_than=("build",))
        runner = suite.Suite([stage, after], deadline=120)
        runner.stop_on_signals()
        runner.run()
    """)
    env = {**__import__("os").environ, "SCALELAB_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    log = tmp_path / "cache" / "logs" / "suite" / "build.log"
    deadline = time.monotonic() + 20
    while not (log.exists() and "ready" in log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert cleaned.read_text().strip() == "unmounted"
    assert not later.exists()
