"""The outlier scorer: scikit-learn's isolation forest, flattened, scoring exactly the same."""

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest

from shipyard.model.bundle import load_bundle
from shipyard.model.outlier import OUTLIER_FILE, OutlierScorer, fit_outlier_scorer


def _matrix(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 8))
    x[:, 3] = rng.integers(0, 2, rows)  # a one-hot-like column: many ties at a threshold
    return x


@pytest.mark.parametrize("rows", [1, 2, 7, 300, 3000])
def test_flat_scores_equal_scikit_learns_score_samples(rows):
    train = _matrix(rows)
    scorer = fit_outlier_scorer(train, seed=3)
    forest = IsolationForest(
        n_estimators=100, max_samples=min(256, rows), random_state=3, n_jobs=1
    ).fit(train.astype(np.float32))
    query = np.vstack([_matrix(200, seed=9), _matrix(20, seed=10) * 8, train[:5]])
    expected = -forest.score_samples(query.astype(np.float32))
    np.testing.assert_allclose(scorer.scores(query), expected, rtol=0, atol=1e-12)


def test_the_cutoff_flags_the_stated_share_of_training_rows_and_far_rows():
    train = _matrix(3000)
    scorer = fit_outlier_scorer(train, percentile=99.0)
    assert scorer.flags(scorer.scores(train)).mean() == pytest.approx(0.01, abs=0.002)
    far = _matrix(50, seed=4) * 10
    assert scorer.flags(scorer.scores(far)).mean() > 0.9
    assert scorer.flags(scorer.scores(_matrix(2000, seed=5))).mean() < 0.03


def test_saved_and_loaded_without_pickle_it_scores_the_same(tmp_path):
    train = _matrix(500)
    scorer = fit_outlier_scorer(train)
    path = scorer.save(tmp_path / OUTLIER_FILE)
    with np.load(path, allow_pickle=False) as data:  # plain arrays only
        assert all(data[name].dtype != object for name in data.files)
    loaded = OutlierScorer.load(path)
    np.testing.assert_array_equal(loaded.scores(train), scorer.scores(train))
    assert loaded.cutoff == scorer.cutoff and loaded.width == 8


def test_a_matrix_of_the_wrong_width_is_refused():
    scorer = fit_outlier_scorer(_matrix(100))
    with pytest.raises(ValueError, match="8 columns"):
        scorer.scores(np.zeros((1, 5)))


def test_every_trained_bundle_carries_its_scorer_checksummed(trained, small_data):
    model = load_bundle(trained.bundle_dir)
    assert OUTLIER_FILE in model.manifest["files"]  # covered by the manifest's checksums
    assert model.manifest["outlier"]["percentile"] == 99.0
    scorer = model.outlier_scorer()
    assert scorer is not None
    test = pd.read_parquet(small_data["test"])
    ordinary = model.outlier_scores(test, scorer)
    odd = test.head(50).copy()
    numeric = [c for c in model.schema.model_numeric if c in odd.columns]
    odd[numeric] = odd[numeric] * 1000
    assert np.mean(scorer.flags(ordinary)) < 0.05
    assert np.mean(scorer.flags(model.outlier_scores(odd, scorer))) > 0.5
