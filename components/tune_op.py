"""KFP component: successive halving per model family within a budget sized to the table
(``auto`` families, 0 candidates = auto); the best finalist by the same-fold CV metric."""

from kfp import dsl
from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from shipyard.settings import component_image


@dsl.component(base_image=component_image(), install_kfp_package=False)
def tune_op(
    train_data: Input[Dataset],
    test_data: Input[Dataset],
    schema: Input[Artifact],
    baseline: Input[Model],
    model: Output[Model],
    metrics: Output[Metrics],
    classification: Output[ClassificationMetrics],
    model_types: str = "auto",
    n_candidates: int = 0,
    cv_folds: int = 3,
    threshold: float = 0.0,
    seed: int = 42,
    pipeline_run_id: str = "local",
    metric: str = "auto",
):
    """Tune each family; the winner (or the baseline, if it scores best) is the candidate."""
    from shipyard.steps.timing import timed

    with timed() as timer:
        from shipyard.steps.kfp_outputs import threshold_param, write_model_result
        from shipyard.steps.tune import tune

        result = tune(
            train_data.path,
            test_data.path,
            schema.path,
            baseline.path,
            model.path,
            baseline.metadata["mlflow_model_uri"],
            baseline.metadata["mlflow_run_id"],
            model_types,
            n_candidates,
            cv_folds,
            threshold_param(threshold),
            seed,
            pipeline_run_id,
            metric=metric,
        )
    write_model_result(result, timer, model, metrics, classification)
