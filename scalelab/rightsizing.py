"""Right-sizing: turn observed CPU use into a request, and a request into money.

A request is a reservation: the scheduler keeps that much CPU free for the pod
on its node whether the pod uses it or not. Too high and you pay for idle
cores; too low and pods run above what they reserved, competing with their
neighbours (and an HPA measured against that request scales too eagerly).
A common rule: the 95th percentile of observed use, plus some headroom.
"""

from __future__ import annotations

import math

HOURS_PER_MONTH = 730
# An illustrative on-demand price for one vCPU; use your provider's own.
PRICE_PER_CORE_HOUR = 0.04


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation): the value below which pct % of samples fall."""
    if not values:
        raise ValueError("no samples: run the load for a while and read `kubectl top pods` again")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def suggest_request(samples_millicores: list[float], pct: float = 95, headroom: float = 1.2, step: int = 10) -> int:
    """p<pct> of observed use × headroom, rounded up to ``step`` millicores."""
    raw = percentile(samples_millicores, pct) * headroom
    return int(math.ceil(raw / step) * step)


def monthly_cost(pods: int, cpu_request_millicores: float, price_per_core_hour: float = PRICE_PER_CORE_HOUR) -> float:
    """What the reservation costs per month, used or not."""
    return pods * cpu_request_millicores / 1000 * HOURS_PER_MONTH * price_per_core_hour
