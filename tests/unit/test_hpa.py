"""The calculator follows the controller's formula, case by case."""

import pytest

from scalelab import hpa


@pytest.mark.parametrize("current,util,target,expected", [
    (1, 200, 50, 4),      # ceil(1 × 4)
    (3, 120, 50, 8),      # ceil(3 × 2.4) = ceil(7.2)
    (4, 54, 50, 4),       # ratio 1.08: within the 10 % tolerance, no change
    (4, 56, 50, 5),       # ratio 1.12: ceil(4.48)
    (10, 10, 50, 2),      # ceil(10 × 0.2)
    (5, 46, 50, 5),       # ratio 0.92: tolerated
    (2, 1000, 50, 10),    # ceil(40) clamped to maxReplicas
    (6, 0, 50, 1),        # idle: down to minReplicas
])
def test_desired_replicas_matches_the_controller_formula(current, util, target, expected):
    assert hpa.desired_replicas(current, util, target, min_replicas=1, max_replicas=10) == expected


def test_utilization_is_truncated_to_an_integer_percent():
    assert hpa.utilization([150, 151], [200, 200]) == 75  # 75.25 → 75
    assert hpa.utilization([399], [200]) == 199


def test_missing_request_is_explained():
    with pytest.raises(ValueError, match="missing request for cpu"):
        hpa.utilization([100], [0])
