"""The parity contract, as a property over generated messy tables: for every family and task,
rows sent through the predictor's decoding and scoring get exactly the registered model's
answers (nulls, bools spelled as BOOL and as text, unseen categories, mixed ints and floats)."""

import numpy as np
import pytest

from shipyard.data.features import canonical_frame
from shipyard.data.schema import infer_schema
from shipyard.model.bundle import load_bundle, save_bundle
from shipyard.model.families import family, make_pipeline
from shipyard.model.parity import probe_rows
from shipyard.model.task import REGRESSION, encode_labels, with_task
from shipyard.serving import v2_inputs
from shipyard.serving.parity_check import ParityError, check_served_parity
from support import messy_table


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_served_answers_equal_the_registered_model(tmp_path, seed, task):
    frame = messy_table(seed, task)
    train, test = frame.iloc[:220], frame.iloc[220:].copy()
    test.loc[test.index[:3], "color"] = "never seen"  # unseen categories at serving time
    schema, _ = with_task(infer_schema(train, "label"), train["label"], task)
    name = ["xgboost", "linear", "random_forest"][seed % 3]
    y = (
        train["label"].to_numpy(float)
        if task == REGRESSION
        else encode_labels(train["label"], schema.classes)
    )
    params = {"n_estimators": 15} if name != "linear" else {}
    pipeline = make_pipeline(schema, name, params, seed).fit(canonical_frame(train, schema), y)
    threshold = 0.5 if task == "binary" else None
    save_bundle(
        pipeline,
        tmp_path,
        schema,
        name,
        family(name).flavor,
        threshold,
        probes=probe_rows(schema, test),
    )
    model = load_bundle(tmp_path)
    report = check_served_parity(model, probe_rows(model.schema, test, max_sample=len(test)))
    assert report.rows > len(test) and report.label_mismatches == 0
    assert report.max_difference <= 1e-6
    if task != REGRESSION:  # the user's own labels, not class indices
        assert set(model.predict(test)) <= set(frame["label"])


def test_a_serving_path_that_encodes_differently_is_caught(tmp_path, monkeypatch):
    frame = messy_table(0, "binary")
    schema, _ = with_task(infer_schema(frame, "label"), frame["label"])
    pipeline = make_pipeline(schema, "linear").fit(
        canonical_frame(frame, schema), encode_labels(frame["label"], schema.classes)
    )
    save_bundle(pipeline, tmp_path, schema, "linear", "sklearn", 0.5)
    model = load_bundle(tmp_path)
    # The bug this contract exists for: serving spells a category differently from training.
    monkeypatch.setattr(
        v2_inputs,
        "canonical_values",
        lambda values, column: (
            np.array([str(v).strip().lower() for v in values], dtype=object)
            if column.kind == "categorical"
            else np.asarray(values, float)
        ),
    )
    with pytest.raises(ParityError, match="row '.*' differs"):
        check_served_parity(model, probe_rows(schema, frame, max_sample=50))
