"""The HorizontalPodAutoscaler's arithmetic, in plain Python, for the calculator and the lessons.

The controller (pkg/controller/podautoscaler in Kubernetes) computes, for a CPU
utilisation target and all pods ready with metrics:

    utilisation = int(100 × sum(pod CPU usage) / sum(pod CPU requests))
    ratio       = utilisation / target
    desired     = current                 if |ratio − 1| ≤ tolerance (0.1)
                  ceil(ratio × current)   otherwise

then clamps ``desired`` to [minReplicas, maxReplicas] (and, over time, applies
the ``behavior`` rate limits and stabilisation windows, which lesson 03 shows).
"""

from __future__ import annotations

import math

TOLERANCE = 0.1


def utilization(usage_millicores: list[float], request_millicores: list[float]) -> int:
    """Average CPU utilisation in percent of the requests, truncated like the controller does."""
    total_request = sum(request_millicores)
    if total_request <= 0:
        raise ValueError("pods without a CPU request cannot be autoscaled on CPU utilisation "
                         "(the HPA reports 'missing request for cpu')")
    return int(100 * sum(usage_millicores) / total_request)


def desired_replicas(current: int, utilization_percent: float, target_percent: float,
                     min_replicas: int = 1, max_replicas: int = 10, tolerance: float = TOLERANCE) -> int:
    """What the HPA asks for, before behavior rate limits and stabilisation."""
    if current <= 0:
        return max(min_replicas, 0)
    ratio = utilization_percent / target_percent
    wanted = current if abs(ratio - 1.0) <= tolerance else math.ceil(ratio * current)
    return max(min_replicas, min(max_replicas, wanted))
