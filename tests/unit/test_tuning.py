import mlflow

from shipyard.tracking import configure
from shipyard.tuning import tune


def test_search_logs_trials_and_picks_the_best_by_cv(trained, small_data, tmp_path):
    result = tune(
        small_data["train"],
        small_data["test"],
        small_data["schema"],
        trained.bundle_dir,
        tmp_path / "tuned",
        trained.model_uri,
        trained.run_id,
        model_types="logistic_regression",
        n_candidates=3,
        cv=3,  # an alias of linear
        pipeline_run_id="test-tune",
    )
    configure()
    search = mlflow.search_runs(
        filter_string="tags.`shipyard.step` = 'tune-search' and "
        "tags.`shipyard.pipeline_run_id` = 'test-tune'"
    )
    assert len(search) == 1
    search_id = search.iloc[0]["run_id"]
    trials = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{search_id}'")
    assert len(trials) >= 3
    assert trials["metrics.cv_roc_auc"].notna().all()
    best_logistic = search.iloc[0]["metrics.best_cv_roc_auc_linear"]
    best_baseline = search.iloc[0]["metrics.best_cv_roc_auc_xgboost"]
    assert result.cv_score == max(best_logistic, best_baseline)
    assert result.model_type == ("linear" if best_logistic > best_baseline else "xgboost")
    assert (tmp_path / "tuned" / "shipyard_model.json").is_file()
