import mlflow
import pytest

from shipyard.data.schema import Schema
from shipyard.registry.tracking import configure
from shipyard.steps.train import cv_folds
from shipyard.steps.tune import (
    TINY_FAMILIES,
    Budget,
    Candidate,
    choose,
    finalists,
    search_budget,
    space_size,
    tune,
)


def test_search_logs_trials_and_picks_the_best_finalist_on_the_same_folds(
    trained, small_data, tmp_path
):
    result = tune(
        small_data["train"],
        small_data["test"],
        small_data["schema"],
        trained.bundle_dir,
        tmp_path / "tuned",
        trained.model_uri,
        trained.run_id,
        model_types="logistic_regression",  # an alias of linear
        n_candidates=3,
        cv=3,
        pipeline_run_id="test-tune",
    )
    configure()
    search = mlflow.search_runs(
        filter_string="tags.`shipyard.step` = 'tune-search' and "
        "tags.`shipyard.pipeline_run_id` = 'test-tune'"
    )
    assert len(search) == 1
    row = search.iloc[0]
    trials = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{row['run_id']}'")
    assert len(trials) >= 3
    assert trials["metrics.cv_roc_auc"].notna().all()
    # halving's own best is logged, but the choice is on the re-scored finalists
    assert row["metrics.search_cv_roc_auc_linear"] > 0
    linear, baseline = row["metrics.cv_roc_auc_linear_tuned"], row["metrics.cv_roc_auc_baseline"]
    assert result.cv_score == max(linear, baseline)
    assert result.model_type == ("linear" if linear > baseline else "xgboost")
    assert result.extra["winner"] == ("tuned" if linear > baseline else "baseline")
    assert result.extra["n_candidates"] == 3 and result.extra["families"] == "linear"
    assert (tmp_path / "tuned" / "shipyard_model.json").is_file()


def test_budget_sized_to_rows_and_features():
    tiny = search_budget(456, 30)
    assert tiny == Budget(list(TINY_FAMILIES), 4)
    assert "xgboost" not in tiny.families
    default = search_budget(16_000, 11)  # the 20k synthetic run's training split
    assert default.n_candidates == 8 and "hist_gradient_boosting" in default.families
    assert "xgboost" in default.families and "random_forest" not in default.families
    assert search_budget(500_000, 20).n_candidates == 6
    assert search_budget(5_000_000, 40).n_candidates == 4  # capped for large tables
    counts = [search_budget(rows, 10).n_candidates for rows in (2_000, 300_000, 3_000_000)]
    assert counts == sorted(counts, reverse=True)


def test_budget_explicit_values_override():
    assert search_budget(300, 5, "xgboost,hgb", 12) == Budget(
        ["xgboost", "hist_gradient_boosting"], 12
    )
    assert search_budget(300, 5, "auto", 7).n_candidates == 7
    assert search_budget(50_000, 5, "", 0).families == search_budget(50_000, 5).families


def test_search_never_asks_for_more_candidates_than_the_space_holds(small_data):
    import warnings

    from sklearn.model_selection import StratifiedKFold

    from shipyard.steps.train import load_split
    from shipyard.steps.tune import search_family

    split = load_split(small_data["train"], small_data["test"], Schema.load(small_data["schema"]))
    assert space_size({"C": [1, 2, 3], "x": [1, 2]}) == 6
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*total space of parameters.*")
        best = search_family("linear", split, "roc_auc", 50, folds, 0)  # linear's space: 7
    assert best.model_type == "linear" and 0.5 < best.cv_score <= 1.0


def test_finalists_include_the_baseline_first_and_the_floor_defaults_once():
    """Also scikit-learn's own HistGradientBoosting defaults: the plain peer."""
    from shipyard.model.families import family

    hgb = family("hgb").defaults_for("binary")
    base = Candidate("hgb", dict(hgb), 0.0, "baseline")
    tuned = Candidate("xgboost", {"max_depth": 3}, 0.9)
    pool = finalists(base, [tuned], "binary", ["hist_gradient_boosting", "xgboost"])
    assert [c.label for c in pool] == [
        "baseline",
        "xgboost_tuned",
        "hist_gradient_boosting_library",
    ]
    assert pool[:2] == [base, tuned]  # the HGB defaults are the baseline already
    base = Candidate("xgboost", {"max_depth": 4}, 0.0, "baseline")
    pool = finalists(base, [tuned], "binary", ["hist_gradient_boosting", "xgboost"])
    assert [c.label for c in pool] == [
        "baseline",
        "xgboost_tuned",
        "hist_gradient_boosting_default",
        "hist_gradient_boosting_library",
    ]


def test_choose_by_metric_direction_and_ties_keep_the_baseline():
    base = Candidate("linear", {}, 0.9, "baseline")
    other = Candidate("xgboost", {}, 0.9)
    assert choose([base, other], "roc_auc") is base
    better = Candidate("xgboost", {}, 0.95)
    assert choose([base, better], "roc_auc") is better
    low_error = Candidate("linear", {}, 10.0)
    assert choose([Candidate("x", {}, 12.0, "baseline"), low_error], "rmse") is low_error


@pytest.mark.parametrize(
    "extra, expected",
    [({}, 3), ({"cv_folds": 2}, 2), ({"cv_folds": "5"}, 5), ({"cv_folds": 1}, 3)],
)
def test_cv_folds_from_the_schema_override_the_argument(small_data, extra, expected):
    schema = Schema.load(small_data["schema"])
    schema.extra = dict(extra)
    assert cv_folds(schema, 3) == expected


@pytest.mark.parametrize("bad", [None, True, "many", 2.5, [2]])
def test_cv_folds_ignores_what_is_not_a_fold_count(small_data, bad):
    schema = Schema.load(small_data["schema"])
    schema.extra = {"cv_folds": bad}
    assert cv_folds(schema, 4) == 4


def test_a_baseline_that_wins_is_scored_on_the_raw_test_rows(tmp_path):
    """When the train step's model wins, its stored evaluation scores the test rows as the
    table holds them: a date feature is expanded by the model itself (a 560-row table of
    stock prices by date crashed here)."""
    import pandas as pd

    from shipyard.data.schema import infer_schema
    from shipyard.model.bundle import load_bundle
    from shipyard.steps.train import load_split, train
    from shipyard.steps.tune import _stored_evaluation

    days = pd.date_range("2000-01-01", periods=300, freq="7D")
    frame = pd.DataFrame(
        {
            "symbol": ["A", "B", "C"] * 100,
            "date": days.strftime("%Y-%m-%d"),
            "price": [float(i % 37) + (i % 3) * 5 for i in range(300)],
        }
    )
    frame.iloc[:240].to_parquet(tmp_path / "train.parquet")
    frame.iloc[240:].to_parquet(tmp_path / "test.parquet")
    schema = infer_schema(frame.iloc[:240], "price")
    assert schema.datetimes == ["date"]
    schema.save(tmp_path / "schema.json")
    result = train(
        tmp_path / "train.parquet",
        tmp_path / "test.parquet",
        tmp_path / "schema.json",
        tmp_path / "bundle",
        "linear",
        {},
        threshold=None,
        pipeline_run_id="tune-raw",
    )
    split = load_split(tmp_path / "train.parquet", tmp_path / "test.parquet", schema)
    stored = _stored_evaluation(load_bundle(result.bundle_dir), split)
    assert stored.metrics["rmse"] == pytest.approx(result.evaluation.metrics["rmse"])


def test_a_large_table_is_searched_on_a_stratified_sample_and_fitted_on_every_row(
    trained, small_data, tmp_path, monkeypatch
):
    import numpy as np

    from shipyard.model.bundle import load_bundle
    from shipyard.steps import train as train_step
    from shipyard.steps.tune import search_sample

    monkeypatch.setattr(train_step, "SAMPLE_ROWS", 600)
    split = train_step.load_split(
        small_data["train"], small_data["test"], Schema.load(small_data["schema"])
    )
    sample = search_sample(split, seed=3)
    assert len(sample.y_train) == 600 and len(split.y_train) > 600
    share = np.bincount(split.y_train) / len(split.y_train)
    assert np.allclose(np.bincount(sample.y_train) / 600, share, atol=1 / 600)
    paths = [small_data[k] for k in ("train", "test", "schema")]
    result = tune(*paths, trained.bundle_dir, tmp_path / "tuned", trained.model_uri,
                  trained.run_id, model_types="linear", n_candidates=2, cv=3,
                  pipeline_run_id="test-sample")  # fmt: skip
    assert result.extra["search_rows"] == 600
    if result.extra["winner"] != "baseline":  # the final fit saw every training row
        preprocess = load_bundle(result.bundle_dir).pipeline.named_steps["preprocess"]
        scaler = preprocess.named_transformers_["numeric"].named_steps["scale"]
        assert scaler.n_samples_seen_ == len(split.y_train)
