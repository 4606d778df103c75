"""Gate decisions and the histogram quantile they rest on."""

import math

import pytest

from shipyard.rollout.gates import Health, Thresholds, judge
from shipyard.rollout.health import histogram_quantile

T = Thresholds()


def failed(canary, stable):
    return [g.gate for g in judge(canary, stable, T) if not g.passed]


def test_a_healthy_canary_passes_every_gate():
    assert failed(Health(200, 0.0, 0.010, False), Health(2000, 0.0, 0.009, False)) == []


def test_errors_fail_and_the_report_names_the_values():
    results = judge(Health(200, 0.2, 0.010), Health(2000, 0.0, 0.010), T)
    gate = next(g for g in results if g.gate == "error rate")
    assert not gate.passed and "20.00%" in gate.observed and "1.00%" in gate.limit


def test_a_stable_that_errors_too_raises_the_allowance():
    assert failed(Health(200, 0.03, 0.01), Health(2000, 0.028, 0.01)) == []


def test_slower_p99_fails_above_the_ratio_and_the_floor():
    assert failed(Health(200, 0, 0.200), Health(2000, 0, 0.050)) == ["p99 latency"]
    assert failed(Health(200, 0, 0.020), Health(2000, 0, 0.005)) == []  # under the floor


def test_drift_in_the_canary_traffic_fails():
    assert failed(Health(200, 0, 0.01, True), Health(2000, 0, 0.01, False)) == ["drift"]


def test_histogram_quantile_matches_promql_interpolation():
    # 100 observations: 50 under 0.01, 40 in (0.01, 0.1], 10 in (0.1, 1]
    buckets = {0.01: 50, 0.1: 90, 1.0: 100, math.inf: 100}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.01)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.1 + 0.9 * 0.9)
    assert histogram_quantile(0.99, {0.1: 0, math.inf: 0}) is None
