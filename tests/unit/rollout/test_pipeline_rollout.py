"""The deploy step's entries (``rollout_step`` on a cluster, ``local_deploy`` for ``Local``):
the register step's model URI becomes a rollout of that version, for that model; anything but
a registered version is refused before anything is asked."""

import pytest

from shipyard.errors import ConfigError
from shipyard.local import rollout as local
from shipyard.rollout import run
from shipyard.rollout.controller import RolloutPlan, RolloutReport

PLAN = RolloutPlan((20, 100), 60.0)


def test_the_version_and_model_of_the_uri_are_rolled_out_on_the_cluster(monkeypatch):
    calls = []

    def fake_cluster_rollout(ref, plan, options, prometheus_url, settings, api=None):
        calls.append((ref.number, plan, options, prometheus_url, ref.name))
        return RolloutReport(ref.number, "2", "promoted")

    monkeypatch.setattr(run, "cluster_rollout", fake_cluster_rollout)
    report = run.rollout_step(
        "models:/credit/7", PLAN, "RawDeployment", "credit", "ml", "sklearn", "http://prom:9090"
    )
    assert report.outcome == "promoted"
    [(version, plan, options, prometheus, model)] = calls
    assert (version, plan, prometheus, model) == ("7", PLAN, "http://prom:9090", "credit")
    assert (options.name, options.namespace, options.mode, options.model_format) == (
        "credit",
        "ml",
        "RawDeployment",
        "sklearn",
    )


def test_local_mode_rolls_out_behind_the_local_router(monkeypatch):
    calls = []

    def fake_local_rollout(ref, plan, settings, demo_traffic=False, **kwargs):
        calls.append((ref.number, plan, ref.name, demo_traffic))
        return RolloutReport(ref.number, "1", "promoted")

    monkeypatch.setattr(local, "local_rollout", fake_local_rollout)
    monkeypatch.setattr(run, "cluster_rollout", lambda *a, **k: pytest.fail("asked a cluster"))
    local.local_deploy("models:/credit/7", PLAN)
    assert calls == [("7", PLAN, "credit", True)]


def test_the_cluster_entry_refuses_local_mode():
    with pytest.raises(ConfigError):
        run.rollout_step("models:/credit/7", PLAN, local.LOCAL, "credit", "ml", "shipyard", "")


@pytest.mark.parametrize(
    "uri, message",
    [
        ("models:/credit@champion", "names no version"),
        ("models:/credit", "names no version"),
        ("credit/7", "not a registered model reference"),
    ],
)
def test_refused_before_anything_is_asked(monkeypatch, uri, message):
    monkeypatch.setattr(run, "cluster_rollout", lambda *a, **k: pytest.fail("asked a cluster"))
    monkeypatch.setattr(local, "local_rollout", lambda *a, **k: pytest.fail("went local"))
    with pytest.raises(ConfigError, match=message):
        run.rollout_step(uri, PLAN, "Serverless", "credit", "ml", "shipyard", "")
    with pytest.raises(ConfigError, match=message):
        local.local_deploy(uri, PLAN)
