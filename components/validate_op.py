"""KFP component: check train/test against the schema; fail with every violation listed."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Markdown, Metrics, Output

from shipyard.settings import component_image


@dsl.component(base_image=component_image(), install_kfp_package=False)
def validate_op(
    train_data: Input[Dataset],
    test_data: Input[Dataset],
    schema: Output[Artifact],
    report: Output[Markdown],
    metrics: Output[Metrics],
    target: str = "is_fraud",
    schema_uri: str = "",
    model_name: str = "",
    source: str = "",
    skew_action: str = "report",
    task: str = "auto",
    positive_class: str = "",
    ignore_columns: str = "",
    cv_folds: int = 3,
):
    """Decide the task; validate columns, dtypes and labels (a stop), and report nulls,
    ranges, categories, train/test skew and possible leakage (warnings)."""
    from shipyard.steps.timing import timed

    with timed() as timer:
        from shipyard.settings import run_model_name
        from shipyard.steps.validate import validate

        result = validate(
            train_data.path,
            test_data.path,
            target,
            schema.path,
            report.path,
            schema_uri=schema_uri,
            model_name=run_model_name(model_name, source),
            task=task,
            positive_class=positive_class,
            ignore_columns=ignore_columns,
            cv_folds=cv_folds,
            skew_action=skew_action,
            preparation=dict(train_data.metadata),
        )
    for name, value in result.metrics().items():
        metrics.log_metric(name, value)
    schema.metadata.update({"origin": result.origin, "task": result.task, **timer.as_metadata()})
