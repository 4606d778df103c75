"""alibi-detect's TabularDrift behind Shipyard's interface, on the synthetic transactions."""

import numpy as np
import pytest

from shipyard.data.schema import infer_schema
from shipyard.data.synthetic import generate_transactions
from shipyard.monitoring.drift import DriftDetector


@pytest.fixture(scope="module")
def detector():
    reference = generate_transactions(6000, seed=1)
    return DriftDetector.fit(reference, infer_schema(reference, "is_fraud"), p_val=0.05)


def test_reference_like_traffic_rarely_alarms(detector):
    alarms = [detector.score(generate_transactions(500, seed=100 + i)).is_drift for i in range(20)]
    assert sum(alarms) <= 3  # expected 1 in 20 at p_val 0.05 (Bonferroni-corrected)


def test_shifted_traffic_is_flagged_naming_the_features(detector):
    result = detector.score(generate_transactions(500, seed=7, shift=1.0))
    assert result.is_drift
    assert {"amount", "channel", "merchant_category"} <= set(result.drifted)
    assert "customer_age" not in result.drifted
    assert result.p_values["amount"] < result.threshold < 0.05
    assert result.statistics["amount"] > 0


def test_save_and_load_give_the_same_verdict(detector, tmp_path):
    window = generate_transactions(400, seed=9, shift=0.5)
    loaded = DriftDetector.load(detector.save(tmp_path / "drift"))
    first, again = detector.score(window), loaded.score(window)
    assert first.drifted == again.drifted
    np.testing.assert_allclose(list(first.p_values.values()), list(again.p_values.values()))


def test_unseen_categories_and_missing_values_are_encoded(detector):
    window = generate_transactions(300, seed=3)
    window.loc[:50, "channel"] = "teleport"
    window.loc[:10, "amount"] = np.nan
    result = detector.score(window)
    assert "channel" in result.drifted  # a new category is a shift in the category mix
    assert result.rows == 300
