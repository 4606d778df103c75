"""End to end: the compiled pipeline on kfp.local, with the MLflow registry at the end.

Small data keeps each run near a minute; `make bench` runs the 100k-row version.
"""

import json
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from shipyard.local.outputs import format_summary
from shipyard.local.pipeline import PipelineFailed, run_local
from shipyard.local.rollout import local_rollout
from shipyard.local.servers import serve_sample, start_detector
from shipyard.model.ref import ModelRef
from shipyard.registry.client import CHAMPION
from shipyard.registry.tracking import configure
from shipyard.rollout.controller import RolloutPlan
from shipyard.rollout.gates import Thresholds
from shipyard.settings import settings_for

pytestmark = pytest.mark.e2e
FAST = {"rows": 4000, "n_candidates": 3, "model_types": "xgboost,logistic_regression"}


def champion(name):
    configure(settings_for(name))
    return MlflowClient().get_model_version_by_alias(name, CHAMPION)


def test_fraud_pipeline_registers_a_champion_then_gates_a_challenger(pipeline_file):
    first = run_local(pipeline_file, {**FAST, "model_name": "e2e-fraud"})
    assert [s.name for s in first.steps] == [
        "ingest",
        "validate",
        "train",
        "tune",
        "register",
        "summary",
    ]
    register = first.step("register").metrics
    assert register["promoted"] is True and register["version"] == "1"
    assert str(champion("e2e-fraud").version) == "1"
    # deploy is off by default: its condition is false, so the task never ran
    assert first.skipped == ["deploy"] and not (first.run_dir / "deploy-op").exists()
    tune = first.step("tune").metrics
    assert 0.85 <= tune["roc_auc"] <= 1.0 and 0.1 <= tune["pr_auc"] <= 1.0
    assert first.step("validate").metrics["violations"] == 0
    # no pipeline output from inside the exit handler: the URI is the register step's output
    assert first.outputs == {} and first.model_uri == "models:/e2e-fraud/1"
    decision = json.loads((first.run_dir / "register-op" / "decision").read_text())
    assert decision["lineage"]["shipyard.data_hash"].startswith("sha256:")
    # the exit task's summary, read from MLflow by the run id the steps tagged
    summary = first.summary_markdown.read_text()
    run_id = decision["lineage"]["shipyard.pipeline_run_id"]
    assert summary.startswith(f"# Pipeline finished: e2e-fraud (run {run_id}), v1 promoted")
    assert "**Decision:** v1 promoted: first version: beats guessing" in summary
    assert "| deploy | skipped: deploy is off |" in summary
    assert f"roc_auc={tune['roc_auc']:.3f}" in summary
    assert first.step("summary").metrics["state"] == "SUCCEEDED"
    table = format_summary(first)
    assert "champion` -> v1" in table and "overhead" in table
    assert "registered model: models:/e2e-fraud/1" in table
    assert "deploy           -       -  skipped: its condition was false" in table

    # The end of `make run`: the champion served by a real predictor, a v2 request answered.
    answer = serve_sample(first.run_dir, "e2e-fraud")
    assert answer["id"] == "sample" and answer["model_version"] == "1"
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert outputs["predict"]["shape"] == [3] and outputs["predict_proba"]["shape"] == [3, 2]

    # The drift detector stored with the champion serves, as `shipyard serve --with-drift` runs it.
    detector = start_detector("models:/e2e-fraud@champion", "drift", first.run_dir / "drift.log")
    try:
        with urllib.request.urlopen(f"{detector.base_url}/v1/drift/drift", timeout=10) as r:
            assert json.loads(r.read())["windows_scored"] == 0
    finally:
        detector.stop()

    # Same data, same seed: the challenger cannot beat the champion by the margin. With
    # deploy on, the outer condition holds and the gate's `promoted` output keeps deploy from
    # running (had it run, it would have failed the run: there is no cluster here).
    second = run_local(pipeline_file, {**FAST, "model_name": "e2e-fraud", "deploy": True})
    register = second.step("register").metrics
    assert register["version"] == "2" and register["promoted"] is False
    assert str(champion("e2e-fraud").version) == "1"
    assert second.skipped == ["deploy"] and not (second.run_dir / "deploy-op").exists()
    assert second.model_uri == "models:/e2e-fraud/2"
    summary = second.summary_markdown.read_text()
    assert "v2 not promoted" in summary.splitlines()[0]
    assert "**Decision:** v2 kept as challenger (the gate refused):" in summary
    assert "| deploy | skipped: the gate kept the champion |" in summary
    assert "`champion` → v1" in summary
    assert (
        "schema stored with the champion model (v1)"
        in (second.run_dir / "validate-op" / "report").read_text()
    )

    # `shipyard rollout 2 --local`: v1 and v2 as local predictors behind the local router,
    # sample traffic, gated steps; at 100 % the champion alias moves to v2.
    plan = RolloutPlan(
        steps=(50, 100), bake_seconds=3, poll_seconds=0.5, thresholds=Thresholds(min_requests=5)
    )
    report = local_rollout(ModelRef.of("e2e-fraud", "2"), plan)
    assert report.outcome == "promoted" and [s.percent for s in report.steps] == [50, 100]
    assert str(champion("e2e-fraud").version) == "2"

    # Both conditions true (margin 0: an equal challenger passes): the deploy task runs on
    # kfp.local with deployment_mode=Local and its canary moves `champion` at 100 %.
    third = run_local(
        pipeline_file,
        {
            **FAST,
            "model_name": "e2e-fraud",
            "margin": 0.0,
            "deploy": True,
            "deployment_mode": "Local",
            "canary_steps": "50,100",
            "bake_seconds": 3.0,
        },
    )
    assert third.step("register").metrics["promoted"] is True and third.skipped == []
    assert (
        third.step("deploy")
        .metrics["outcome"]
        .startswith("rollout of version 3 (stable: 2): promoted")
    )
    assert str(champion("e2e-fraud").version) == "3"
    summary = third.summary_markdown.read_text()
    assert "deploy rolled out (`champion` moved to v3)" in summary


def sklearn_table(name: str, tmp_path) -> tuple[pd.DataFrame, Path]:
    """One of scikit-learn's bundled tables as a CSV, with the user's own label values."""
    from sklearn import datasets

    data = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = data.frame.rename(columns={"target": "label"})
    if name == "iris":
        frame["label"] = data.target_names[frame["label"]]
    elif name == "breast_cancer":
        frame["label"] = np.where(frame["label"] == 0, "malignant", "benign")
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    return frame, path


REAL_TABLES = [
    # table, task, metric, floor: what the issue asks of each on its holdout
    ("iris", "multiclass", "accuracy", 0.9),
    ("breast_cancer", "binary", "roc_auc", 0.97),
    ("diabetes", "regression", "r2", 0.35),
]


@pytest.mark.parametrize("table, task, metric, floor", REAL_TABLES)
def test_real_tables_through_the_csv_path_are_served_with_their_own_labels(
    pipeline_file, tmp_path, table, task, metric, floor
):
    frame, path = sklearn_table(table, tmp_path)
    name = f"e2e-{table.replace('_', '-')}"
    summary = run_local(
        pipeline_file,
        {
            "source": str(path),
            "target": "label",
            "model_name": name,
            "n_candidates": 3,
            "model_types": "xgboost,linear",
            "seed": 7,
        },
    )
    assert summary.step("validate").metrics["task"] == task
    report = (summary.run_dir / "validate-op" / "report").read_text()
    assert f"**Task:** {task}" in report
    decision = json.loads((summary.run_dir / "register-op" / "decision").read_text())
    assert decision["challenger_metrics"][metric] >= floor, decision["challenger_metrics"]
    assert decision["promoted"] is True, decision["reason"]
    assert float(decision["lineage"]["shipyard.parity_max_diff"]) <= 1e-6
    ingest = summary.step("ingest").metrics
    assert ingest["train_rows"] + ingest["test_rows"] == len(frame)

    answer = serve_sample(summary.run_dir, name)
    predicted = next(o for o in answer["outputs"] if o["name"] == "predict")
    test = pd.read_parquet(summary.run_dir / "ingest-op" / "test_data").head(3)
    if task == "regression":
        assert predicted["datatype"] == "FP64"
        assert all(isinstance(v, float) for v in predicted["data"])
    else:  # the user's own labels come back, as text
        assert predicted["datatype"] == "BYTES"
        assert set(predicted["data"]) <= set(frame["label"])
    # served equals registered: the registered pyfunc answers the same for the same rows
    import mlflow

    configure(settings_for(name))
    registered = mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(
        test.drop(columns="label")
    )
    if task == "regression":
        np.testing.assert_allclose(predicted["data"], registered["predict"], rtol=1e-9)
    else:
        assert list(predicted["data"]) == list(registered["predict"])


def test_bad_data_stops_at_validate_and_registers_nothing(pipeline_file, tmp_path):
    frame = pd.DataFrame({"x": range(200), "label": [0] * 200})  # one class only
    frame.to_csv(tmp_path / "one_class.csv", index=False)
    with pytest.raises(PipelineFailed) as failed:
        run_local(
            pipeline_file,
            {"source": str(tmp_path / "one_class.csv"), "target": "label", "model_name": "e2e-bad"},
        )
    assert failed.value.step == "validate"
    assert "label has at least two classes" in failed.value.report.read_text()
    assert not (failed.value.run_dir / "train-op").exists()
    # the exit task ran all the same and wrote the failed run's summary
    summary = failed.value.summary.read_text()
    assert summary.startswith("# Pipeline failed: e2e-bad") and "nothing registered" in summary
    assert "| deploy | not reached |" in summary
    configure(settings_for("e2e-bad"))
    assert not MlflowClient().search_registered_models("name = 'e2e-bad'")


def test_missing_target_stops_at_ingest(pipeline_file, tmp_path):
    pd.DataFrame({"x": [1, 2], "y": [0, 1]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(PipelineFailed) as failed:
        run_local(pipeline_file, {"source": str(tmp_path / "t.csv"), "target": "label"})
    assert failed.value.step == "ingest"
