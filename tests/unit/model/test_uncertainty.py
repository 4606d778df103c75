"""The paired bootstrap behind the gate: weighted metrics equal scikit-learn's with the same
weights, baselines score what a model that learned nothing scores, resamples are seeded."""

import numpy as np
import pytest
from sklearn import metrics as sk

from shipyard.model.uncertainty import (
    compare,
    resamples_for,
    sentence,
    trivial_scores,
    weighted_metric,
)

RNG = np.random.default_rng(1)
N = 800
WEIGHTS = RNG.integers(0, 3, (3, N)).astype(float)  # three resamples as row counts


def binary_case():
    y = RNG.integers(0, 2, N)
    p = np.round(np.clip(y * 0.2 + RNG.random(N) * 0.8, 0, 1), 2)  # rounded: ties
    return y, np.c_[1 - p, p]


@pytest.mark.parametrize(
    "name, reference",
    [
        ("roc_auc", lambda y, p, w: sk.roc_auc_score(y, p[:, 1], sample_weight=w)),
        ("pr_auc", lambda y, p, w: sk.average_precision_score(y, p[:, 1], sample_weight=w)),
        ("log_loss", lambda y, p, w: sk.log_loss(y, p, sample_weight=w)),
        ("f1", lambda y, p, w: sk.f1_score(y, p[:, 1] >= 0.4, sample_weight=w)),
        ("accuracy", lambda y, p, w: sk.accuracy_score(y, p[:, 1] >= 0.4, sample_weight=w)),
    ],
)
def test_binary_metrics_equal_scikit_learns_with_weights(name, reference):
    y, proba = binary_case()
    found = weighted_metric(name, "binary", WEIGHTS, y, proba, 0.4)
    expected = [reference(y, proba, w) for w in WEIGHTS]
    np.testing.assert_allclose(found, expected, rtol=1e-9)


def test_multiclass_and_regression_metrics_equal_scikit_learns():
    y = RNG.integers(0, 4, N)
    proba = RNG.dirichlet(np.ones(4), N)
    proba[np.arange(N), y] += 0.3
    proba /= proba.sum(axis=1, keepdims=True)
    for name, reference in [
        ("f1_macro", lambda w: sk.f1_score(y, proba.argmax(1), average="macro", sample_weight=w)),
        ("roc_auc_ovr", lambda w: sk.roc_auc_score(y, proba, multi_class="ovr", sample_weight=w)),
        ("log_loss", lambda w: sk.log_loss(y, proba, sample_weight=w)),
    ]:
        found = weighted_metric(name, "multiclass", WEIGHTS, y, proba)
        np.testing.assert_allclose(found, [reference(w) for w in WEIGHTS], rtol=1e-9)
    target = RNG.normal(size=N)
    predicted = target + RNG.normal(size=N)
    for name, reference in [
        ("rmse", sk.root_mean_squared_error),
        ("mae", sk.mean_absolute_error),
        ("r2", sk.r2_score),
    ]:
        found = weighted_metric(name, "regression", WEIGHTS, target, predicted)
        expected = [reference(target, predicted, sample_weight=w) for w in WEIGHTS]
        np.testing.assert_allclose(found, expected, rtol=1e-9)


def test_trivial_baselines_score_what_learning_nothing_scores():
    y, _ = binary_case()
    train = np.r_[np.zeros(70, int), np.ones(30, int)]
    prior, threshold = trivial_scores("binary", "roc_auc", train, N)
    assert np.allclose(prior, [0.7, 0.3]) and threshold == 0.5
    ones = np.ones((1, N))
    assert weighted_metric("roc_auc", "binary", ones, y, prior)[0] == 0.5
    assert weighted_metric("pr_auc", "binary", ones, y, prior)[0] == pytest.approx(y.mean())
    assert weighted_metric("accuracy", "binary", ones, y, prior, 0.5)[0] == pytest.approx(
        1 - y.mean()  # always the majority (negative) class
    )
    values = np.array([1.0, 2.0, 10.0])
    assert trivial_scores("regression", "rmse", values, 2)[0].tolist() == [13 / 3] * 2
    assert trivial_scores("regression", "mae", values, 2)[0].tolist() == [2.0, 2.0]


def test_the_interval_is_seeded_paired_and_skips_resamples_without_a_class():
    y, proba = binary_case()
    base = trivial_scores("binary", "roc_auc", y, N)
    first = compare("roc_auc", "binary", y, (proba, 0.5), {"baseline": base})["baseline"]
    again = compare("roc_auc", "binary", y, (proba, 0.5), {"baseline": base})["baseline"]
    assert first == again and first.resamples == 1000 and first.skipped == 0
    assert first.model.low < first.model.value < first.model.high and first.better
    assert first.difference.low == pytest.approx(first.model.low - 0.5)  # baseline is 0.5
    # one positive among 30 rows: about a third of the resamples miss it and are skipped
    tiny = np.r_[np.zeros(29, int), 1]
    constant = (np.tile([0.9, 0.1], (30, 1)), 0.5)
    found = compare("roc_auc", "binary", tiny, (proba[:30], 0.5), {"b": constant})["b"]
    assert 250 < found.skipped < 450 and found.resamples + found.skipped == 1000


def test_fifty_thousand_rows_draw_fewer_resamples_and_still_answer():
    """The gate's cost is bounded by drawing fewer resamples on large holdouts (the interval
    is narrow there anyway); its speed is measured by the benchmarks, not asserted here."""
    y = RNG.integers(0, 2, 50_000)
    p = np.clip(y * 0.1 + RNG.random(50_000) * 0.9, 0, 1)
    found = compare(
        "roc_auc",
        "binary",
        y,
        (np.c_[1 - p, p], 0.5),
        {"baseline": trivial_scores("binary", "roc_auc", y, 50_000)},
    )["baseline"]
    assert 400 <= resamples_for(50_000) < 1000 == resamples_for(20_000)
    assert found.resamples + found.skipped == resamples_for(50_000)
    assert found.model.low < found.model.value < found.model.high and found.better


def test_the_sentence_is_plain():
    y, proba = binary_case()
    found = compare(
        "roc_auc", "binary", y, (proba, 0.5), {"b": trivial_scores("binary", "roc_auc", y, N)}
    )["b"]
    assert sentence(found, "binary") == (
        f"AUC {found.model.value:.2f} ({found.model.low:.2f}–{found.model.high:.2f}); "
        "guessing scores 0.50."
    )
