"""Exact contributions for every family x task: additive to the registered estimator's own
margin, one value per feature a client sends (one-hot, missing-indicator and date-part
columns folded back), and refused with a reason where they cannot be exact."""

import numpy as np
import pytest

from explain_models import FAMILIES, table, trained
from shipyard.data.features import canonical_frame, canonical_inputs
from shipyard.model.bundle import load_bundle, save_bundle
from shipyard.model.contributions import INDICATOR, Explainer, explainer_for, source_columns
from shipyard.model.families import make_pipeline


@pytest.fixture(scope="module", params=["binary", "multiclass", "regression"])
def task_data(request):
    return request.param, *table(request.param)


@pytest.mark.parametrize("name", FAMILIES)
def test_additive_to_the_registered_margin(task_data, name, tmp_path):
    task, schema, frame, _ = task_data
    model = trained(task_data, name, tmp_path)
    explainer = Explainer(model)
    columns = canonical_inputs(frame.head(120), schema)
    result = explainer.contributions(columns)
    classes = len(schema.classes or [])
    features = len(schema.features)
    if task == "multiclass":
        assert result.values.shape == (120, classes, features)
        assert result.base.shape == (120, classes)
    else:
        assert result.values.shape == (120, features)
        assert result.base.shape == (120,)
    margin = explainer.margin(columns)
    # within 1e-4 in the margin's own units (measured: <= 7e-7 for classifiers, 5e-5 for
    # regression values in the hundreds, float32 inside XGBoost)
    np.testing.assert_allclose(result.base + result.values.sum(-1), margin, rtol=0, atol=1e-4)
    # the margin is the registered model's: probabilities follow from it
    scores = model.scores(frame.head(120))
    if task == "binary" and result.space == "logit":
        np.testing.assert_allclose(1 / (1 + np.exp(-margin)), scores[:, 1], atol=1e-6)
    elif result.space == "probability":
        np.testing.assert_allclose(margin, scores[:, 1] if task == "binary" else scores)
    elif task == "regression":
        assert result.space == "label"
        np.testing.assert_allclose(margin, scores, rtol=1e-6)
    else:
        soft = np.exp(margin - margin.max(1, keepdims=True))
        np.testing.assert_allclose(soft / soft.sum(1, keepdims=True), scores, atol=1e-6)
    assert np.abs(result.values).sum() > 0


def test_wide_columns_fold_back_to_their_feature(task_data, tmp_path):
    task, schema, frame, _ = task_data
    model = trained(task_data, "xgboost", tmp_path)
    preprocess = model.pipeline.named_steps["preprocess"]
    sources = source_columns(preprocess, schema)
    names = list(preprocess.get_feature_names_out())
    assert len(sources) == len(names)
    assert f"{INDICATOR}a" in names and sources[names.index(f"{INDICATOR}a")] == "a"
    assert sources.count("cat") == 4  # x, y, z and "(missing)"
    assert {n for n, s in zip(names, sources, strict=True) if s == "when"} == {
        f"when__{p}" for p in schema.column("when").parts or []
    }
    import xgboost as xgb

    explainer = Explainer(model)
    columns = canonical_inputs(frame.head(50), schema)
    x = explainer.transform(columns)
    wide = (
        model.pipeline.named_steps["model"]
        .get_booster()
        .predict(xgb.DMatrix(x), pred_contribs=True)[..., :-1]
    )
    folded = explainer.contributions(columns).values
    for i, feature in enumerate(schema.features):
        picked = [j for j, s in enumerate(sources) if s == feature]
        np.testing.assert_allclose(folded[..., i], wide[..., picked].sum(-1), atol=1e-6)
    # a row with a null number: its indicator's share lands on that number's column
    assert frame["a"].head(50).isna().any()


def test_linear_without_training_means_says_why(task_data, tmp_path):
    task, schema, frame, y = task_data
    pipeline = make_pipeline(schema, "linear", task=task)
    pipeline.fit(canonical_frame(frame, schema), y)
    save_bundle(pipeline, tmp_path, schema, "linear", "sklearn", None)
    explainer, why = explainer_for(load_bundle(tmp_path))
    assert explainer is None and "training means" in why


def test_contributions_that_do_not_add_up_are_an_error(task_data, tmp_path):
    from shipyard.model.contributions import NotAdditive

    task, schema, frame, _ = task_data
    explainer = Explainer(trained(task_data, "random_forest", tmp_path))
    columns = canonical_inputs(frame.head(10), schema)
    explainer.boosters()[0].set_param({"base_score": 0.25})  # a wrong conversion, say
    with pytest.raises(NotAdditive, match="missed the model's"):
        explainer.contributions(columns)


def test_contributions_are_checked_against_the_served_scores(task_data, tmp_path):
    from shipyard.model.contributions import NotAdditive

    task, schema, frame, _ = task_data
    model = trained(task_data, "hist_gradient_boosting", tmp_path)
    explainer = Explainer(model)
    rows = frame.head(20)
    columns = canonical_inputs(rows, schema)
    served = model.scores(rows)
    explainer.contributions(columns, served)  # what the model answers: they add up
    wrong = served.copy()
    wrong[3] = wrong[3][::-1] if task != "regression" else wrong[3] + 1.0
    with pytest.raises(NotAdditive, match="served answer"):
        explainer.contributions(columns, wrong)
