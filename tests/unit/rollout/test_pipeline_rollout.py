"""The deploy step's entry: the register step's model URI and the pipeline's text parameters
become a rollout of that version, for that model; anything else is refused before a cluster
is asked."""

import pytest

from shipyard.errors import ConfigError
from shipyard.rollout import run
from shipyard.rollout.controller import RolloutReport


def test_the_version_and_model_of_the_uri_are_rolled_out(monkeypatch):
    calls = []

    def fake_cluster_rollout(version, plan, options, prometheus_url, settings, api=None):
        calls.append((version, plan, options, prometheus_url, settings.model_name))
        return RolloutReport(version, "2", "promoted")

    monkeypatch.setattr(run, "cluster_rollout", fake_cluster_rollout)
    report = run.pipeline_rollout("models:/credit/7", "20,100", 60.0, "credit", "ml",
                                  "RawDeployment", "http://prom:9090", "sklearn")
    assert report.outcome == "promoted"
    [(version, plan, options, prometheus, model)] = calls
    assert (version, model, prometheus) == ("7", "credit", "http://prom:9090")
    assert plan.steps == (20, 100) and plan.bake_seconds == 60.0
    assert (options.name, options.namespace, options.mode, options.model_format) == (
        "credit", "ml", "RawDeployment", "sklearn")


@pytest.mark.parametrize("uri, steps, message", [
    ("models:/credit@champion", "10,100", "registered version, not the alias"),
    ("credit", "10,100", "not a registered model reference"),
    ("models:/credit/7", "10,half,100", "not comma-separated percents"),
    ("models:/credit/7", "50,10", "must be increasing"),
])
def test_refused_before_a_cluster_is_asked(monkeypatch, uri, steps, message):
    monkeypatch.setattr(run, "cluster_rollout", lambda *a, **k: pytest.fail("asked a cluster"))
    with pytest.raises(ConfigError, match=message):
        run.pipeline_rollout(uri, steps)
