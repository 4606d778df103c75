"""Local mode's monitoring stack is configured from the manifests' own objects."""

import shutil
import subprocess

import pytest
import yaml

from shipyard.errors import ConfigError
from shipyard.local.monitoring import MANIFESTS, alert_rules, alertmanager_config


def test_rules_are_the_manifests_with_only_the_hold_changed(tmp_path):
    manifest = yaml.safe_load((MANIFESTS / "prometheusrule.yaml").read_text())["spec"]
    held = alert_rules("7s")
    ours = [r for g in held["groups"] for r in g["rules"]]
    theirs = [r for g in manifest["groups"] for r in g["rules"]]
    assert [r["expr"] for r in ours] == [r["expr"] for r in theirs]
    assert {r["for"] for r in ours} == {"7s"}
    assert alert_rules()["groups"] == manifest["groups"]  # no hold: unchanged
    if shutil.which("promtool"):
        (tmp_path / "rules.yml").write_text(yaml.safe_dump(held))
        subprocess.run(
            ["promtool", "check", "rules", str(tmp_path / "rules.yml")],
            check=True,
            capture_output=True,
        )


def test_alertmanager_config_needs_a_url_for_every_receiver():
    with pytest.raises(ConfigError, match="shipyard-chat"):
        alertmanager_config({"shipyard-trigger": "http://127.0.0.1:1/alertmanager"}, "t")


def test_the_trigger_receiver_carries_the_token_and_chat_the_slack_texts():
    config = alertmanager_config(
        {
            "shipyard-trigger": "http://127.0.0.1:1/alertmanager",
            "shipyard-chat": "http://127.0.0.1:2/chat",
        },
        "s3cret",
        "2s",
    )
    receivers = {r["name"]: r for r in config["receivers"]}
    hook = receivers["shipyard-trigger"]["webhook_configs"][0]
    assert hook["http_config"]["authorization"]["credentials"] == "s3cret"
    assert hook["send_resolved"] is False
    slack = receivers["shipyard-chat"]["slack_configs"][0]
    assert "GroupLabels.alertname" in slack["title"] and ".Annotations.summary" in slack["text"]
    assert config["route"]["routes"][0]["group_wait"] == "2s"
