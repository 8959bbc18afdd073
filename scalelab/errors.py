"""Errors that tell the learner what to do next.

Every error carries a ``fix``: the exact command or setting that resolves it,
printed by the CLI and shown in notebooks instead of a bare traceback.
"""

from __future__ import annotations


class ScaleLabError(Exception):
    """A problem the learner can fix; ``fix`` says how."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}\n  Fix: {fix}")
        self.problem = problem
        self.fix = fix


class NoClusterError(ScaleLabError):
    """No tutorial cluster is running or reachable."""


class ContextNotAllowedError(ScaleLabError):
    """The current kube context was not created by Scale Lab."""


class MetricsUnavailableError(ScaleLabError):
    """The metrics API (metrics.k8s.io) does not answer."""


class MissingToolError(ScaleLabError):
    """A program (go, kubectl, kind, docker, a cached binary) is missing."""


class BuildError(ScaleLabError):
    """Building a pinned binary from source failed."""


class WaitTimeout(ScaleLabError):
    """A wait ran out of time; the message says what was awaited and what was seen.

    ``last_error`` is the exception the last probe raised, if it raised: then the
    wait learnt nothing about what it awaited (the cluster did not answer).
    """

    last_error: BaseException | None = None


class ClusterShapeError(ScaleLabError):
    """The cluster answers but lacks what a notebook needs (a pool, zones, nodes, free CPU).

    Raised by the first cell of a lesson or lab, before anything is created, so a
    too-small cluster is named up front instead of as a timeout or a wrong answer
    halfway through. One line (problem, then the fix), and no traceback in
    Jupyter: the learner did nothing wrong, and the stack would only hide the fix.
    """

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem, fix)
        self.args = (f"{problem} Fix: {fix}",)

    def __str__(self) -> str:
        return self.args[0]

    def _render_traceback_(self) -> list[str]:
        """IPython prints these lines instead of the traceback."""
        return [f"{type(self).__name__}: {self}"]
