"""Local mode: the predictor forwards each request to the drift detector, as KServe's logger
would, and keeps answering when the detector is down."""

import json
import time
import urllib.request

from shipyard.data.synthetic import generate_transactions
from shipyard.local.servers import start_predictor, v2_request
from shipyard.processes import stop_process_group
from support import free_port, post


def windows(base: str) -> int:
    with urllib.request.urlopen(f"{base}/v1/drift/drift", timeout=5) as response:
        return json.loads(response.read())["windows_scored"]


def metric(base: str, name: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_predictions_reach_the_detector(trained, drift_server, shipyard_home):
    before = windows(drift_server["base"])
    predictor = start_predictor(
        str(trained.bundle_dir),
        "fraud",
        shipyard_home / "forwarding.log",
        logger_url=f"{drift_server['base']}/v1/models/drift:predict",
    )
    try:
        shifted = generate_transactions(400, seed=61, shift=1.0)
        for part in range(4):
            answer = predictor.infer(
                v2_request(shifted.iloc[part * 100 : (part + 1) * 100], drift_server["schema"])
            )
            assert len(answer["outputs"][0]["data"]) == 100
        deadline = time.monotonic() + 30
        while windows(drift_server["base"]) <= before and time.monotonic() < deadline:
            time.sleep(0.2)
        assert windows(drift_server["base"]) == before + 1
    finally:
        predictor.stop()


def test_predictor_keeps_answering_with_the_detector_down(trained, small_data, shipyard_home):
    import pandas as pd

    from shipyard.data.schema import Schema

    nowhere = f"http://127.0.0.1:{free_port()}/v1/models/drift:predict"
    predictor = start_predictor(
        str(trained.bundle_dir), "fraud", shipyard_home / "down.log", logger_url=nowhere
    )
    try:
        rows = pd.read_parquet(small_data["test"]).head(20)
        body = v2_request(rows, Schema.load(small_data["schema"]))
        for _ in range(20):
            status, _ = post(f"{predictor.base_url}/v2/models/fraud/infer", body)
            assert status == 200
        failed = 'shipyard_predictor_events_forwarded_total{outcome="failed"}'
        deadline = time.monotonic() + 10
        while metric(predictor.base_url, failed) < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        # request events only (logger mode "request"); batching may merge several requests
        assert 1 <= metric(predictor.base_url, failed) <= 20
    finally:
        stop_process_group(predictor.process)


def test_one_shared_id_is_one_logged_row_per_request_and_strangers_are_refused(
    trained, drift_server, shipyard_home, tmp_path
):
    """The README's curl sends `"id": "1"`, load tools reuse one body: every request is still
    a logged row. A predictor with another token is refused (401), counted on both sides."""
    import pandas as pd

    from shipyard.data.schema import infer_schema
    from shipyard.local.servers import start_detector
    from shipyard.monitoring.drift import DriftDetector

    reference = generate_transactions(2000, seed=5)
    folder = DriftDetector.fit(reference, infer_schema(reference, "is_fraud")).save(tmp_path / "d")
    env = {"SHIPYARD_INFERENCE_LOG_URI": str(tmp_path / "log"), "SHIPYARD_MODEL_VERSION": "3"}
    env["SHIPYARD_LOGGER_MODE"] = "all"
    detector = start_detector(str(folder), "drift", shipyard_home / "shared-id.log", env=env)
    url = f"{detector.base_url}/v1/models/drift:predict"
    predictor = start_predictor(
        str(trained.bundle_dir), "fraud", shipyard_home / "shared.log", logger_url=url, env=env
    )
    stranger = start_predictor(
        str(trained.bundle_dir),
        "fraud",
        shipyard_home / "stranger.log",
        logger_url=url,
        env={"SHIPYARD_INGEST_TOKEN": "not-the-sidecars-token"},
    )
    try:
        rows = generate_transactions(100, seed=62)
        for i in range(100):
            answer = predictor.infer(v2_request(rows.iloc[[i]], drift_server["schema"], "1"))
            assert answer["id"] == "1"
            stranger.infer(v2_request(rows.iloc[[i]], drift_server["schema"], "1"))
        refused = 'shipyard_predictor_events_forwarded_total{outcome="refused"}'
        deadline = time.monotonic() + 20
        while metric(stranger.base_url, refused) < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert metric(stranger.base_url, refused) >= 1
        unauthorized = 'shipyard_sidecar_refused_total{reason="unauthorized",route="rows"}'
        assert metric(detector.base_url, unauthorized) >= 1
        time.sleep(1.0)  # the forwarder's last batch
    finally:
        predictor.stop()
        stranger.stop()
        detector.stop()  # SIGTERM: the log is flushed
    logged = pd.concat(pd.read_parquet(p) for p in (tmp_path / "log").rglob("*.parquet"))
    assert len(logged) == 100 and not logged.duplicated(["uid", "row"]).any()
    assert set(logged["request_id"]) == {"1"} and logged["prediction"].notna().all()
    assert {p.name for p in (tmp_path / "log" / "model=shipyard-fraud").iterdir()} == {"version=3"}
