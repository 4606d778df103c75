"""The closed loop end to end on 127.0.0.1, every part a real program started and stopped by
PID: Shipyard's predictor and drift sidecar (the inference log on an S3-compatible server,
moto), Prometheus with the manifests' alert rules, Alertmanager with the manifests' routes,
``shipyard trigger``, an SMTP server (aiosmtpd) and an HTTP receiver for chat.

Reference traffic, then shifted traffic whose labels follow a new fraud pattern: the drift
and decay alerts fire, Alertmanager calls the trigger, the pipeline trains on the logged,
labelled rows, the gate and the local canary rollout promote the new version, and every step
was announced. Only the rules' ``for`` durations are shortened (10 s instead of 10–15 min).
"""

import mailbox
import sys

import pytest

from shipyard.local.closed_loop import LoopOptions, run_loop
from shipyard.local.pipeline import run_local
from shipyard.settings import get_settings
from shipyard.storage import client
from support import free_port, listening

pytestmark = pytest.mark.e2e
MODEL = "loop-fraud"


@pytest.fixture
def smtp_server(tmp_path):
    """aiosmtpd, a real SMTP server, delivering into a Maildir."""
    port = free_port()
    maildir = tmp_path / "maildir"
    handler = ["-c", "aiosmtpd.handlers.Mailbox", str(maildir)]
    with listening(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", *handler], port
    ):
        yield port, maildir


def test_drift_and_decay_retrain_and_the_canary_promotes_the_new_version(
    pipeline_file, s3_server, smtp_server, tmp_path, monkeypatch
):
    import shutil

    if not (shutil.which("prometheus") and shutil.which("amtool")):
        pytest.skip("needs Debian's prometheus and prometheus-alertmanager (make tools)")
    smtp_port, maildir = smtp_server
    for key, value in {
        "SHIPYARD_MODEL_NAME": MODEL,
        "SHIPYARD_S3_ENDPOINT": s3_server,
        "SHIPYARD_S3_ACCESS_KEY": "testing",
        "SHIPYARD_S3_SECRET_KEY": "testing",
        "SHIPYARD_S3_REGION": "us-east-1",
        "SHIPYARD_SMTP_HOST": "127.0.0.1",
        "SHIPYARD_SMTP_PORT": str(smtp_port),
        "SHIPYARD_SMTP_STARTTLS": "false",
        "SHIPYARD_NOTIFY_EMAIL_TO": "ml-team@example.org",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    settings = get_settings()
    client(settings).make_bucket("loop-log")
    first = run_local(
        pipeline_file,
        {
            "rows": 6000,
            "model_types": "xgboost",
            "n_candidates": 2,
            "cv_folds": 2,
            "model_name": MODEL,
        },
    )
    old = first.step("register").metadata["version"]

    report = run_loop(
        LoopOptions(
            pipeline_file, tmp_path / "loop", log_root="s3://loop-log/inference", timeout=900
        ),
        settings,
    )
    print(report.table())
    print(f"first shifted request → new champion: {report.seconds_to('champion moved'):.1f} s")

    assert report.old_champion == old
    assert report.new_champion == str(int(old) + 1), report.outcomes
    assert {"ShipyardDriftDetected", "ShipyardModelDecay"} & report.alerts
    triggered = [d for d in report.decisions if d["decision"] == "triggered"]
    assert len(triggered) == 1 and triggered[0]["source"] == "alertmanager"
    assert all(
        "under way" in d["reason"] or "repeat" in d["reason"]
        for d in report.decisions
        if d["decision"] == "skipped"
    )
    # The run trained on production: the logged, labelled rows in the bucket.
    objects = [
        o.object_name
        for o in client(settings).list_objects("loop-log", prefix="inference/", recursive=True)
    ]
    assert any(f"model={MODEL}/" in o and "/labels/" not in f"/{o}" for o in objects)
    assert any(o.startswith("inference/labels/") for o in objects)

    # Every step was announced: the alert in chat (Alertmanager's own receiver) and
    # Shipyard's notifications on the webhook and by email.
    chat = [m for m in report.messages if m["path"] == "/alertmanager"]
    assert any("drifted" in str(m["payload"]) or "decayed" in str(m["payload"]) for m in chat)
    said = [str(m["payload"].get("text", "")) for m in report.messages if m["path"] == "/shipyard"]
    for expected in (
        f"Retrain triggered for {MODEL}",
        f"Registration: {MODEL} v{report.new_champion}",
        f"Rollout: {MODEL} v{report.new_champion} promoted",
        f"Retraining {MODEL}: run finished",
    ):
        assert any(expected in text for text in said), (expected, said)
    subjects = [message["Subject"] for message in mailbox.Maildir(maildir, create=False)]
    assert any(s.startswith(f"Retrain triggered for {MODEL}") for s in subjects), subjects
    assert any(s.startswith(f"Rollout: {MODEL}") for s in subjects), subjects
