from kfp.dsl import ClassificationMetrics, Metrics, Model

from shipyard.steps.kfp_outputs import threshold_param, write_model_result
from shipyard.steps.timing import StepTimer


def test_model_metrics_and_curves_land_in_kfp_artifacts(trained):
    model, metrics, classification = (
        Model(name="m"),
        Metrics(name="x"),
        ClassificationMetrics(name="c"),
    )
    write_model_result(trained, StepTimer(1.5, 2.0), model, metrics, classification)
    assert model.metadata["framework"] == "xgboost"
    assert model.metadata["mlflow_model_uri"] == trained.model_uri
    assert model.metadata["work_seconds"] == 1.5
    assert metrics.metadata["roc_auc"] == trained.evaluation.metrics["roc_auc"]
    roc = classification.metadata["confidenceMetrics"]
    assert len(roc) == len(trained.evaluation.roc[0])
    matrix = classification.metadata["confusionMatrix"]
    assert [c["displayName"] for c in matrix["annotationSpecs"]] == ["0", "1"]
    assert sum(map(sum, (row["row"] for row in matrix["rows"]))) > 0


def test_threshold_zero_means_auto():
    assert threshold_param(0.0) is None and threshold_param(-1) is None
    assert threshold_param(0.3) == 0.3
