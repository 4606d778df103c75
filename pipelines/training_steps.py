"""The step graph both training pipelines share: ingest → validate → train → tune → register.

``training_pipeline.py`` (Kubeflow) and ``vertex_pipeline.py`` (Vertex AI) each call
:func:`add_training_steps` inside their exit handler, so the wiring between the steps is
written once. What differs is passed in: the train and tune components (plain tasks, or Vertex
custom jobs) and each step's extra arguments. A plain function rather than a nested
``@dsl.pipeline``: the compiled graph stays flat, so each step keeps its own task name (which
kfp.local's outputs and the KFP UI show) and its own caching and credentials settings.
"""

from dataclasses import dataclass
from typing import Any

from kfp import dsl

from ingest_op import ingest_op
from register_op import register_op
from train_op import train_op
from tune_op import tune_op
from validate_op import validate_op


@dataclass
class TrainingSteps:
    ingest: dsl.PipelineTask
    validate: dsl.PipelineTask
    train: dsl.PipelineTask
    tune: dsl.PipelineTask
    register: dsl.PipelineTask

    def named(self) -> list[tuple[dsl.PipelineTask, str]]:
        """Each task with its display name."""
        return [(getattr(self, name), name) for name in self.__dataclass_fields__]


def add_training_steps(
    *,
    source: Any,
    target: Any,
    task: Any,
    positive_class: Any,
    ignore_columns: Any,
    rows: Any,
    seed: Any,
    model_types: Any,
    tune_metric: Any,
    n_candidates: Any,
    floors: Any,
    margin: Any,
    model_name: Any,
    deploy: Any,
    run_id: Any,
    train_component: Any = train_op,
    tune_component: Any = tune_op,
    ingest_args: dict[str, Any] | None = None,
    validate_args: dict[str, Any] | None = None,
    train_args: dict[str, Any] | None = None,
    tune_args: dict[str, Any] | None = None,
    register_args: dict[str, Any] | None = None,
) -> TrainingSteps:
    """Add the five steps to the pipeline being defined, wired to each other; the keyword
    arguments are the pipeline's parameters (or constants), ``*_args`` a step's extras."""
    ingest = ingest_op(source=source, target=target, rows=rows, seed=seed, **(ingest_args or {}))
    data = {"train_data": ingest.outputs["train_data"], "test_data": ingest.outputs["test_data"]}
    validate = validate_op(
        **data,
        target=target,
        model_name=model_name,
        task=task,
        positive_class=positive_class,
        ignore_columns=ignore_columns,
        **(validate_args or {}),
    )
    schema = validate.outputs["schema"]
    train = train_component(
        **data, schema=schema, seed=seed, pipeline_run_id=run_id, **(train_args or {})
    )
    tune = tune_component(
        **data,
        schema=schema,
        baseline=train.outputs["model"],
        model_types=model_types,
        n_candidates=n_candidates,
        seed=seed,
        pipeline_run_id=run_id,
        metric=tune_metric,
        **(tune_args or {}),
    )
    register = register_op(
        model=tune.outputs["model"],
        **data,
        floors=floors,
        margin=margin,
        model_name=model_name,
        pipeline_run_id=run_id,
        deploy=deploy,
        **(register_args or {}),
    )
    return TrainingSteps(ingest, validate, train, tune, register)
