"""End to end: the compiled pipeline on kfp.local, with the MLflow registry at the end.

Small data keeps each run near a minute; `make bench` runs the 100k-row version.
"""

import json
import urllib.request

import pandas as pd
import pytest
from mlflow import MlflowClient

from shipyard.cli import serve_sample
from shipyard.local_run import PipelineFailed, format_summary, run_local
from shipyard.registry import CHAMPION
from shipyard.rollout.controller import RolloutPlan
from shipyard.rollout.gates import Thresholds
from shipyard.rollout.run import local_rollout
from shipyard.serving.local import start_detector
from shipyard.settings import settings_for
from shipyard.tracking import configure

pytestmark = pytest.mark.e2e
FAST = {"rows": 4000, "n_candidates": 3, "model_types": "xgboost,logistic_regression"}


def champion(name):
    configure(settings_for(name))
    return MlflowClient().get_model_version_by_alias(name, CHAMPION)


def test_fraud_pipeline_registers_a_champion_then_gates_a_challenger(pipeline_file):
    first = run_local(pipeline_file, {**FAST, "model_name": "e2e-fraud"})
    assert [s.name for s in first.steps] == ["ingest", "validate", "train", "tune", "register",
                                              "deploy"]
    register = first.step("register").metrics
    assert register["promoted"] is True and register["version"] == "1"
    assert str(champion("e2e-fraud").version) == "1"
    # deploy is off by default: skipped, and it says why.
    assert first.step("deploy").metrics["outcome"] == "skipped: deploy is off"
    assert "deploy is off" in (first.run_dir / "deploy-op" / "report").read_text()
    tune = first.step("tune").metrics
    assert 0.85 <= tune["roc_auc"] <= 1.0 and 0.1 <= tune["pr_auc"] <= 1.0
    assert first.step("validate").metrics["violations"] == 0
    assert first.outputs["Output"] == "models:/e2e-fraud/1"
    decision = json.loads((first.run_dir / "register-op" / "decision").read_text())
    assert decision["lineage"]["shipyard.data_hash"].startswith("sha256:")
    table = format_summary(first)
    assert "champion` -> v1" in table and "overhead" in table

    # The end of `make run`: the champion served by a real predictor, a v2 request answered.
    answer = serve_sample(first.run_dir, "e2e-fraud")
    assert answer["id"] == "sample" and answer["model_version"] == "1"
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert outputs["predict"]["shape"] == [3] and outputs["predict_proba"]["shape"] == [3, 2]

    # The drift detector stored with the champion serves, as `shipyard serve --with-drift` runs it.
    detector = start_detector("models:/e2e-fraud@champion", "drift",
                              first.run_dir / "drift.log")
    try:
        with urllib.request.urlopen(f"{detector.base_url}/v1/drift/drift", timeout=10) as r:
            assert json.loads(r.read())["windows_scored"] == 0
    finally:
        detector.stop()

    # Same data, same seed: the challenger cannot beat the champion by the margin.
    second = run_local(pipeline_file, {**FAST, "model_name": "e2e-fraud"})
    register = second.step("register").metrics
    assert register["version"] == "2" and register["promoted"] is False
    assert str(champion("e2e-fraud").version) == "1"
    assert "schema stored with the champion model (v1)" in (
        second.run_dir / "validate-op" / "report").read_text()

    # `shipyard rollout 2 --local`: v1 and v2 as local predictors behind the local router,
    # sample traffic, gated steps; at 100 % the champion alias moves to v2.
    plan = RolloutPlan(steps=(50, 100), bake_seconds=3, poll_seconds=0.5,
                       thresholds=Thresholds(min_requests=5))
    report = local_rollout("2", plan, settings=settings_for("e2e-fraud"))
    assert report.outcome == "promoted" and [s.percent for s in report.steps] == [50, 100]
    assert str(champion("e2e-fraud").version) == "2"


def test_breast_cancer_csv_reaches_roc_auc_097(pipeline_file, tmp_path):
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns={"target": "label"})
    frame.to_csv(tmp_path / "breast_cancer.csv", index=False)
    summary = run_local(pipeline_file, {"source": str(tmp_path / "breast_cancer.csv"),
                                        "target": "label", "model_name": "e2e-breast-cancer",
                                        "n_candidates": 4, "min_pr_auc": 0.5})
    decision = json.loads((summary.run_dir / "register-op" / "decision").read_text())
    assert decision["challenger_metrics"]["roc_auc"] >= 0.97
    assert decision["promoted"] is True
    ingest = summary.step("ingest").metrics
    assert ingest["train_rows"] + ingest["test_rows"] == len(frame)
    assert ingest["test_rows"] == pytest.approx(0.2 * len(frame), abs=2)


def test_bad_data_stops_at_validate_and_registers_nothing(pipeline_file, tmp_path):
    frame = pd.DataFrame({"x": range(200), "label": [0] * 200})  # one class only
    frame.to_csv(tmp_path / "one_class.csv", index=False)
    with pytest.raises(PipelineFailed) as failed:
        run_local(pipeline_file, {"source": str(tmp_path / "one_class.csv"), "target": "label",
                                  "model_name": "e2e-bad"})
    assert failed.value.step == "validate"
    assert "label has at least two classes" in failed.value.report.read_text()
    assert not (failed.value.run_dir / "train-op").exists()
    configure(settings_for("e2e-bad"))
    assert not MlflowClient().search_registered_models("name = 'e2e-bad'")


def test_missing_target_stops_at_ingest(pipeline_file, tmp_path):
    pd.DataFrame({"x": [1, 2], "y": [0, 1]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(PipelineFailed) as failed:
        run_local(pipeline_file, {"source": str(tmp_path / "t.csv"), "target": "label"})
    assert failed.value.step == "ingest"
