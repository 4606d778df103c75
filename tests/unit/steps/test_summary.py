"""The exit task's run summary, read from a real MLflow store (the session's SQLite one) as the
steps leave it: step runs and the registered version tagged with the pipeline run id."""

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import mlflow
import pytest
from mlflow import MlflowClient

from shipyard.model.ref import CHAMPION
from shipyard.registry.tracking import PIPELINE_RUN_TAG, configure, step_run
from shipyard.settings import Settings
from shipyard.steps.summary import collect, summarize
from support import free_port


def settings(name: str, **extra) -> Settings:
    return Settings(model_name=name, **extra)


def statuses(summary) -> dict[str, str]:
    return {step.name: step.status for step in summary.steps}


def log_step(step: str, run_id: str, s: Settings, metrics: dict, fail: bool = False) -> None:
    """What the train and tune steps leave: a nested step run with holdout metrics."""
    try:
        with step_run(step, run_id, s, tags={"shipyard.model_type": "xgboost"}):
            mlflow.log_metrics(metrics)
            if fail:
                raise RuntimeError("the step broke")
    except RuntimeError:
        pass


def register_version(s: Settings, run_id: str, decision: str, reason: str, champion: bool) -> str:
    """What the register step leaves: a version tagged with the run, its decision, reason."""
    configure(s)
    client = MlflowClient()
    if not client.search_registered_models(f"name = '{s.model_name}'"):
        client.create_registered_model(s.model_name)
    with mlflow.start_run() as run:
        pass
    version = client.create_model_version(
        s.model_name,
        f"runs:/{run.info.run_id}/model",
        run_id=run.info.run_id,
        tags={PIPELINE_RUN_TAG: run_id, "shipyard.decision": decision, "shipyard.reason": reason},
    ).version
    if champion:
        client.set_registered_model_alias(s.model_name, CHAMPION, version)
    return str(version)


def new_run_id() -> str:
    return uuid.uuid4().hex[:8]


def test_a_run_that_failed_before_any_record_says_so(tmp_path):
    s = settings("summary-early-failure")
    summary = collect(new_run_id(), "FAILED", "Task exit-handler-1 failed.", True, s)
    assert not summary.succeeded and summary.version is None
    assert statuses(summary) == {
        "ingest": "no record",
        "validate": "no record",
        "train": "no record",
        "tune": "no record",
        "register": "no record",
        "deploy": "not reached",
    }
    assert summary.outcome == "failed before registering a model"
    text = summary.markdown()
    assert text.startswith(
        f"# Pipeline failed: summary-early-failure (run "
        f"{summary.pipeline_run_id}), nothing registered"
    )
    assert "**State:** FAILED — Task exit-handler-1 failed." in text
    assert "the run failed at the first step without a record" in text


def test_a_failed_step_run_and_what_was_not_reached():
    s, run_id = settings("summary-train-failed"), new_run_id()
    log_step("train", run_id, s, {"holdout_roc_auc": 0.5}, fail=True)
    summary = collect(run_id, "FAILED", "", False, s)
    assert statuses(summary) == {
        "ingest": "succeeded (a later step ran)",
        "validate": "succeeded (a later step ran)",
        "train": "failed",
        "tune": "not reached",
        "register": "not reached",
        "deploy": "not reached",
    }
    assert not any("first step without a record" in n for n in summary.notes)


def test_the_gate_refused_steps_metrics_decision_and_outcome():
    s, run_id = settings("summary-refused"), new_run_id()
    champion = register_version(s, new_run_id(), "promoted", "first model", champion=True)
    log_step("train", run_id, s, {"holdout_roc_auc": 0.91, "holdout_pr_auc": 0.3})
    log_step("tune-search", run_id, s, {"best_cv_roc_auc_xgboost": 0.92})
    log_step("tune", run_id, s, {"holdout_roc_auc": 0.93, "cv_roc_auc": 0.92})
    version = register_version(
        s, run_id, "rejected", "roc_auc 0.9300 is worse than the champion's 0.9400", False
    )
    summary = collect(run_id, "SUCCEEDED", "", True, s)
    assert statuses(summary) == {
        "ingest": "succeeded (a later step ran)",
        "validate": "succeeded (a later step ran)",
        "train": "succeeded",
        "tune": "succeeded",
        "register": "succeeded",
        "deploy": "skipped: the gate kept the champion",
    }
    steps = {step.name: step.metrics for step in summary.steps}
    assert steps["train"] == {"model_type": "xgboost", "roc_auc": 0.91, "pr_auc": 0.3}
    assert steps["tune"]["roc_auc"] == 0.93 and steps["tune"]["best_cv_roc_auc_xgboost"] == 0.92
    assert steps["register"] == {
        "version": version,
        "decision": "rejected",
        "champion_version": champion,
    }
    assert summary.model_uri == f"models:/summary-refused/{version}"
    assert summary.decision.startswith(
        f"v{version} kept as challenger (the gate refused): roc_auc 0.9300 is worse"
    )
    assert summary.outcome == (
        f"models:/summary-refused/{version} not promoted; deploy "
        f"skipped: the gate kept the champion; `champion` → v{champion}"
    )
    text = summary.markdown()
    assert "| train | succeeded | model_type=xgboost, pr_auc=0.300, roc_auc=0.910 |" in text
    assert "| deploy | skipped: the gate kept the champion |  |" in text
    # with deploy off, that is the reason deploy did not run (the pipeline's outer condition)
    assert collect(run_id, "SUCCEEDED", "", False, s).deploy == "skipped: deploy is off"


def test_deploy_outcome_follows_the_champion_alias():
    s, run_id = settings("summary-rollout"), new_run_id()
    old = register_version(s, new_run_id(), "promoted", "first model", champion=True)
    new = register_version(s, run_id, "promoted", "beats the champion", champion=False)
    failed = collect(run_id, "FAILED", "", True, s)
    assert failed.deploy == f"failed or rolled back (`champion` stays v{old})"
    assert statuses(failed)["deploy"] == "failed"
    configure(s)
    MlflowClient().set_registered_model_alias(s.model_name, CHAMPION, new)
    done = collect(run_id, "SUCCEEDED", "", True, s)
    assert done.deploy == f"rolled out (`champion` moved to v{new})"
    assert statuses(done)["deploy"] == "succeeded"
    assert done.headline() == f"Pipeline finished: summary-rollout (run {run_id}), v{new} promoted"


@pytest.fixture
def receiver():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()


def test_summarize_writes_the_markdown_and_announces_it(tmp_path, receiver):
    url, received = receiver
    s, run_id = settings("summary-announced", notify_webhook_url=url), new_run_id()
    register_version(s, run_id, "promoted", "first model", champion=True)
    summary = summarize(run_id, "SUCCEEDED", "", False, tmp_path / "summary.md", s)
    assert summary.notified == {"webhook": "sent"}
    text = (tmp_path / "summary.md").read_text()
    assert received == [{"text": f"*{summary.headline()}*\n{text}"}]
    assert "Pipeline finished: summary-announced" in received[0]["text"]
    assert summary.metadata()["notified"] == "webhook sent"


def test_mlflow_and_the_notifier_down_still_give_a_summary(tmp_path):
    down = f"http://127.0.0.1:{free_port()}"
    s = settings(
        "summary-down",
        mlflow_tracking_uri=down,
        notify_webhook_url=f"http://127.0.0.1:{free_port()}/hook",
        notify_timeout_seconds=2,
    )
    summary = summarize("r1", "FAILED", "boom", True, tmp_path / "summary.md", s)
    assert summary.notified == {"webhook": "failed"}
    text = (tmp_path / "summary.md").read_text()
    assert "MLflow could not be read (ServiceUnavailable" in text
    assert "# Pipeline failed: summary-down (run r1), nothing registered" in text


def test_the_summary_says_how_good_this_version_and_the_champion_are():
    s, run_id = settings("summary-how-good"), new_run_id()
    champion = register_version(s, new_run_id(), "promoted", "first version", champion=True)
    version = register_version(s, run_id, "rejected", "worse than the champion", False)
    client = MlflowClient()
    client.set_model_version_tag(
        s.model_name, champion, "shipyard.quality", "AUC 0.67 (0.64–0.70); guessing scores 0.50."
    )
    client.set_model_version_tag(
        s.model_name, version, "shipyard.quality", "AUC 0.61 (0.58–0.64); guessing scores 0.50."
    )
    summary = collect(run_id, "SUCCEEDED", "", False, s)
    assert summary.how_good == (
        f"v{version}: AUC 0.61 (0.58–0.64); guessing scores 0.50. "
        f"champion v{champion}: AUC 0.67 (0.64–0.70); guessing scores 0.50."
    )
    assert f"**How good:** {summary.how_good}" in summary.markdown()
    assert summary.metadata()["how_good"] == summary.how_good
