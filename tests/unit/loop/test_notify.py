"""The notifier against a real HTTP receiver on 127.0.0.1, and with its channels down."""

import pytest

from shipyard.local.inbox import Inbox
from shipyard.loop.notify import NOTIFICATIONS, Notifier
from shipyard.settings import Settings
from support import free_port


@pytest.fixture
def receiver():
    """An incoming-webhook endpoint that records what it is posted."""
    inbox = Inbox()
    yield f"{inbox.url}/hooks/abc", inbox.messages
    inbox.stop()


def count(channel, event, outcome) -> float:
    return NOTIFICATIONS.labels(channel, event, outcome)._value.get()


def test_webhook_gets_a_slack_shaped_message(receiver):
    url, received = receiver
    before = count("webhook", "gate", "sent")
    outcomes = Notifier(Settings(notify_webhook_url=url)).send(
        "gate", "fraud v3 promoted", "roc_auc 0.95 beats the champion's 0.94"
    )
    assert outcomes == {"webhook": "sent"}
    content_type, body = received[0]["headers"]["content-type"], received[0]["payload"]
    assert content_type == "application/json"
    assert body == {"text": "*fraud v3 promoted*\nroc_auc 0.95 beats the champion's 0.94"}
    assert count("webhook", "gate", "sent") == before + 1


def test_a_notifier_that_is_down_changes_nothing_but_a_counter():
    settings = Settings(
        notify_webhook_url=f"http://127.0.0.1:{free_port()}/hook",
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        notify_email_to="ops@x",
        notify_timeout_seconds=2,
    )
    before = count("webhook", "rollout", "failed"), count("email", "rollout", "failed")
    outcomes = Notifier(settings).send("rollout", "canary rolled back", "error rate 0.4")
    assert outcomes == {"webhook": "failed", "email": "failed"}
    assert (count("webhook", "rollout", "failed"), count("email", "rollout", "failed")) == (
        before[0] + 1,
        before[1] + 1,
    )


def test_nothing_configured_sends_nothing():
    assert Notifier(Settings()).send("pipeline", "t", "x") == {}


def test_the_gate_decision_is_announced(receiver, trained, small_data):
    from shipyard.steps.register import register

    url, received = receiver
    settings = Settings(model_name="notify-gate", notify_webhook_url=url)
    decision = register(
        trained.model_uri, trained.bundle_dir, small_data["test"], settings=settings
    )
    text = received[-1]["payload"]["text"]
    assert text.startswith(f"*Registration: notify-gate v{decision.version} PROMOTED")
    assert "roc_auc" in text


def test_a_rolled_back_canary_is_announced_and_still_fails_the_caller(receiver):
    from shipyard.errors import RolloutFailed
    from shipyard.rollout.run import announced

    url, received = receiver

    def rollout():
        raise RolloutFailed("rollout of version 3 (stable: 2): rolled back — error rate 0.4")

    with pytest.raises(RolloutFailed):
        announced(rollout, "fraud", "3", Settings(notify_webhook_url=url))
    text = received[-1]["payload"]["text"]
    assert text.startswith("*Rollout: fraud v3 rolled back*") and "error rate 0.4" in text
