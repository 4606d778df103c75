"""``shipyard trigger`` over real HTTP on 127.0.0.1 (its uvicorn server on a thread, with a
runner the test controls): one run per model, alert storms de-duplicated, unauthenticated and
unsigned requests refused, malformed ones a 400 naming the field, every decision recorded.
The same server as its own process: ``test_trigger_process.py``."""

import json
import threading
import time

import pytest

from shipyard.loop.trigger import DECISIONS, Trigger, mlflow_signature_ok
from shipyard.loop.trigger_server import bound_port, make_server
from shipyard.settings import Settings
from support import get_json, mlflow_signed, post

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
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield {
        "base": f"http://127.0.0.1:{bound_port(server)}",
        "trigger": trigger,
        "runs": runs,
        "release": release,
        "home": tmp_path,
    }
    release.set()
    server.should_exit = True
    thread.join(10)


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


def test_mlflow_webhooks_must_be_signed(service):
    base, body = service["base"], json.dumps(mlflow_event()).encode()
    assert post(f"{base}/mlflow", body)[0] == 401  # unsigned
    assert post(f"{base}/mlflow", body, mlflow_signed(body, "other"))[0] == 401
    stale = mlflow_signed(body, SECRET, stamp=int(time.time()) - 3600)
    assert post(f"{base}/mlflow", body, stale)[0] == 401
    status, answer = post(f"{base}/mlflow", body, mlflow_signed(body, SECRET))
    assert status == 200 and answer["decisions"][0]["decision"] == "triggered"
    other = json.dumps(mlflow_event(alias="champion")).encode()
    assert post(f"{base}/mlflow", other, mlflow_signed(other, SECRET))[1] == {"decisions": []}
    assert [m for m, _ in service["runs"]] == ["fraud"]


def test_a_person_starts_a_run(service):
    status, answer = post(f"{service['base']}/run/fraud", {"reason": "new labels"}, BEARER)
    assert status == 200 and answer["decisions"][0]["reason"] == "new labels"
    assert service["runs"] == [("fraud", "new labels")]


def test_signature_check_matches_mlflows_own_signing():
    from mlflow.webhooks import constants
    from mlflow.webhooks.delivery import _generate_hmac_signature

    from shipyard.loop import trigger

    for name in ("SIGNATURE", "TIMESTAMP", "DELIVERY_ID"):
        header = f"WEBHOOK_{name}_HEADER"
        assert getattr(trigger, header) == getattr(constants, header)

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
    from shipyard.loop.trigger_client import ask

    answer = ask(service["base"], "fraud", "nightly check", Settings(trigger_token=TOKEN))
    assert answer == "triggered: nightly check"
    with pytest.raises(ConfigError, match="answered HTTP 401"):
        ask(service["base"], "fraud", "x", Settings(trigger_token="wrong"))


def test_a_replayed_mlflow_delivery_starts_no_second_run(service):
    base = service["base"]
    body = json.dumps(mlflow_event()).encode()
    headers = mlflow_signed(body, SECRET, delivery="delivery-42")
    first = post(f"{base}/mlflow", body, headers)
    service["release"].set()
    service["trigger"].wait("fraud", 10)
    again = post(f"{base}/mlflow", body, headers)  # MLflow's retry, or a replay
    assert first[1]["decisions"][0]["decision"] == "triggered"
    assert again == (200, {"decisions": [], "duplicate": "delivery-42"})
    assert [m for m, _ in service["runs"]] == ["fraud"]


def test_decisions_need_the_token(service):
    post(f"{service['base']}/run/fraud", {}, BEARER)
    assert get_json(f"{service['base']}/decisions")[0] == 401
    status, answer = get_json(f"{service['base']}/decisions", BEARER)
    assert status == 200 and answer["decisions"][0]["model"] == "fraud"


MALFORMED = [  # (route, body, the field the answer must name)
    ("/alertmanager", b'{"alerts":"abc"}', "alerts"),
    ("/alertmanager", b"[1]", "body"),
    ("/alertmanager", b"", "body"),
    ("/alertmanager", b"[" * 100_000 + b"]" * 100_000, "body"),
    ("/alertmanager", b"\xff\xfe{", "body"),
    ("/alertmanager", b'{"alerts":[1]}', "alerts[0]"),
    ("/alertmanager", b'{"alerts":[{"labels":[]}]}', "alerts[0].labels"),
    ("/alertmanager", b'{"alerts":[{"labels":{"a":1}}]}', "alerts[0].labels"),
    ("/alertmanager", b'{"alerts":[{"status":["firing"]}]}', "alerts[0].status"),
    ("/alertmanager", b'{"alerts":[{"fingerprint":7}]}', "alerts[0].fingerprint"),
    ("/alertmanager", b'{"alerts":1e999}', "alerts"),
    ("/alertmanager", b'{"x":' + b"1" * 5000 + b"}", "body"),
    ("/run/fraud", b'{"reason":["a"]}', "reason"),
    ("/run/fraud", b'{"reason":"' + b"x" * 600 + b'"}', "reason"),
    ("/run/fraud", b"null", "body"),
]


@pytest.mark.parametrize(("route", "body", "field"), MALFORMED)
def test_malformed_bodies_are_a_400_naming_the_field(service, route, body, field):
    status, answer = post(f"{service['base']}{route}", body, BEARER)
    assert status == 400 and answer["error"].startswith(f"{field}:"), answer
    assert len(answer["error"]) < 300
    assert service["runs"] == []


def firing(model: str, name: str = "ShipyardModelDecay", fingerprint: str = "") -> dict:
    return {
        "status": "firing",
        "fingerprint": fingerprint,
        "labels": {"alertname": name, "model": model},
    }


def test_model_names_are_checked(service):
    base = service["base"]
    names = ("fraud&hours=100000", "fraud/../../x", "Fraud", "-x", "x" * 64, "x" * 5000)
    for model in (*names, "fr%00aud", "fr%2Faud", ""):
        status, answer = post(f"{base}/run/{model}", {}, BEARER)
        assert status == 400 and answer["error"].startswith("model:"), (model, answer)
    body = {"alerts": [firing("churn"), firing("../../x")]}
    status, answer = post(f"{base}/alertmanager", body, BEARER)
    assert status == 400 and answer["error"].startswith("alerts[1].labels.model:")
    event = json.dumps({**mlflow_event(), "data": {"name": "a/b", "alias": "retrain"}}).encode()
    status, answer = post(f"{base}/mlflow", event, mlflow_signed(event, SECRET))
    assert status == 400 and answer["error"].startswith("data.name:")
    assert service["runs"] == []


def test_a_burst_of_alerts_is_one_decision_per_model(service):
    alerts = [firing("churn", fingerprint=f"f{i}") for i in range(150)]
    alerts += [firing("churn", "ShipyardDriftDetected", f"d{i}") for i in range(50)]
    alerts += [firing("fraud", fingerprint="g1")]
    status, answer = post(f"{service['base']}/alertmanager", {"alerts": alerts}, BEARER)
    assert status == 200 and [d["model"] for d in answer["decisions"]] == ["churn", "fraud"]
    reason = answer["decisions"][0]["reason"]
    assert reason.startswith("200 alerts (ShipyardDriftDetected ×50, ShipyardModelDecay ×150)")
    assert sorted(m for m, _ in service["runs"]) == ["churn", "fraud"]
    again = post(f"{service['base']}/alertmanager", {"alerts": alerts[:3]}, BEARER)[1]
    assert again["decisions"][0]["decision"] == "skipped"  # under way (and repeats)


def test_notifications_leave_the_handler(tmp_path):
    """A webhook that accepts and never answers: ten decisions are answered at once; each
    message is then given up after the notify timeout, counted as failed."""
    from shipyard.loop.notify import NOTIFICATIONS
    from support import silent_endpoint

    with silent_endpoint() as hung:
        settings = Settings(
            home=tmp_path,
            trigger_token=TOKEN,
            notify_webhook_url=f"http://{hung}/hook",
            notify_timeout_seconds=0.1,
        )
        trigger = Trigger(lambda model, why: "run finished", settings)
        before = NOTIFICATIONS.labels("webhook", "retrain", "failed")._value.get()
        started = time.monotonic()
        for i in range(10):
            trigger.request(f"model-{i}", "manual", "test")
        took = time.monotonic() - started
        assert took < 1.0, took
        assert trigger.notifications.join(40)
        failed = NOTIFICATIONS.labels("webhook", "retrain", "failed")._value.get() - before
        assert failed == 20  # each decision, and each run's outcome


def test_a_full_notification_queue_drops_and_counts(tmp_path):
    from shipyard.loop.notify import DROPPED, NotificationQueue
    from support import silent_endpoint

    with silent_endpoint() as hung:
        settings = Settings(notify_webhook_url=f"http://{hung}/h", notify_timeout_seconds=2)
        queue = NotificationQueue(settings, maxsize=2)
        before = DROPPED.labels("queue_full")._value.get()
        outcomes = [queue.put("retrain", f"m{i}", "x") for i in range(5)]
        assert outcomes.count(False) >= 2  # the first may already be on its way
        assert DROPPED.labels("queue_full")._value.get() - before == outcomes.count(False)
        left = queue.close(timeout=0.1)
        assert DROPPED.labels("shutdown")._value.get() >= left
