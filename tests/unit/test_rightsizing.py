import pytest

from scalelab import rightsizing


def test_percentile_is_nearest_rank():
    assert rightsizing.percentile([10, 20, 30, 40], 50) == 20
    assert rightsizing.percentile([10, 20, 30, 40], 95) == 40
    assert rightsizing.percentile([7], 95) == 7


def test_suggested_request_adds_headroom_and_rounds_up():
    samples = [50.0] * 19 + [100.0]  # p95 = 50 (19 of 20 samples at 50)
    assert rightsizing.suggest_request(samples) == 60
    assert rightsizing.suggest_request([101.0]) == 130  # 121.2 → 130


def test_monthly_cost_of_a_reservation():
    assert rightsizing.monthly_cost(pods=10, cpu_request_millicores=500, price_per_core_hour=0.04) == pytest.approx(146.0)


def test_no_samples_explains_what_to_do():
    with pytest.raises(ValueError, match="kubectl top"):
        rightsizing.percentile([], 95)
