"""Windows of traffic scored by a real detector on a background thread."""

import time

import pandas as pd
import pytest
from prometheus_client import REGISTRY

from shipyard.data.schema import infer_schema
from shipyard.data.synthetic import generate_transactions
from shipyard.monitoring.drift import DriftDetector
from shipyard.monitoring.window import DriftMonitor, MonitorSettings


def scored(monitor, windows: int, timeout: float = 30.0) -> bool:
    """True once ``windows`` windows were scored or failed (scoring runs off the caller)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if monitor.scored + monitor.errors >= windows:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def detector():
    reference = generate_transactions(6000, seed=1)
    return DriftDetector.fit(reference, infer_schema(reference, "is_fraud"))


@pytest.fixture
def monitor(detector, request):
    settings = getattr(request, "param", MonitorSettings(window_size=500))
    monitor = DriftMonitor(detector, settings)
    yield monitor
    monitor.stop()


def test_reference_traffic_over_20_windows_rarely_alarms(monitor):
    for i in range(20):
        monitor.add(generate_transactions(500, seed=200 + i))
    assert scored(monitor, 20)
    assert monitor.scored == 20 and monitor.drift_windows <= 3


def test_shifted_traffic_is_flagged_within_one_window(monitor):
    monitor.add(generate_transactions(500, seed=8, shift=1.0))
    assert scored(monitor, 1)
    assert monitor.latest.is_drift
    assert {"amount", "channel", "merchant_category"} <= set(monitor.latest.drifted)
    assert REGISTRY.get_sample_value("shipyard_drift_is_drift") == 1.0
    assert REGISTRY.get_sample_value("shipyard_drift_feature_drift", {"feature": "amount"}) == 1.0


@pytest.mark.parametrize(
    "monitor", [MonitorSettings(window_size=1000, max_buffered_rows=100)], indirect=True
)
def test_overload_drops_the_oldest_rows_and_counts_them(monitor):
    monitor.add(generate_transactions(250, seed=3))
    assert monitor.dropped == 150 and monitor.buffered == 100


@pytest.mark.parametrize(
    "monitor", [MonitorSettings(window_size=1000, max_age_seconds=0.3, min_rows=50)], indirect=True
)
def test_an_aged_partial_window_is_scored(monitor):
    monitor.add(generate_transactions(120, seed=4))
    assert scored(monitor, 1, timeout=10)
    assert monitor.latest.rows == 120


def test_detector_errors_are_counted_and_scoring_goes_on(monitor):
    monitor.add(pd.DataFrame({"unrelated": range(500)}))  # lacks every feature
    assert scored(monitor, 1)
    assert monitor.errors == 1
    monitor.add(generate_transactions(500, seed=5))
    assert scored(monitor, 2)
    assert monitor.scored == 1
