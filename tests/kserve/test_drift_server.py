"""The drift detector behind a real ModelServer, fed the CloudEvents KServe's logger sends."""

import urllib.request

import pytest

from shipyard.data.synthetic import generate_transactions
from shipyard.local.servers import v2_request
from support import REQUEST, cloudevent, latest, post


def test_reference_traffic_then_shifted_traffic(drift_server):
    base, schema = drift_server["base"], drift_server["schema"]
    before = latest(base, 0)
    # 20 windows drawn like the reference: false alarms stay within the significance level
    # (p = 0.05 per window: ~1 expected, more than 3 has probability < 2 %)
    for i in range(20):
        for part in range(2):  # two 200-row events per 400-row window
            rows = generate_transactions(200, seed=500 + 2 * i + part)
            status, answer = cloudevent(base, v2_request(rows, schema))
            assert status == 200 and answer["accepted_rows"] == 200
    state = latest(base, before["windows_scored"] + 20, timeout=120)
    assert state["windows_scored"] == before["windows_scored"] + 20
    assert state["backend"] == "alibi" and state["estimated"] is None  # no calibration stored
    # a detector folder names no model: attribution drift is off and says why
    assert state["attribution"] == {
        "enabled": False,
        "reason": "no attribution reference stored at register",
    }
    assert state["drift_windows"] - before["drift_windows"] <= 3

    shifted = generate_transactions(400, seed=60, shift=1.0)
    for part in range(4):
        cloudevent(base, v2_request(shifted.iloc[part * 100 : (part + 1) * 100], schema))
    state = latest(base, before["windows_scored"] + 21)
    assert state["latest"]["is_drift"] is True
    assert {"amount", "channel", "merchant_category"} <= set(state["latest"]["drifted"])
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert "shipyard_drift_is_drift 1.0" in text
    assert 'shipyard_drift_feature_drift{feature="amount"} 1.0' in text
    assert f"shipyard_drift_windows_scored_total {before['windows_scored'] + 21}.0" in text

    # `shipyard drift --url` reads the same verdict: exit 1 while the latest window drifted.
    from shipyard.cli import main

    assert main(["drift", "--url", base]) == 1


def test_response_events_are_accepted_without_rows(drift_server):
    body = {
        "model_name": "fraud",
        "outputs": [{"name": "predict", "shape": [1], "datatype": "INT64", "data": [0]}],
    }
    status, answer = cloudevent(
        drift_server["base"], body, "org.kubeflow.serving.inference.response"
    )
    assert status == 200 and answer["accepted_rows"] == 0


def infer(base: str, body: dict, token: str | None = None):
    """POST a plain v2 request to the detector, with ``token`` as the bearer (or none)."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return post(f"{base}/v2/models/drift/infer", body, headers)


def test_plain_v2_payloads_from_the_predictor_only(drift_server):
    import os

    token = os.environ["SHIPYARD_INGEST_TOKEN"]  # what start_detector made for this run
    body = v2_request(generate_transactions(10, seed=3), drift_server["schema"])
    status, answer = infer(drift_server["base"], body, token)
    assert status == 200 and answer["outputs"][0]["data"] == [10]
    status, answer = post(f"{drift_server['base']}/v2/models/drift/infer", body)
    assert status == 401 and "Authorization: Bearer" in answer["error"]


def test_made_up_rows_without_the_token_fire_no_window(drift_server):
    """5,000 shifted rows posted by a stranger: 401 each, no row reaches a window."""
    before = latest(drift_server["base"], 0)
    shifted = generate_transactions(5000, seed=77, shift=1.0)
    for part in range(10):
        body = v2_request(shifted.iloc[part * 500 : (part + 1) * 500], drift_server["schema"])
        assert infer(drift_server["base"], body)[0] == 401
        assert cloudevent(drift_server["base"], body, token="")[0] == 401
    after = latest(drift_server["base"], 0)
    assert after["windows_scored"] == before["windows_scored"]
    assert after["rows_buffered"] == before["rows_buffered"]


def test_loopback_is_the_owner_check_only_where_trusted(tmp_path, shipyard_home):
    """On a cluster KServe's agent posts from inside the pod (127.0.0.1) and cannot send a
    token: SHIPYARD_INGEST_TRUST_LOOPBACK=true takes its events; labels still need theirs."""
    from shipyard.data.schema import infer_schema
    from shipyard.local.servers import start_detector
    from shipyard.monitoring.drift import DriftDetector

    reference = generate_transactions(1000, seed=8)
    schema = infer_schema(reference, "is_fraud")
    folder = DriftDetector.fit(reference, schema).save(tmp_path / "d")
    env = {"SHIPYARD_INGEST_TRUST_LOOPBACK": "true", "SHIPYARD_INGEST_TOKEN": "unused-here"}
    server = start_detector(str(folder), "drift", shipyard_home / "loopback.log", env=env)
    try:
        body = v2_request(generate_transactions(5, seed=9), schema)
        status, answer = cloudevent(server.base_url, body, token="")
        assert status == 200 and answer["accepted_rows"] == 5
        status, answer = post(f"{server.base_url}/v1/labels/drift", {"labels": []})
        assert status == 404 and "SHIPYARD_LABEL_TOKEN" in answer["error"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    "body, kind, message",
    [
        ({"inputs": [{"name": "amount"}]}, REQUEST, "inputs.0"),
        ({"inputs": []}, REQUEST, "the request has no inputs"),
        ({"inputs": []}, "com.example.other", "unsupported event type 'com.example.other'"),
    ],
)
def test_bad_events_are_400_and_counted(drift_server, body, kind, message):
    status, answer = cloudevent(drift_server["base"], body, kind)
    assert status == 400 and message in answer["error"]
    with urllib.request.urlopen(f"{drift_server['base']}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert f'shipyard_drift_events_total{{outcome="rejected",type="{kind}"}}' in text


@pytest.mark.parametrize("path", ["/v2/models/drift/infer", "/v1/labels/drift"])
def test_a_stranger_is_refused_before_its_body_is_read(drift_server, path):
    """Headers announcing 8 MB, no token and no body sent: the 401 comes at once (the body
    limit would otherwise wait for, and buffer, the whole body first)."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(drift_server["base"])
    with socket.create_connection((where.hostname, where.port), timeout=5) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Type: application/json"
            f"\r\nContent-Length: {8 * 2**20}\r\n\r\n".encode()
        )
        answer = sock.recv(4096).decode(errors="replace")  # times out if it waits for the body
    # 401 without the token; 404 where labels are off (no label token configured)
    assert answer.split(" ", 2)[1] in ("401", "404"), answer[:200]


def test_a_sidecar_set_to_scipy_scores_an_alibi_detector_with_the_same_numbers(tmp_path):
    """What the prod overlay does: SHIPYARD_DRIFT_BACKEND=scipy in the sidecar's environment
    runs a detector registered with alibi-detect through scipy, p-values unchanged."""
    from shipyard.data.schema import infer_schema
    from shipyard.local.servers import start_detector
    from shipyard.monitoring.drift import DriftDetector

    reference = generate_transactions(3000, seed=1)
    schema = infer_schema(reference, "is_fraud")
    detector = DriftDetector.fit(reference, schema, backend="alibi")
    folder = detector.save(tmp_path / "d")
    window = generate_transactions(400, seed=61, shift=0.5)
    expected = detector.score(window)
    server = start_detector(
        str(folder),
        "drift",
        tmp_path / "drift.log",
        window_size=400,
        env={"SHIPYARD_DRIFT_BACKEND": "scipy"},
    )
    try:
        status, _ = cloudevent(server.base_url, v2_request(window, schema))
        assert status == 200
        state = latest(server.base_url, 1, timeout=60)
    finally:
        server.stop()
    assert state["backend"] == "scipy"
    served = state["latest"]
    assert served["is_drift"] == expected.is_drift and served["drifted"] == expected.drifted
    for name, p in expected.p_values.items():
        assert served["p_values"][name] == pytest.approx(p, abs=1e-6)


def test_a_registered_sidecar_tracks_attribution_drift(registered, shipyard_home):
    """A sidecar started on a registered version loads the model beside its detector and
    exports the distance of each window's attribution shares from training's."""
    import json
    import time

    from shipyard.local.servers import start_detector
    from shipyard.registry.client import load_registered

    decision = registered.decision
    env = {"SHIPYARD_ATTRIBUTION_WINDOW_SIZE": "400", "SHIPYARD_ATTRIBUTION_ROWS": "200"}
    server = start_detector(
        decision.ref.uri, "drift", shipyard_home / "attr.log", window_size=400, env=env
    )
    try:
        state = latest(server.base_url, 0)
        reference = state["attribution"]["reference"]
        assert state["attribution"]["enabled"]
        assert sum(reference.values()) == pytest.approx(1, abs=1e-4)
        top = max(reference, key=reference.__getitem__)
        schema = load_registered(decision.ref).schema
        distances = []
        for window, seed in enumerate((21, 22)):
            rows = generate_transactions(400, seed=seed)
            if window:
                rows[top] = None  # the model's most important feature stops arriving
            for part in range(2):
                body = v2_request(rows.iloc[part * 200 : (part + 1) * 200], schema)
                assert cloudevent(server.base_url, body)[0] == 200
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with urllib.request.urlopen(f"{server.base_url}/v1/drift/drift") as response:
                    attribution = json.loads(response.read())["attribution"]
                if attribution["windows"] > window:
                    break
                time.sleep(0.2)
            distances.append(attribution["latest"])
        quiet, broken = (d["distance"] for d in distances)
        assert quiet < 0.05 and broken > 0.2, (quiet, broken)
        with urllib.request.urlopen(f"{server.base_url}/metrics", timeout=5) as response:
            text = response.read().decode()
        labels = f'model="{decision.ref.name}",version="{decision.version}"'
        line = f"shipyard_attribution_drift{{{labels}}}"
        assert any(row.startswith(line) for row in text.splitlines()), text[-2000:]
    finally:
        server.stop()
