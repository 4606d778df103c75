"""Contributions through the predictor: offered in the metadata only where exact, computed
only when a request names them (counted), FP32 in the documented shapes, and adding up to the
served probabilities; a regression model offers no ``predict_proba``."""

import numpy as np
import pandas as pd
import pytest
from kserve.errors import InvalidInput
from prometheus_client import REGISTRY

from explain_models import ask, predictor_for, table, trained
from shipyard.data.features import canonical_frame
from shipyard.model.bundle import save_bundle
from shipyard.model.families import make_pipeline

COUNTER = "shipyard_predictor_contribution_rows_total"


def explained_rows(predictor) -> float:
    return REGISTRY.get_sample_value(COUNTER, predictor._metric_labels()) or 0.0


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_metadata_lists_exactly_what_the_model_answers(task, tmp_path):
    data = (task, *table(task))
    model_dir = tmp_path / "bundle"
    trained(data, "hist_gradient_boosting", model_dir)
    predictor = predictor_for(model_dir, f"meta-{task}")
    names = [t["name"] for t in predictor.get_output_types()]
    proba = [] if task == "regression" else ["predict_proba"]
    assert names == ["predict", *proba, "contributions", "contributions_base"]
    schema, frame = data[1], data[2]
    if task == "regression":
        with pytest.raises(InvalidInput) as raised:
            ask(predictor, frame.head(3), schema, "predict_proba")
        assert str(raised.value).endswith(
            "this model's outputs are: predict, contributions, contributions_base"
        )
    types = {t["name"]: t for t in predictor.get_output_types()}
    features = len(schema.features)
    expected = [-1, 3, features] if task == "multiclass" else [-1, features]
    assert types["contributions"]["shape"] == expected
    assert types["contributions"]["parameters"]["features"] == schema.features
    before = explained_rows(predictor)
    response = ask(predictor, frame.head(7), schema, "contributions", "contributions_base")
    values = response.get_output_by_name("contributions")
    assert values.datatype == "FP32" and values.shape == [7, *expected[1:]]
    assert response.get_output_by_name("predict") is None  # only what was asked
    assert explained_rows(predictor) == before + 7


def test_binary_contributions_add_up_to_the_served_probability(trained, small_data):
    predictor = predictor_for(trained.bundle_dir, "fraud-explained")
    schema = predictor.served.model.schema
    rows = pd.read_parquet(small_data["test"]).head(40)
    before = explained_rows(predictor)
    plain = ask(predictor, rows, schema)
    assert [o.name for o in plain.outputs] == ["predict", "predict_proba"]
    assert explained_rows(predictor) == before  # not asked: not computed
    response = ask(predictor, rows, schema, "predict_proba", "contributions", "contributions_base")
    assert explained_rows(predictor) == before + 40
    contributions = response.get_output_by_name("contributions")
    assert contributions.parameters["space"] == "logit"
    assert contributions.parameters["class"] == str(predictor.served.model.classes[-1])
    values = contributions.as_numpy()
    base = response.get_output_by_name("contributions_base").as_numpy()
    assert values.dtype == np.float32 and values.shape == (40, len(schema.features))
    proba = response.get_output_by_name("predict_proba").as_numpy()[:, 1]
    logit = base.astype(float) + values.astype(float).sum(1)
    np.testing.assert_allclose(1 / (1 + np.exp(-logit)), proba, atol=1e-5)


def test_a_model_without_exact_contributions_says_why(tmp_path):
    task, schema, frame, y = ("binary", *table("binary"))
    pipeline = make_pipeline(schema, "linear", task=task)
    pipeline.fit(canonical_frame(frame, schema), y)
    save_bundle(pipeline, tmp_path, schema, "linear", "sklearn", None)  # no training means
    predictor = predictor_for(tmp_path, "old-linear")
    assert [t["name"] for t in predictor.get_output_types()] == ["predict", "predict_proba"]
    with pytest.raises(InvalidInput, match="training means.*outputs are: predict, predict_proba"):
        ask(predictor, frame.head(2), schema, "contributions")
