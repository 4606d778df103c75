"""Each component: the project image, no pip at run time, typed artifacts; and one run of a
component on its own through kfp.local."""

import importlib
from pathlib import Path

import pandas as pd
import pytest

from shipyard.settings import component_image

OPS = {"ingest_op": ({}, {"train_data": "system.Dataset", "test_data": "system.Dataset"}),
       "validate_op": ({"train_data": "system.Dataset", "test_data": "system.Dataset"},
                       {"schema": "system.Artifact", "report": "system.Markdown",
                        "metrics": "system.Metrics"}),
       "train_op": ({"schema": "system.Artifact"},
                    {"model": "system.Model", "metrics": "system.Metrics",
                     "classification": "system.ClassificationMetrics"}),
       "tune_op": ({"baseline": "system.Model"}, {"model": "system.Model"}),
       "register_op": ({"model": "system.Model", "test_data": "system.Dataset"},
                       {"decision": "system.Artifact", "report": "system.Markdown"}),
       "deploy_op": ({}, {"report": "system.Markdown"}),
       "score_op": ({}, {"predictions": "system.Dataset", "report": "system.Markdown",
                         "metrics": "system.Metrics"}),  # the batch-scoring pipeline's
       "traffic_split_op": ({}, {})}  # Vertex's canary split (pipelines/vertex_pipeline.py)
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


def test_deploy_skips_and_says_why_when_off_or_not_promoted(local_runner):
    from deploy_op import deploy_op

    off = deploy_op(version="3", promoted=True, deploy=False)
    assert off.outputs["Output"] == "skipped: deploy is off"
    kept = deploy_op(version="3", promoted=False, deploy=True)
    assert kept.outputs["Output"] == "skipped: the gate kept the champion"
    assert "the gate kept the champion" in open(kept.outputs["report"].path).read()
