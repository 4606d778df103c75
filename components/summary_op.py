"""KFP component: the pipeline's exit task — the run's summary, whether it succeeded or not."""

from kfp import dsl
from kfp.dsl import HTML, Markdown, Output

from shipyard.settings import component_image


@dsl.component(base_image=component_image(), install_kfp_package=False)
def summary_op(
    status: dsl.PipelineTaskFinalStatus,
    summary: Output[Markdown],
    report: Output[HTML],
    pipeline_run_id: str = "local",
    model_name: str = "",
    source: str = "",
    deploy: bool = False,
):
    """Steps, metrics, decision and outcome of the run (from MLflow, by the pipeline run id)
    as Markdown, and the run's report page as HTML (what the KFP UI shows); announces
    "pipeline finished/failed" (a notifier that is down never fails this task)."""
    from shipyard.steps.timing import timed

    with timed() as timer:
        from shipyard.settings import run_model_name
        from shipyard.steps.summary import summarize

        result = summarize(
            pipeline_run_id,
            status.state,
            status.error_message or "",
            deploy,
            summary.path,
            model_name=run_model_name(model_name, source),
        )
        from shipyard.report.run_report import write_task_report

        write_task_report(report.path, result)
    summary.metadata.update({**result.metadata(), **timer.as_metadata()})
