"""Lab plumbing without a cluster: answer files, verdicts, scoring rules, error mapping."""

from __future__ import annotations

from pathlib import Path

import pytest
import urllib3
from kubernetes import client

from scalelab.checks import ERROR, FAIL, LABS, PASS, Task, Wrong, run_check
from scalelab.checks import lab1_right_size as lab1
from scalelab.checks import lab2_viral_spike as lab2
from scalelab.checks.board import TaskBoard
from scalelab.checks.lab import find_todos, labs_dir, read_answer
from scalelab.errors import NoClusterError, ScaleLabError

ROOT = Path(__file__).resolve().parents[2]


def task(check) -> Task:
    return Task("t", "a task", check, ("nudge", "near answer"))


def raises(exc):
    def check(_lab):
        raise exc
    return check


def test_run_check_tells_a_wrong_answer_from_an_unreadable_cluster():
    assert run_check(task(lambda lab: "fine"), None).state == PASS
    wrong = run_check(task(raises(Wrong("spec.replicas is 6"))), None)
    assert (wrong.state, wrong.message) == (FAIL, "spec.replicas is 6")
    for exc in (client.ApiException(status=503, reason="Service Unavailable"),
                urllib3.exceptions.MaxRetryError(None, "/api", "refused"),
                NoClusterError("no cluster", "run `scalelab up`")):
        result = run_check(task(raises(exc)), None)
        assert result.state == ERROR and "scalelab" in result.message, result


def test_todos_are_found_with_their_path():
    doc = {"spec": {"replicas": "TODO", "template": {"containers": [{"resources": {"requests": {"cpu": "TODO x"}}}]}}}
    assert find_todos(doc) == ["spec.replicas", "spec.template.containers[0].resources.requests.cpu"]
    assert find_todos({"spec": {"replicas": 3}}) == []


def test_every_learner_file_has_todos_and_every_solution_is_complete():
    for spec in LABS.values():
        files = {f for t in spec.tasks if not callable(t.solution) for f in t.solution}
        for name in files:
            learner = labs_dir() / spec.folder / name
            with pytest.raises(ScaleLabError, match="still has TODO"):
                read_answer(learner)
            assert read_answer(labs_dir() / "solutions" / spec.folder / name)


def test_answer_file_errors_name_the_line_and_the_fix(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n   labels: {}\n")
    with pytest.raises(ScaleLabError, match=r"not valid YAML at line \d+") as exc:
        read_answer(bad)
    assert "indentation" in exc.value.fix
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    with pytest.raises(ScaleLabError, match="is empty"):
        read_answer(tmp_path / "empty.yaml")
    with pytest.raises(ScaleLabError, match="does not exist"):
        read_answer(tmp_path / "missing.yaml")


def test_usage_history_is_deterministic_and_the_solution_fits_it():
    assert lab1.usage_history() == lab1.usage_history()
    o = lab1.observed()
    assert o["cpu_p95"] <= 200 <= 2 * o["cpu_p95"] and o["mem_max"] <= 128  # the reference answer's values


@pytest.mark.parametrize("verdict, expect", [
    ({"dropped_percent": 5.0, "pod_minutes": 100, "peak_replicas": 4, "max_replicas": 4, "min_replicas": 2},
     "hit spec.maxReplicas (4)"),
    ({"dropped_percent": 5.0, "pod_minutes": 100, "peak_replicas": 6, "max_replicas": 20, "min_replicas": 2},
     "behavior.scaleUp"),
    ({"dropped_percent": 0.0, "pod_minutes": 400, "peak_replicas": 20, "max_replicas": 20, "min_replicas": 16},
     "minReplicas (16)"),
    ({"dropped_percent": 0.0, "pod_minutes": 400, "peak_replicas": 20, "max_replicas": 20, "min_replicas": 2},
     "scaleDown"),
])
def test_spike_verdict_names_the_goal_missed_and_the_field(verdict, expect):
    with pytest.raises(Wrong) as exc:
        lab2.judge(verdict)
    assert expect in str(exc.value)
    goal = "service objective missed" if verdict["dropped_percent"] > lab2.OBJECTIVE_PERCENT else "budget exceeded"
    assert str(exc.value).startswith(goal)


def test_spike_verdict_passes_within_objective_and_budget():
    ok = {"dropped_percent": 0.2, "pod_minutes": 200, "peak_replicas": 17, "max_replicas": 20, "min_replicas": 2}
    assert "objective met" in lab2.judge(ok)


def test_task_board_shows_each_task_and_the_count():
    spec = LABS[1]
    board = TaskBoard(spec)
    assert [state for state, _, _ in board.rows()] == [None] * len(spec.tasks)
    from scalelab.checks.core import Result

    board.update(Result("qos", PASS, "all 12 pods are Guaranteed"))
    assert f"1/{len(spec.tasks)} tasks pass" in board.widget.value
    assert "all 12 pods are Guaranteed" in board.widget.value


def test_unknown_task_and_lab_names_say_what_exists():
    with pytest.raises(ScaleLabError, match="use one of: requests, qos"):
        LABS[1].task("request")
    from scalelab.checks.lab import spec_for

    with pytest.raises(ScaleLabError, match="labs are numbered 1, 2, 3, 4"):
        spec_for(7)


def test_each_lab_has_a_notebook_starter_files_and_a_starting_state():
    for spec in LABS.values():
        folder = labs_dir() / spec.folder
        assert len(list(folder.glob("lab-*.ipynb"))) == 1
        assert (ROOT / "manifests" / "labs" / spec.starting_state).exists()
        assert all(len(t.hints) == 2 and all(t.hints) for t in spec.tasks)


def test_a_wait_that_ran_out_because_the_cluster_did_not_answer_is_cannot_check_not_fail():
    from scalelab.checks.core import ERROR, FAIL, Task, Wrong, run_check, unless_unreadable
    from scalelab.errors import WaitTimeout
    from scalelab.wait import wait_for

    def answer(probe):
        def check(_lab):
            try:
                wait_for(probe, "the PodDisruptionBudget to count the pods", 0.3, interval=0.1)
            except WaitTimeout as exc:
                unless_unreadable(exc)
                raise Wrong("the PodDisruptionBudget does not count 4 pods yet") from None
            return "counted"
        return Task("pdb", "PodDisruptionBudget", check, hints=("", ""))

    def api_down():
        raise ConnectionRefusedError("connection refused")

    assert run_check(answer(api_down), None).state == ERROR
    assert run_check(answer(lambda: (False, "2 pods counted")), None).state == FAIL
