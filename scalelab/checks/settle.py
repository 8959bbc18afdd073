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


def unschedulable(pod: client.V1Pod) -> bool:
    """The scheduler has tried and found no node for this pod (`kubectl get pods` says Pending)."""
    return any(c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable"
               for c in (pod.status.conditions or []))


def rollout(lab: Any, name: str = "stream-api", timeout: float = 30, until_unschedulable: bool = False) -> bool:
    """True when ``name`` finished rolling out within ``timeout`` s; False when it is still stuck.

    With ``until_unschedulable`` the wait also ends as soon as a pod cannot be
    scheduled: the rollout will not finish, and the check can say why at once.
    """
    deadline = time.monotonic() + timeout
    core = client.CoreV1Api(lab.api)
    while True:
        if until_unschedulable and any(
                unschedulable(p) for p in core.list_namespaced_pod(lab.namespace, label_selector="app=stream-api").items):
            return False
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
