"""The hist_gradient_boosting family: stored as skops with exactly the allowlisted types, loaded
back, and served by the fast path (or its fallback) with the pipeline's answers on the probe
rows, for every task."""

import numpy as np
import pandas as pd
import pytest

from explain_models import table
from shipyard.data.features import canonical_columns, canonical_frame
from shipyard.model.bundle import SKOPS_ALLOWED, load_bundle, save_bundle
from shipyard.model.families import family, make_pipeline
from shipyard.serving.fast_path import TOLERANCE, checked_fast_path, probe_frame


def test_alias_and_defaults():
    assert family("hgb").name == "hist_gradient_boosting"
    assert family("hgb").flavor == "sklearn"
    assert family("hgb").defaults_for("binary")["early_stopping"] is False


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_bundle_loads_and_the_fast_path_matches_the_pipeline(task, tmp_path):
    import skops.io as sio

    schema, frame, y = table(task, rows=500)
    pipeline = make_pipeline(schema, "hgb", {"max_iter": 30}, task=task)
    pipeline.fit(canonical_frame(frame, schema), y)
    probes = pd.concat([probe_frame(schema), frame[schema.features].head(20)], ignore_index=True)
    save_bundle(
        pipeline, tmp_path, schema, "hist_gradient_boosting", "sklearn", None, probes=probes
    )
    # the allowlist holds what this model needs, and the load (which refuses others) works
    needed = set(sio.get_untrusted_types(file=tmp_path / "pipeline.skops"))
    assert "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor" in needed
    assert needed <= SKOPS_ALLOWED
    model = load_bundle(tmp_path)
    assert type(model.pipeline.named_steps["model"]).__name__.startswith("HistGradientBoosting")
    compiled, note = checked_fast_path(model)
    assert compiled is not None, note
    rows = probe_frame(schema)  # every category, an unseen one, bounds and NaN
    assert rows["cat"].isna().any() and (rows["cat"] == "__unseen__").any()
    assert rows["a"].isna().any()
    np.testing.assert_allclose(
        compiled.scores(canonical_columns(rows, schema)), model.scores(rows), atol=TOLERANCE
    )
    np.testing.assert_allclose(model.scores(rows), pipeline_scores(pipeline, rows, schema, task))


def pipeline_scores(pipeline, rows, schema, task):
    frame = canonical_frame(rows, schema)
    return pipeline.predict(frame) if task == "regression" else pipeline.predict_proba(frame)


def test_a_skops_type_outside_the_allowlist_is_refused(tmp_path, monkeypatch):
    from shipyard.errors import IntegrityError
    from shipyard.model import bundle as model_bundle

    schema, frame, y = table("binary", rows=500)
    pipeline = make_pipeline(schema, "hgb", {"max_iter": 5}).fit(canonical_frame(frame, schema), y)
    save_bundle(pipeline, tmp_path, schema, "hist_gradient_boosting", "sklearn", 0.5)
    monkeypatch.setattr(model_bundle, "SKOPS_ALLOWED", frozenset({"numpy.dtype"}))
    with pytest.raises(IntegrityError, match="TreePredictor"):
        _ = load_bundle(tmp_path).pipeline  # read on first use, refused before deserialising
