"""KFP component: score a table with a registered model; predictions, drift report, metrics."""

from kfp import dsl
from kfp.dsl import Dataset, Markdown, Metrics, Output

from shipyard.settings import component_image


@dsl.component(base_image=component_image(), install_kfp_package=False)
def score_op(
    source: str,
    predictions: Output[Dataset],
    report: Output[Markdown],
    metrics: Output[Metrics],
    model_name: str = "",
    alias: str = "champion",
    version: str = "",
    destination: str = "",
    id_column: str = "",
    contributions: bool = False,
):
    """Score `source` as the endpoint would (same scorer); Parquet predictions, also written to
    `destination` if given (with each feature's exact contribution when `contributions`);
    the batch's drift against the version's stored detector."""
    from shipyard.steps.timing import timed

    with timed() as timer:
        from shipyard.model.ref import ModelRef
        from shipyard.settings import get_settings, run_model_name
        from shipyard.steps.score import score_table

        result = score_table(
            source,
            ModelRef.pick(run_model_name(model_name), alias, version).uri,
            predictions.path,
            destination,
            id_column,
            get_settings(),
            report.path,
            contributions=contributions,
        )
    for name, value in result.metrics().items():
        metrics.log_metric(name, value)
    predictions.metadata.update({**result.metadata(), **timer.as_metadata()})
