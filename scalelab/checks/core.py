"""The shape of a lab: tasks, their checks, and the verdict a check gives.

A check is a plain function that reads the cluster and either returns a short
"what is right" sentence or raises :class:`Wrong` with the exact field or
object that is wrong. :func:`run_check` turns that into a :class:`Result` and
keeps two failures apart: the learner's answer is wrong ("fail"), or the
cluster could not be read at all ("error"), which is never the learner's fault.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from kubernetes import client

from scalelab import k8s
from scalelab.errors import ScaleLabError, WaitTimeout

PASS, FAIL, ERROR = "pass", "fail", "error"

# Set in CI (and by an instructor rehearsing): Lab.apply reads labs/solutions/ instead of the learner's files.
SOLUTIONS_ENV = "SCALELAB_LAB_SOLUTIONS"


class Wrong(Exception):
    """The learner's answer is wrong; the message names the object and field, and what to do."""


@dataclass(frozen=True)
class Task:
    """One thing the learner must get right, with its check and two levels of hints."""

    id: str
    title: str
    check: Callable[["Any"], str]  # takes the Lab; returns what is right or raises Wrong
    hints: tuple[str, str]  # (nudge, near-answer)
    # Files in labs/solutions/<folder>/ that solve it (applied in order), or a function doing what the learner would.
    solution: "tuple[str, ...] | Callable[[Any], None]" = ()
    # For a slow check (a replay, a drain): a digest of what it judges. Lab.summary() reuses its last
    # verdict while the digest is unchanged, and checks again once it differs; other checks always run again.
    fingerprint: Callable[[Any], str] | None = None


@dataclass(frozen=True)
class LabSpec:
    """A lab: its number, folder, namespace, starting state and tasks."""

    number: int
    folder: str  # under labs/, e.g. "01-right-size"
    title: str
    tasks: tuple[Task, ...]
    starting_state: str  # manifest under manifests/labs/ applied by Lab.start and reset
    need_metrics: bool = False
    prepare: Callable[[Any], None] | None = None  # extra set-up after the starting state (e.g. usage)

    @property
    def namespace(self) -> str:
        return f"lab-{self.number}"

    def task(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        known = ", ".join(t.id for t in self.tasks)
        raise ScaleLabError(f"lab {self.number} has no task '{task_id}'.", f"use one of: {known}")


@dataclass
class Result:
    task: str
    state: str  # PASS, FAIL or ERROR
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.state == PASS

    def __str__(self) -> str:
        mark = {PASS: "PASS", FAIL: "NOT YET", ERROR: "CANNOT CHECK"}[self.state]
        return f"[{mark}] {self.task}: {self.message}"


UNREACHABLE = k8s.UNREACHABLE


def unless_unreadable(exc: WaitTimeout) -> None:
    """Re-raise what stopped a check's wait from reading the cluster, so the result is CANNOT CHECK, not FAIL.

    For ``except WaitTimeout`` blocks that turn a wait that ran out into a hint:
    a wait that ran out because the API server did not answer says nothing about
    the learner's answer.
    """
    if isinstance(exc.last_error, k8s.UNREADABLE):
        raise exc.last_error


def run_check(task: Task, lab: Any) -> Result:
    """Run one task's check; a cluster that cannot be read is an ERROR, not a failed answer."""
    try:
        return Result(task.id, PASS, task.check(lab))
    except Wrong as exc:
        return Result(task.id, FAIL, str(exc))
    except client.ApiException as exc:
        if exc.status in (401, 403):
            why = f"the API server refused to let the check read ({exc.status} {exc.reason})"
        else:
            why = f"the API server answered {exc.status} {exc.reason}"
        return Result(task.id, ERROR, f"could not read the cluster: {why}. Fix: run `scalelab status`; "
                                      "if it is down, `scalelab up`, then check again.")
    except ScaleLabError as exc:
        return Result(task.id, ERROR, f"could not check: {exc.problem} Fix: {exc.fix}")
    except UNREACHABLE as exc:
        return Result(task.id, ERROR, f"could not reach the cluster ({type(exc).__name__}). "
                                      "Fix: run `scalelab up` in a terminal, then check again.")


def solutions_enabled() -> bool:
    return os.environ.get(SOLUTIONS_ENV, "") not in ("", "0")
