"""The detector sidecar keeps production data and learns live performance: request and
response events become inference-log rows with their predictions, labels posted later are
joined into live metrics on /metrics, and SIGTERM flushes the log."""

import json
import urllib.request

import pandas as pd
import pytest

from shipyard.drift import DriftDetector
from shipyard.schema import infer_schema
from shipyard.serving.local import start_detector
from shipyard.serving.v2_inputs import request_body
from shipyard.task import with_task
from support import cloudevent, messy_table, post

RESPONSE = "org.kubeflow.serving.inference.response"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory, shipyard_home):
    frame = messy_table(3, "binary", rows=400)
    schema, _ = with_task(infer_schema(frame, "label"), frame["label"])
    detector = DriftDetector.fit(frame, schema)
    detector.model_info = {"threshold": 0.5, "holdout_metrics": {"roc_auc": 0.91}}
    folder = detector.save(tmp_path_factory.mktemp("sidecar") / "detector")
    log_dir = tmp_path_factory.mktemp("inference-log")
    with pytest.MonkeyPatch.context() as env:  # the child process reads its settings
        env.setenv("SHIPYARD_INFERENCE_LOG_URI", str(log_dir))
        env.setenv("SHIPYARD_MODEL_NAME", "churn")
        env.setenv("SHIPYARD_MODEL_VERSION", "7")
        server = start_detector(
            str(folder), "churn-drift", shipyard_home / "sidecar.log", window_size=1000
        )
    yield {"server": server, "frame": frame, "schema": schema, "log_dir": log_dir}
    server.stop()


def scrape(base: str) -> str:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        return response.read().decode()


def test_events_become_logged_rows_and_labels_become_live_metrics(sidecar):
    base, frame = sidecar["server"].base_url, sidecar["frame"].head(4)
    body = request_body(frame, sidecar["schema"], "req-42")
    assert cloudevent(base, body, event_id="req-42", model="churn-drift")[0] == 200
    response = {
        "id": "req-42",
        "model_name": "churn",
        "outputs": [
            {
                "name": "predict",
                "datatype": "BYTES",
                "shape": [4],
                "data": ["yes", "no", "yes", "no"],
            },
            {
                "name": "predict_proba",
                "datatype": "FP64",
                "shape": [4, 2],
                "data": [0.2, 0.8, 0.9, 0.1, 0.3, 0.7, 0.6, 0.4],
            },
        ],
    }
    assert cloudevent(base, response, RESPONSE, event_id="req-42", model="churn-drift")[0] == 200
    labels = {
        "labels": [
            {"id": "req-42", "row": i, "label": v} for i, v in enumerate(["yes", "no", "no", "no"])
        ]
        + [{"id": "unknown", "label": "yes"}]
    }
    request = urllib.request.Request(
        f"{base}/v1/labels/churn-drift",
        data=json.dumps(labels).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        joined = json.loads(answer.read())
    assert joined["joined"] == 4 and joined["unknown_id"] == 1
    assert joined["metrics"]["roc_auc"] == pytest.approx(1.0)
    metrics = scrape(base)
    assert 'shipyard_live_metric{metric="roc_auc",model="churn",version="7"} 1.0' in metrics
    assert 'shipyard_holdout_metric{metric="roc_auc",model="churn",version="7"} 0.91' in metrics
    assert 'shipyard_live_labelled_rows{model="churn",version="7"} 4.0' in metrics

    bad = urllib.request.Request(
        f"{base}/v1/labels/churn-drift",
        data=b'{"labels": 3}',
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(bad, timeout=10)
    assert error.value.code == 400

    # A local batched event: the predictor's forwarder names each request and its rows.
    batched = request_body(sidecar["frame"].iloc[4:7], sidecar["schema"], "req-a")
    batched["parameters"] = {"shipyard_requests": json.dumps([["req-a", 1], ["req-b", 2]])}
    assert cloudevent(base, batched, event_id="req-a", model="churn-drift")[0] == 200
    answer = {
        "id": "req-a",
        "model_name": "churn",
        "parameters": batched["parameters"],
        "outputs": [
            {"name": "predict", "datatype": "BYTES", "shape": [3], "data": ["no", "yes", "no"]}
        ],
    }
    assert cloudevent(base, answer, RESPONSE, event_id="req-a", model="churn-drift")[0] == 200
    status, joined = post(
        f"{base}/v1/labels/churn-drift", {"labels": [{"id": "req-b", "row": 1, "label": "no"}]}
    )
    assert (status, joined["joined"], joined["unknown_id"]) == (200, 1, 0)

    sidecar["server"].stop()  # SIGTERM: the buffered rows are written
    written = sorted((sidecar["log_dir"] / "model=churn" / "version=7").rglob("*.parquet"))
    logged = pd.concat([pd.read_parquet(p) for p in written]).sort_values(
        ["request_id", "row"],
        key=lambda c: c.map({"req-42": 0, "req-a": 1, "req-b": 2}) if c.name == "request_id" else c,
    )
    assert list(logged["request_id"]) == ["req-42"] * 4 + ["req-a", "req-b", "req-b"]
    assert list(logged["row"]) == [0, 1, 2, 3, 0, 0, 1]
    assert list(logged["prediction"]) == ["yes", "no", "yes", "no", "no", "yes", "no"]
    kept = pd.concat(
        pd.read_parquet(p)
        for p in (sidecar["log_dir"] / "labels" / "model=churn").rglob("*.parquet")
    )
    assert len(kept) == 6  # every label is kept, joined or not
