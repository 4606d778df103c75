"""Each component: the project image, no pip at run time, typed artifacts; and one run of a
component on its own through kfp.local."""

import importlib
from pathlib import Path

import pandas as pd
import pytest

from shipyard.settings import component_image

OPS = {
    "ingest_op": ({}, {"train_data": "system.Dataset", "test_data": "system.Dataset"}),
    "validate_op": (
        {"train_data": "system.Dataset", "test_data": "system.Dataset"},
        {"schema": "system.Artifact", "report": "system.Markdown", "metrics": "system.Metrics"},
    ),
    "train_op": (
        {"schema": "system.Artifact"},
        {
            "model": "system.Model",
            "metrics": "system.Metrics",
            "classification": "system.ClassificationMetrics",
        },
    ),
    "tune_op": ({"baseline": "system.Model"}, {"model": "system.Model"}),
    "register_op": (
        {"model": "system.Model", "test_data": "system.Dataset"},
        {"decision": "system.Artifact", "report": "system.Markdown"},
    ),
    "deploy_op": ({}, {"report": "system.Markdown"}),
    "summary_op": ({}, {"summary": "system.Markdown", "report": "system.HTML"}),  # exit task
    "score_op": (
        {},
        {"predictions": "system.Dataset", "report": "system.Markdown", "metrics": "system.Metrics"},
    ),  # the batch-scoring pipeline's
    "traffic_split_op": ({}, {}),
}  # Vertex's canary split (pipelines/vertex_pipeline.py)
COMPONENTS_DIR = Path(__file__).resolve().parents[2] / "components"


@pytest.mark.parametrize("name", sorted(OPS))
def test_component_contract(name):
    op = getattr(importlib.import_module(name), name)
    container = op.component_spec.implementation.container
    assert container.image == component_image()
    assert "pip install" not in " ".join(container.command + (container.args or []))
    inputs, outputs = OPS[name]
    for key, kind in inputs.items():
        assert op.component_spec.inputs[key].type.startswith(kind)
    for key, kind in outputs.items():
        assert op.component_spec.outputs[key].type.startswith(kind)


def test_components_are_source_roots_not_packages():
    assert not (COMPONENTS_DIR / "__init__.py").exists()
    assert sorted(p.stem for p in COMPONENTS_DIR.glob("*_op.py")) == sorted(OPS)
    assert (COMPONENTS_DIR.parent / "Dockerfile").is_file()  # the one project image


def test_ingest_runs_alone_on_kfp_local(local_runner):
    from ingest_op import ingest_op

    task = ingest_op(rows=400, seed=3)
    train = task.outputs["train_data"]
    assert train.metadata["train_rows"] == 320 and train.metadata["test_rows"] == 80
    assert train.metadata["content_hash"].startswith("sha256:")
    assert train.metadata["work_seconds"] > 0
    assert len(pd.read_parquet(train.path)) == 320


def test_deploy_takes_the_register_steps_model_uri_and_no_gate_flags():
    from deploy_op import deploy_op

    inputs = deploy_op.component_spec.inputs
    assert inputs["model_uri"].type == "String" and inputs["model_uri"].default is None
    assert not {"version", "promoted", "deploy", "model_name"} & set(inputs)


@pytest.mark.parametrize(
    "model_uri, message",
    [
        ("models:/fraud@champion", "names no version"),
        ("fraud/3", "not a registered model reference"),
    ],
)
def test_deploy_refuses_anything_but_a_registered_version(model_uri, message, tmp_path):
    from kfp.dsl import Markdown

    from deploy_op import deploy_op
    from shipyard.errors import ConfigError

    with pytest.raises(ConfigError, match=message):  # before any cluster is asked
        deploy_op.python_func(model_uri=model_uri, report=Markdown(uri=str(tmp_path / "r")))


def test_summary_of_a_failed_run_is_written_and_says_so(tmp_path):
    from kfp.dsl import HTML, Markdown, PipelineTaskFinalStatus

    from summary_op import summary_op

    inputs = summary_op.component_spec.inputs
    assert inputs["status"].type == "PipelineTaskFinalStatus"
    summary = Markdown(uri=str(tmp_path / "summary"))
    report = HTML(uri=str(tmp_path / "task" / "report"))
    status = PipelineTaskFinalStatus(
        state="FAILED",
        pipeline_job_resource_name="job",
        pipeline_task_name="exit-handler-1",
        error_code=1,
        error_message="Task exit-handler-1 failed.",
    )
    summary_op.python_func(
        status=status,
        summary=summary,
        report=report,
        pipeline_run_id="never-ran",
        model_name="component-summary",
        deploy=True,
    )
    text = (tmp_path / "summary").read_text()
    assert text.startswith("# Pipeline failed: component-summary (run never-ran)")
    assert "Task exit-handler-1 failed." in text and "nothing registered" in text
    assert summary.metadata["state"] == "FAILED" and summary.metadata["version"] == ""
    assert summary.metadata["work_seconds"] > 0
    page = (tmp_path / "task" / "report").read_text()  # no run on disk: the outcome page
    assert page.startswith("<!DOCTYPE html>") and "nothing registered" in page
