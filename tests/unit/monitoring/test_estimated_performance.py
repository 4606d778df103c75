"""CBPE on a synthetic world where P(y|x) is known and fixed: under covariate shift the
label-free estimate lands within a stated tolerance of the metric the labels give."""

import numpy as np
import pytest
from prometheus_client import REGISTRY
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from shipyard.monitoring.estimated_performance import (
    Calibration,
    EstimatedPerformance,
    estimate,
)

TOLERANCE = 0.03  # |estimate - truth| per metric, 5000-row windows (measured: at most 0.021)
SHIFTS = {"reference": (0.0, 1.0), "towards the boundary": (0.0, 0.35), "moved": (0.8, 1.0)}


def binary_world(rows: int, seed: int, center: float = 0.0, spread: float = 1.0):
    """Labels from a fixed P(y|x); the model ranks right but is overconfident and biased."""
    rng = np.random.default_rng(seed)
    x = rng.normal(center, spread, (rows, 2))
    logit = 2 * x[:, 0] - x[:, 1]
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    score = 1 / (1 + np.exp(-(3 * logit + 0.5)))
    return y, np.column_stack([1 - score, score])


def multiclass_world(rows: int, seed: int, center: float = 0.0, spread: float = 1.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(center, spread, (rows, 2))
    logits = np.column_stack([x[:, 0], x[:, 1], -x[:, 0] - x[:, 1]]) * 1.5
    truth = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in truth])
    sharp = np.exp(2.5 * logits)  # overconfident
    return y, sharp / sharp.sum(axis=1, keepdims=True)


def true_binary(y, proba, threshold=0.5):
    predicted = (proba[:, 1] >= threshold).astype(int)
    return {
        "accuracy": accuracy_score(y, predicted),
        "precision": precision_score(y, predicted),
        "recall": recall_score(y, predicted),
        "f1": f1_score(y, predicted),
        "roc_auc": roc_auc_score(y, proba[:, 1]),
    }


def true_multiclass(y, proba):
    predicted = proba.argmax(axis=1)
    return {
        "accuracy": accuracy_score(y, predicted),
        "f1_macro": f1_score(y, predicted, average="macro"),
        "roc_auc_ovr": roc_auc_score(y, proba, multi_class="ovr"),
    }


@pytest.fixture(scope="module")
def binary_calibration():
    return Calibration.fit(*binary_world(5000, seed=1))  # the holdout, before any shift


@pytest.mark.parametrize("shift", list(SHIFTS))
def test_binary_estimate_is_within_tolerance_of_the_labelled_truth(binary_calibration, shift):
    for seed in (2, 3, 4):
        y, proba = binary_world(5000, seed, *SHIFTS[shift])
        estimated = estimate(binary_calibration.apply(proba), proba, 0.5)
        truth = true_binary(y, proba)
        assert set(estimated) == set(truth)
        for name, value in truth.items():
            assert estimated[name] == pytest.approx(value, abs=TOLERANCE), (shift, name)


def test_the_shift_really_moves_the_metric_and_calibration_is_what_tracks_it(binary_calibration):
    """An estimator that repeated the holdout's metrics, or skipped calibration, fails here."""
    holdout = true_binary(*binary_world(5000, seed=1))
    y, proba = binary_world(5000, 5, *SHIFTS["towards the boundary"])
    truth = true_binary(y, proba)
    assert holdout["accuracy"] - truth["accuracy"] > 0.1
    assert holdout["roc_auc"] - truth["roc_auc"] > 0.1
    uncalibrated = estimate(proba, proba, 0.5)
    assert abs(uncalibrated["accuracy"] - truth["accuracy"]) > 3 * TOLERANCE


@pytest.mark.parametrize("shift", list(SHIFTS))
def test_multiclass_estimate_is_within_tolerance(shift):
    calibration = Calibration.fit(*multiclass_world(5000, seed=1))
    y, proba = multiclass_world(5000, 7, *SHIFTS[shift])
    estimated = estimate(calibration.apply(proba), proba, None)
    for name, value in true_multiclass(y, proba).items():
        assert estimated[name] == pytest.approx(value, abs=TOLERANCE), (shift, name)
    np.testing.assert_allclose(calibration.apply(proba).sum(axis=1), 1.0)


def test_stored_calibration_replays_sklearns_isotonic_regression_exactly():
    y, proba = binary_world(2000, seed=8)
    stored = Calibration.from_dict(Calibration.fit(y, proba).to_dict())
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(proba[:, 1], y)
    _, fresh = binary_world(500, seed=9, center=2.0)  # beyond the holdout's range too
    np.testing.assert_array_equal(stored.apply(fresh)[:, 1], iso.predict(fresh[:, 1]))


def test_windows_are_exported_as_gauges_and_foreign_rows_ignored(binary_calibration):
    tracker = EstimatedPerformance(binary_calibration, "cbpe-test", "3", 0.5, window=1000)
    y, proba = binary_world(1500, seed=10)
    tracker.add([[0.1, 0.2, 0.7]])  # three classes: not this model's, ignored
    tracker.add(proba[:600].tolist())
    tracker.wait()
    assert tracker.latest == {}  # under a window: nothing estimated yet
    tracker.add(proba[600:1200].tolist())
    tracker.wait()
    expected = estimate(binary_calibration.apply(proba[:1200]), proba[:1200], 0.5)
    assert tracker.latest == pytest.approx(expected)
    sample = REGISTRY.get_sample_value(
        "shipyard_estimated_metric", {"model": "cbpe-test", "version": "3", "metric": "roc_auc"}
    )
    assert sample == pytest.approx(expected["roc_auc"])


def test_a_window_arriving_while_one_is_estimated_is_skipped(binary_calibration, monkeypatch):
    import threading

    from shipyard.monitoring import estimated_performance

    release, calls = threading.Event(), []

    def slow(calibrated, scores, threshold):
        calls.append(len(scores))
        release.wait(5)
        return {"accuracy": 0.5}

    monkeypatch.setattr(estimated_performance, "estimate", slow)
    tracker = EstimatedPerformance(binary_calibration, "cbpe-slow", "1", 0.5, window=100)
    _, proba = binary_world(300, seed=12)
    tracker.add(proba[:100].tolist())  # estimated on the worker, which now waits
    tracker.add(proba[100:200].tolist())  # arrives meanwhile: skipped, not queued
    release.set()
    tracker.wait()
    tracker.add(proba[200:].tolist())
    tracker.wait()
    assert calls == [100, 100] and tracker.skipped == 1 and tracker.latest == {"accuracy": 0.5}
