"""Attribution drift: shares of mean |contribution|, their distance from training's, and the
sidecar's windowed export."""

import numpy as np
import pytest
from prometheus_client import REGISTRY

from explain_models import table, trained
from shipyard.model.contributions import explainer_for
from shipyard.monitoring import attribution as at


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    schema, frame, y = table("binary", 2000)
    model = trained(("binary", schema, frame, y), "xgboost", tmp_path_factory.mktemp("m"))
    return schema, frame, model


def test_shares_and_distance():
    values = np.array([[1.0, -3.0], [-1.0, 1.0]])
    np.testing.assert_allclose(at.shares(values), [1 / 3, 2 / 3])
    np.testing.assert_allclose(at.shares(np.zeros((3, 2, 4))), [0.25] * 4)  # classes averaged
    assert at.distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == 1.0
    assert at.distance(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0


def test_reference_is_plain_json_of_the_training_shares(binary):
    import json

    schema, frame, model = binary
    stored = json.loads(json.dumps(at.reference(model, frame, rows=500)))
    assert stored["features"] == schema.features and stored["rows"] == 500
    assert stored["space"] == "logit"
    assert sum(stored["shares"]) == pytest.approx(1.0)
    # the label depends on `a` and `cat` only: they carry the attention
    shares = dict(zip(stored["features"], stored["shares"], strict=True))
    assert shares["a"] + shares["cat"] > 0.9


def test_a_broken_input_moves_the_attention_a_fresh_sample_does_not(binary):
    schema, frame, model = binary
    stored = at.reference(model, frame.iloc[:1000])
    drift, reason = at.from_model_info(
        {"attribution": stored}, lambda: model, schema, "attr-test", "1", window=300, rows=200
    )
    assert drift is not None, reason
    same = frame.iloc[1000:1300]
    drift.add(same.iloc[:100])
    assert drift.latest is None  # not a window yet
    drift.add(same.iloc[100:])
    drift.wait()
    assert drift.latest is not None and drift.latest["rows_explained"] == 200
    quiet = drift.latest["distance"]
    broken = frame.iloc[1300:1600].copy()
    broken["a"] = np.nan  # the feature the model leans on most stops arriving
    drift.add(broken)
    drift.wait()
    shifted = drift.latest["distance"]
    assert quiet < 0.05 and shifted > 0.3, (quiet, shifted)
    exported = REGISTRY.get_sample_value(
        "shipyard_attribution_drift", {"model": "attr-test", "version": "1"}
    )
    assert exported == pytest.approx(shifted)
    share_a = REGISTRY.get_sample_value(
        "shipyard_attribution_share", {"model": "attr-test", "version": "1", "feature": "a"}
    )
    assert share_a == pytest.approx(drift.latest["shares"]["a"], abs=1e-6)
    ref_a = REGISTRY.get_sample_value(
        "shipyard_attribution_reference_share",
        {"model": "attr-test", "version": "1", "feature": "a"},
    )
    assert ref_a == pytest.approx(stored["shares"][0])
    assert drift.status()["enabled"] and drift.skipped == 0


def test_off_and_why(binary):
    schema, frame, model = binary
    assert at.from_model_info({}, lambda: model, schema, "m", "1")[1].startswith("no attribution")
    stored = {"attribution": at.reference(model, frame.head(50))}
    off, reason = at.from_model_info(stored, lambda: None, schema, "m", "1")
    assert off is None and "not available" in reason

    def fails():
        raise OSError("registry down")

    assert "registry down" in at.from_model_info(stored, fails, schema, "m", "1")[1]
    kept = {"attribution": {"unavailable": "no exact contributions for a Foo"}}
    assert at.from_model_info(kept, lambda: model, schema, "m", "1")[1].endswith("Foo")
    assert explainer_for(model)[0] is not None
