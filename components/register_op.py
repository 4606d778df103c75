"""KFP component: register the candidate, alias it challenger, promote it if it wins."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Model, Output

from shipyard.settings import component_image


@dsl.component(base_image=component_image(), install_kfp_package=False)
def register_op(
    model: Input[Model],
    train_data: Input[Dataset],
    test_data: Input[Dataset],
    decision: Output[Artifact],
    report: Output[Markdown],
    card: Output[HTML],
    floors: str = "",
    margin: float = 0.002,
    model_name: str = "",
    source: str = "",
    pipeline_run_id: str = "local",
    deploy: bool = False,
) -> NamedTuple("Registration", model_uri=str, version=str, promoted=bool, reason=str):
    """Register in MLflow; move `champion` only if the model beats a trivial baseline with 95 %
    confidence (a first version) or the champion by the margin, and clears the user's floors
    (with `deploy`, the deploy step's rollout moves it at 100 % instead)."""
    from shipyard.steps.timing import timed

    with timed() as timer:
        from shipyard.settings import run_model_name
        from shipyard.steps.register import register

        result = register(
            model.metadata["mlflow_model_uri"],
            model.path,
            test_data.path,
            pipeline_run_id,
            train_data.metadata.get("content_hash", ""),
            floors=floors,
            margin=margin,
            model_name=run_model_name(model_name, source),
            reference_path=train_data.path,
            move_champion=not deploy,
            card_path=card.path,
        )
    with open(decision.path, "w") as handle:
        handle.write(result.to_json())
    with open(report.path, "w") as handle:
        handle.write(result.markdown())
    decision.metadata.update(
        {
            "version": result.version,
            "promoted": result.promoted,
            "champion_version": result.champion_version or "",
            "quality": result.quality,
            **timer.as_metadata(),
        }
    )
    return (result.model_uri, result.version, result.promoted, result.reason)
