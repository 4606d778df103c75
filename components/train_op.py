"""KFP component: fit one model family, evaluate on the holdout, log it to MLflow."""

from kfp import dsl
from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from shipyard.settings import component_image


@dsl.component(base_image=component_image(), install_kfp_package=False)
def train_op(
    train_data: Input[Dataset],
    test_data: Input[Dataset],
    schema: Input[Artifact],
    model: Output[Model],
    metrics: Output[Metrics],
    classification: Output[ClassificationMetrics],
    model_type: str = "hist_gradient_boosting",
    params_json: str = "{}",
    threshold: float = 0.0,
    seed: int = 42,
    pipeline_run_id: str = "local",
):
    """Train the baseline model (threshold 0 = F1-optimal by cross-validation)."""
    from shipyard.steps.timing import timed

    with timed() as timer:
        import json

        from shipyard.steps.kfp_outputs import threshold_param, write_model_result
        from shipyard.steps.train import train

        result = train(
            train_data.path,
            test_data.path,
            schema.path,
            model.path,
            model_type,
            json.loads(params_json),
            threshold_param(threshold),
            seed,
            pipeline_run_id,
        )
    write_model_result(result, timer, model, metrics, classification)
