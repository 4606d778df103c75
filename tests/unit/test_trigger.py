"""``shipyard trigger`` over real HTTP on 127.0.0.1: one run per model, alert storms
de-duplicated, unauthenticated and unsigned requests refused, every decision recorded."""

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from shipyard.settings import Settings
from shipyard.trigger import DECISIONS, Trigger, mlflow_signature_ok
from shipyard.trigger_server import make_server

TOKEN, SECRET = "t0ken", "mlflow-secret"


@pytest.fixture
def service(tmp_path):
    runs, release = [], threading.Event()

    def runner(model: str, why: str) -> str:  # a run that takes until the test releases it
        runs.append((model, why))
        release.wait(10)
        return f"run finished for {model}"

    settings = Settings(
        home=tmp_path,
        trigger_token=TOKEN,
        trigger_mlflow_secret=SECRET,
        trigger_cooldown_seconds=600,
        model_name="fraud",
    )
    trigger = Trigger(runner, settings)
    server = make_server(trigger, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {
        "base": f"http://127.0.0.1:{server.server_address[1]}",
        "trigger": trigger,
        "runs": runs,
        "release": release,
        "home": tmp_path,
    }
    release.set()
    server.shutdown()


def post(url: str, body: dict | bytes, headers: dict | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def alert(model="churn", fingerprint="abc123", name="ShipyardModelDecay"):
    return {
        "version": "4",
        "status": "firing",
        "receiver": "shipyard-trigger",
        "alerts": [
            {
                "status": "firing",
                "fingerprint": fingerprint,
                "labels": {"alertname": name, "model": model, "version": "4", "metric": "roc_auc"},
            }
        ],
    }


BEARER = {"Authorization": f"Bearer {TOKEN}"}


def test_a_storm_of_identical_alerts_starts_one_run(service):
    base = service["base"]
    before = DECISIONS.labels("churn", "alertmanager", "skipped")._value.get()
    answers = [post(f"{base}/alertmanager", alert(), BEARER) for _ in range(20)]
    assert all(status == 200 for status, _ in answers)
    outcomes = [a["decisions"][0]["decision"] for _, a in answers]
    assert outcomes.count("triggered") == 1 and outcomes.count("skipped") == 19
    assert "is under way" in answers[1][1]["decisions"][0]["reason"]
    assert len(service["runs"]) == 1 and service["runs"][0][0] == "churn"
    service["release"].set()
    service["trigger"].wait("churn", 10)
    status, again = post(f"{base}/alertmanager", alert(), BEARER)  # finished, but a repeat
    assert again["decisions"][0]["decision"] == "skipped"
    assert "cooldown" in again["decisions"][0]["reason"]
    assert DECISIONS.labels("churn", "alertmanager", "skipped")._value.get() - before == 20
    logged = (service["home"] / "trigger-decisions.jsonl").read_text().splitlines()
    assert len(logged) == 21 and json.loads(logged[0])["decision"] == "triggered"
    assert service["trigger"].outcomes["churn"] == "run finished for churn"


def test_resolved_and_unrelated_alerts_start_nothing(service):
    body = alert(name="ShipyardPredictorLatencyHigh")
    body["alerts"].append({**alert()["alerts"][0], "status": "resolved"})
    assert post(f"{service['base']}/alertmanager", body, BEARER)[1] == {"decisions": []}
    assert service["runs"] == []


def test_unauthenticated_requests_are_refused(service):
    base = service["base"]
    assert post(f"{base}/alertmanager", alert())[0] == 401
    assert post(f"{base}/alertmanager", alert(), {"Authorization": "Bearer nope"})[0] == 401
    assert post(f"{base}/run/fraud", {}, {})[0] == 401
    assert post(f"{base}/alertmanager", b"[1,", BEARER)[0] == 400
    assert service["runs"] == []


def mlflow_event(alias="retrain", model="fraud"):
    return {
        "entity": "model_version_alias",
        "action": "created",
        "timestamp": "2026-12-02T00:00:00+00:00",
        "data": {"name": model, "alias": alias, "version": "3"},
    }


def signed(body: bytes, secret: str = SECRET, stamp: int | None = None) -> dict:
    delivery, stamp = "d-1", str(stamp or int(time.time()))
    digest = hmac.new(
        secret.encode(), f"{delivery}.{stamp}.".encode() + body, hashlib.sha256
    ).digest()
    return {
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": stamp,
        "X-MLflow-Signature": "v1," + base64.b64encode(digest).decode(),
    }


def test_mlflow_webhooks_must_be_signed(service):
    base, body = service["base"], json.dumps(mlflow_event()).encode()
    assert post(f"{base}/mlflow", body)[0] == 401  # unsigned
    assert post(f"{base}/mlflow", body, signed(body, "other"))[0] == 401
    assert post(f"{base}/mlflow", body, signed(body, stamp=int(time.time()) - 3600))[0] == 401
    status, answer = post(f"{base}/mlflow", body, signed(body))
    assert status == 200 and answer["decisions"][0]["decision"] == "triggered"
    other = json.dumps(mlflow_event(alias="champion")).encode()
    assert post(f"{base}/mlflow", other, signed(other))[1] == {"decisions": []}
    assert [m for m, _ in service["runs"]] == ["fraud"]


def test_a_person_starts_a_run(service):
    status, answer = post(f"{service['base']}/run/fraud", {"reason": "new labels"}, BEARER)
    assert status == 200 and answer["decisions"][0]["reason"] == "new labels"
    assert service["runs"] == [("fraud", "new labels")]


def test_signature_check_matches_mlflows_own_signing():
    from mlflow.webhooks.delivery import _generate_hmac_signature

    body = json.dumps(mlflow_event())
    stamp = str(int(time.time()))
    headers = {
        "X-MLflow-Delivery-Id": "x",
        "X-MLflow-Timestamp": stamp,
        "X-MLflow-Signature": _generate_hmac_signature(SECRET, "x", stamp, body),
    }
    assert mlflow_signature_ok(SECRET, headers, body.encode())
    assert not mlflow_signature_ok(SECRET, headers, body.encode() + b" ")


def test_the_cli_asks_a_running_server(service):
    from shipyard.errors import ConfigError
    from shipyard.trigger_client import ask

    answer = ask(service["base"], "fraud", "nightly check", Settings(trigger_token=TOKEN))
    assert answer == "triggered: nightly check"
    with pytest.raises(ConfigError, match="answered 401"):
        ask(service["base"], "fraud", "x", Settings(trigger_token="wrong"))
