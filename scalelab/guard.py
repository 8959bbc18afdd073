"""The context guard: Scale Lab only touches kube contexts it created.

A learner's kubeconfig may also hold a work cluster. Every API client the
library builds goes through :func:`check`, which refuses any context that
``scalelab up`` did not record, unless the learner opts in by naming it in
``SCALELAB_ALLOW_CONTEXT`` (comma-separated). Scaling production by accident
should need a deliberate, typed-out decision.
"""

from __future__ import annotations

import json
import os

from scalelab import paths
from scalelab.filelock import held
from scalelab.errors import ContextNotAllowedError

ALLOW_ENV = "SCALELAB_ALLOW_CONTEXT"


def _state_file():
    return paths.state_dir() / "contexts.json"


def created_contexts() -> set[str]:
    """Contexts that ``scalelab up`` created on this machine."""
    try:
        return set(json.loads(_state_file().read_text()))
    except (FileNotFoundError, ValueError):
        return set()


def _save(contexts: set[str]) -> None:
    tmp = _state_file().with_suffix(".tmp")
    tmp.write_text(json.dumps(sorted(contexts)))
    tmp.replace(_state_file())


def _lock():
    return held(paths.state_dir() / "contexts.lock")


def remember(context: str) -> None:
    with _lock():  # parallel `up`s (test workers) must not drop each other's entries
        _save(created_contexts() | {context})


def forget(context: str) -> None:
    with _lock():
        _save(created_contexts() - {context})


def opted_in() -> set[str]:
    return {c.strip() for c in os.environ.get(ALLOW_ENV, "").split(",") if c.strip()}


def allowed(context: str) -> bool:
    return context in created_contexts() or context in opted_in()


def check(context: str | None) -> str:
    """Return ``context`` if Scale Lab may act on it, else raise with how to opt in."""
    if not context:
        raise ContextNotAllowedError(
            "No kube context is selected, so there is no tutorial cluster to act on.",
            "start one with `scalelab up`",
        )
    if not allowed(context):
        raise ContextNotAllowedError(
            f"Refusing to act on kube context '{context}': Scale Lab did not create it, "
            "and it might be a real cluster.",
            f"switch to the tutorial cluster (`scalelab up`), or, if '{context}' really is a practice "
            f"cluster, opt in with: export {ALLOW_ENV}={context}",
        )
    return context
