"""The detector sidecar keeps production data and learns live performance, and only from its
owners: request and response events (from the predictor, with the ingest token) become
inference-log rows with their predictions, one per row whatever the client's id; labels
(with the label token) are checked before they are written and joined into live metrics on
/metrics; files and metrics carry the version number; SIGTERM flushes the log."""

import json
import os
import urllib.error
import urllib.request

import pandas as pd
import pytest

from shipyard.data.schema import infer_schema
from shipyard.local.servers import start_detector
from shipyard.model.task import with_task
from shipyard.monitoring.drift import DriftDetector
from shipyard.serving.v2_inputs import request_body
from support import cloudevent, messy_table

RESPONSE = "org.kubeflow.serving.inference.response"
INGEST, LABEL = "ingest-token-for-tests-0123456789", "label-token-for-tests-9876543210"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory, shipyard_home):
    frame = messy_table(3, "binary", rows=400)
    schema, _ = with_task(infer_schema(frame, "label"), frame["label"])
    detector = DriftDetector.fit(frame, schema)
    detector.model_info = {"threshold": 0.5, "holdout_metrics": {"roc_auc": 0.91}}
    folder = detector.save(tmp_path_factory.mktemp("sidecar") / "detector")
    log_dir = tmp_path_factory.mktemp("inference-log")
    env = {  # the child's settings, given to it alone
        "SHIPYARD_INFERENCE_LOG_URI": str(log_dir),
        "SHIPYARD_MODEL_NAME": "churn",
        "SHIPYARD_MODEL_VERSION": "7",
        "SHIPYARD_INGEST_TOKEN": INGEST,
        "SHIPYARD_LABEL_TOKEN": LABEL,
        "SHIPYARD_INFERENCE_LOG_MAX_AGE_SECONDS": "600",
    }
    server = start_detector(
        str(folder), "churn-drift", shipyard_home / "sidecar.log", window_size=1000, env=env
    )
    yield {"server": server, "frame": frame, "schema": schema, "log_dir": log_dir}
    server.stop()


def scrape(base: str) -> str:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        return response.read().decode()


def send(url: str, body: bytes | dict, token: str | None = LABEL, headers: dict | None = None):
    """POST; (status, JSON answer, response headers) without raising on 4xx/5xx."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=sent, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), dict(error.headers)


def event(sidecar, body, kind=None, event_id="", token=INGEST):
    base = sidecar["server"].base_url
    extra = {"kind": kind} if kind else {}
    return cloudevent(base, body, event_id=event_id, model="churn-drift", token=token, **extra)


def labels_url(sidecar) -> str:
    return f"{sidecar['server'].base_url}/v1/labels/churn-drift"


def rows_seen(sidecar) -> float:
    for line in scrape(sidecar["server"].base_url).splitlines():
        if line.startswith("shipyard_drift_rows_seen_total"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_anonymous_rows_and_labels_are_401_and_nothing_is_written(sidecar):
    base, frame = sidecar["server"].base_url, sidecar["frame"].head(50)
    body = request_body(frame, sidecar["schema"], "forged")
    before = rows_seen(sidecar)
    for token in ("", "wrong-token"):
        status, answer = event(sidecar, body, event_id="forged", token=token)
        assert status == 401 and "predictor only" in answer["error"]
        status, answer, headers = send(f"{base}/v2/models/churn-drift/infer", body, token)
        assert status == 401 and headers["www-authenticate"] == "Bearer"
        status, answer, _ = send(
            labels_url(sidecar), {"labels": [{"id": "forged", "label": "yes"}]}, token
        )
        assert status == 401 and "label token" in answer["error"]
    # the ingest token does not open the labels route, nor the label token the rows
    assert send(labels_url(sidecar), {"labels": []}, INGEST)[0] == 401
    assert event(sidecar, body, token=LABEL)[0] == 401
    assert rows_seen(sidecar) == before
    metrics = scrape(base)
    assert 'shipyard_sidecar_refused_total{reason="unauthorized",route="rows"}' in metrics
    assert 'shipyard_sidecar_refused_total{reason="unauthorized",route="labels"}' in metrics


def test_events_become_logged_rows_and_checked_labels_become_live_metrics(sidecar):
    base, frame = sidecar["server"].base_url, sidecar["frame"].head(4)
    body = request_body(frame, sidecar["schema"], "req-42")
    assert event(sidecar, body, event_id="req-42")[0] == 200
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
    assert event(sidecar, response, RESPONSE, event_id="req-42")[0] == 200
    honest = [{"id": "req-42", "row": i, "label": v} for i, v in enumerate(["yes", "no", "no"])]
    bad = [
        {"id": "unknown", "label": "yes"},
        {"id": "req-42", "row": 3, "label": "maybe"},
        {"id": "req-42", "row": 3, "label": 7},
        {"id": "req-42", "row": 3, "label": None},
        {"id": "req-42", "row": 2**70, "label": "no"},
    ]
    status, answer, _ = send(labels_url(sidecar), {"labels": honest[:2] + bad + honest[2:]})
    assert status == 400 and answer["accepted"] == 3 and answer["rejected"] == 5
    assert answer["error"].startswith("5 of 8 labels refused, 3 kept; labels[2].id request")
    assert [(r["index"], r["field"]) for r in answer["refused"]] == [
        (2, "id"),
        (3, "label"),
        (4, "label"),
        (5, "label"),
        (6, "row"),
    ]
    assert answer["metrics"]["roc_auc"] == pytest.approx(1.0)
    # the row 2**70 label did not take the honest ones of its window with it; row 3 is free
    assert (
        send(labels_url(sidecar), {"labels": [{"id": "req-42", "row": 3, "label": "no"}]})[0] == 200
    )
    metrics = scrape(base)
    assert 'shipyard_live_metric{metric="roc_auc",model="churn",version="7"} 1.0' in metrics
    assert 'shipyard_holdout_metric{metric="roc_auc",model="churn",version="7"} 0.91' in metrics
    assert 'shipyard_live_labelled_rows{model="churn",version="7"} 4.0' in metrics
    assert 'shipyard_labels_total{model="churn",outcome="bad_label",version="7"} 3.0' in metrics

    # first label wins: 4 flipped labels are refused (409), an explicit correction is not
    flipped = [{"id": "req-42", "row": i, "label": "no"} for i in range(4)]
    status, answer, _ = send(labels_url(sidecar), {"labels": flipped})
    assert status == 409 and answer["accepted"] == 0 and "correct" in answer["error"]
    status, answer, _ = send(labels_url(sidecar), {"labels": flipped[:1], "correct": True})
    assert status == 200 and answer["counts"] == {"corrected": 1}

    for bad_body in (b'{"labels": 3}', b"[" * 100_000 + b"]" * 100_000, b"{", b'{"correct": 1}'):
        status, answer, _ = send(labels_url(sidecar), bad_body)
        assert status == 400 and len(answer["error"]) < 300


def test_one_shared_client_id_is_one_logged_row_per_request(sidecar):
    frame = sidecar["frame"]
    for i in range(100):  # the README's curl: every request "id": "1"
        body = request_body(frame.iloc[[i]], sidecar["schema"], "1")
        assert event(sidecar, body)[0] == 200  # KServe's agent: a new ce-id per request
        shared = request_body(frame.iloc[[i]], sidecar["schema"], "1")
        assert event(sidecar, shared, event_id="same")[0] == 200  # even with one ce-id


def test_a_big_label_post_is_413_before_it_is_parsed(sidecar):
    import psutil

    process = psutil.Process(sidecar["server"].process.pid)
    before = process.memory_info().rss
    item = {"id": "req-42", "row": 0, "label": "yes"}
    huge = json.dumps({"labels": [item] * 1_150_000}).encode()  # ~46 MB
    assert len(huge) > 45e6
    for _ in range(3):
        status, answer, _ = send(labels_url(sidecar), huge)
        assert status == 413 and "SHIPYARD_LABELS_MAX_REQUEST_BYTES" in answer["error"]
    grown = (process.memory_info().rss - before) / 1e6
    print(f"\nRSS {before / 1e6:.0f} MB before three 46 MB label posts, +{grown:.0f} MB after")
    assert grown < 150


def test_sigterm_writes_every_row_under_the_version_number(sidecar):
    sidecar["server"].stop()  # SIGTERM: the buffered rows are written
    root = sidecar["log_dir"] / "model=churn"
    assert [p.name for p in root.iterdir()] == ["version=7"]
    logged = pd.concat(pd.read_parquet(p) for p in sorted(root.rglob("*.parquet")))
    first = logged[logged["request_id"] == "req-42"].sort_values("row")
    assert list(first["prediction"]) == ["yes", "no", "yes", "no"]
    shared = logged[logged["client_id"] == "1"]
    assert len(shared) == 200 and shared["uid"].is_unique  # 100 + 100, none lost
    assert not logged.duplicated(["uid", "row"]).any()
    assert not (logged["request_id"] == "forged").any()
    kept = pd.concat(
        pd.read_parquet(p)
        for p in (sidecar["log_dir"] / "labels" / "model=churn").rglob("*.parquet")
    )
    assert len(kept) == 5  # only the checked labels: 3 + 1 honest, 1 correction
    assert kept["correction"].sum() == 1 and set(kept["uid"]) == set(first["uid"])
    assert os.environ.get("SHIPYARD_LABEL_TOKEN") is None  # the token stayed in the child
