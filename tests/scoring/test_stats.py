"""The Wilson interval against values worked out by hand from its formula."""

from __future__ import annotations

import math

import pytest

from arena.scoring.stats import normal_interval, wilson_interval


def test_wilson_known_values():
    # 0/10: [0, z^2 / (n + z^2)] = [0, 3.8415 / 13.8415]
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-5)
    assert wilson_interval(10, 10) == pytest.approx((0.72247, 1.0), abs=1e-5)
    # 5/10: centre 0.5, half-width z/(1+z^2/n) * sqrt(0.025 + z^2/400) = 0.26340
    assert wilson_interval(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-5)
    # 81/100: centre 0.79853, half-width 0.07632
    low, high = wilson_interval(81, 100)
    assert low == pytest.approx(0.72221, abs=1e-5) and high == pytest.approx(0.87485, abs=1e-5)


def test_wilson_contains_the_estimate_and_narrows_with_n():
    for k, n in [(1, 3), (30, 100), (300, 1000)]:
        low, high = wilson_interval(k, n)
        assert low < k / n < high
    assert wilson_interval(300, 1000)[1] - wilson_interval(300, 1000)[0] < wilson_interval(30, 100)[1] - wilson_interval(30, 100)[0]


def test_wilson_edge_cases():
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_normal_interval():
    assert normal_interval(0.5, 0.01) == pytest.approx((0.5 - 0.0196, 0.5 + 0.0196), abs=1e-4)
