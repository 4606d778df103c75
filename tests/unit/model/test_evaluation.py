import numpy as np
import pytest

from shipyard.model.evaluation import evaluate


def test_metrics_match_a_hand_checked_case():
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    result = evaluate(y, proba, 0.5, [0, 1])
    assert result.metrics["roc_auc"] == pytest.approx(0.75)
    assert result.confusion == [[2, 0], [1, 1]]
    assert result.metrics["f1"] == pytest.approx(2 / 3, abs=1e-6)
    assert result.metrics["precision"] == 1.0 and result.metrics["recall"] == 0.5
    assert result.labels == ["0", "1"]


def test_roc_curve_is_bounded_and_finite():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    p = np.clip(y * 0.3 + rng.random(5000) * 0.7, 0, 1)
    fpr, tpr, thresholds = evaluate(y, np.c_[1 - p, p], 0.5, [0, 1]).roc
    assert len(fpr) <= 200 and fpr[0] == 0.0 and fpr[-1] == 1.0
    assert all(0.0 <= t <= 1.0 for t in thresholds)
