"""Give the cluster a moment to act on what was just applied before judging it.

A learner checks right after applying: the Deployment controller and the
scheduler need a few seconds to replace pods. Checks that look at pods wait
until the rollout is done, or until ``timeout`` (a rollout that cannot finish,
e.g. pods that cannot be scheduled, is then judged as it stands).
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client

from scalelab import k8s


def rollout(lab: Any, name: str = "stream-api", timeout: float = 30) -> bool:
    """True when ``name`` finished rolling out within ``timeout`` s; False when it is still stuck."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _ = k8s.rollout_status(lab.api, lab.namespace, name)
        except client.ApiException as exc:
            if exc.status == 404:
                return False
            raise
        if done:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(1)
