import mlflow
import pytest

from shipyard.data.schema import Schema
from shipyard.errors import ConfigError
from shipyard.model.families import make_pipeline, parse_model_types
from shipyard.registry.tracking import PIPELINE_RUN_TAG, configure


def test_metrics_in_range_and_threshold_chosen_by_cv(trained):
    metrics = trained.evaluation.metrics
    assert 0.8 < metrics["roc_auc"] <= 1.0
    assert 0.0 < metrics["pr_auc"] <= 1.0 and 0.0 < metrics["f1"] <= 1.0
    assert metrics["log_loss"] > 0
    assert 0.0 < metrics["threshold"] < 0.5  # rare positives: the F1 optimum is below 0.5
    assert len(trained.evaluation.confusion) == 2
    fpr, tpr, thresholds = trained.evaluation.roc
    assert fpr[0] == 0.0 and tpr[-1] == 1.0 and max(thresholds) <= 1.0


def test_logged_to_mlflow_with_params_metrics_signature(trained):
    configure()
    run = mlflow.get_run(trained.run_id)
    assert run.data.params["model_type"] == "xgboost"
    assert run.data.params["n_estimators"] == "60"
    holdout = trained.evaluation.metrics["roc_auc"]
    assert run.data.metrics["holdout_roc_auc"] == pytest.approx(holdout)
    assert run.data.tags[PIPELINE_RUN_TAG] == "test-session"
    assert run.data.tags["mlflow.parentRunId"]  # nested under the pipeline run
    info = mlflow.models.get_model_info(trained.model_uri)
    inputs = {spec.name for spec in info.signature.inputs.inputs}
    assert {"amount", "merchant_category", "channel"} <= inputs
    assert "is_fraud" not in inputs


def test_pyfunc_loads_from_code_and_predicts(trained, small_data):
    import pandas as pd

    model = mlflow.pyfunc.load_model(trained.model_uri)
    test = pd.read_parquet(small_data["test"]).head(20)
    out = model.predict(test.drop(columns=["is_fraud", "timestamp"]))
    assert list(out.columns) == ["predict", "predict_proba"]
    assert out["predict_proba"].between(0, 1).all()


@pytest.mark.parametrize(
    "name", ["random_forest", "logistic_regression", "xgboost", "hist_gradient_boosting"]
)
def test_every_family_fits(name, small_data):
    import pandas as pd

    schema = Schema.load(small_data["schema"])
    train = pd.read_parquet(small_data["train"])
    params = {
        "logistic_regression": {},
        "hist_gradient_boosting": {"max_iter": 10},
    }.get(name, {"n_estimators": 10})
    pipeline = make_pipeline(schema, name, params).fit(train[schema.features], train["is_fraud"])
    assert pipeline.predict_proba(train[schema.features].head(5)).shape == (5, 2)


def test_unknown_model_type():
    with pytest.raises(ConfigError, match="unknown model type 'svm'"):
        parse_model_types("xgboost, svm")
    with pytest.raises(ConfigError, match="no model types"):
        parse_model_types(" , ")


def test_a_model_with_constant_scores_keeps_threshold_half():
    """A tree on a few dozen rows can score every row alike; threshold tuning then has
    nothing to tune and must not stop the run (scikit-learn raises)."""
    import numpy as np
    import pandas as pd
    from sklearn.dummy import DummyClassifier

    from shipyard.steps.train import fit

    x = pd.DataFrame({"a": np.arange(30.0)})
    y = np.array([0, 1] * 15)
    model, threshold = fit(DummyClassifier(strategy="prior"), x, y, threshold=None)
    assert threshold == 0.5
    assert model.predict_proba(x).shape == (30, 2)
