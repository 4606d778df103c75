"""The compiled numpy path must give the sklearn pipeline's probabilities, for every family."""

import numpy as np
import pandas as pd
import pytest

from shipyard.model_bundle import load_bundle
from shipyard.models import make_pipeline
from shipyard.schema import Schema
from shipyard.serving.fast_path import column_values, compile_model, probe_frame


def columns_of(frame, schema):
    return {n: column_values(frame[n], n in schema.categorical) for n in schema.features}


@pytest.fixture(scope="module")
def data(small_data):
    schema = Schema.load(small_data["schema"])
    return schema, pd.read_parquet(small_data["train"]), pd.read_parquet(small_data["test"])


@pytest.mark.parametrize("name, params", [("xgboost", {"n_estimators": 30}),
                                          ("logistic_regression", {}),
                                          ("random_forest", {"n_estimators": 10})])
def test_same_probabilities_as_the_pipeline(data, name, params):
    schema, train, test = data
    pipeline = make_pipeline(schema, name, params).fit(train[schema.features], train["is_fraud"])
    compiled = compile_model(pipeline, schema)
    assert compiled is not None
    rows = test.head(300).copy()
    rows.loc[rows.index[:3], "amount"] = np.nan  # imputed like the pipeline does
    rows.loc[rows.index[3], "channel"] = "teleport"  # unseen: ignored like the pipeline does
    np.testing.assert_allclose(compiled.predict_proba(columns_of(rows, schema)),
                               pipeline.predict_proba(rows[schema.features]), atol=1e-6)


def test_trained_bundle_compiles(trained, data):
    schema, _, test = data
    model = load_bundle(trained.bundle_dir)
    compiled = compile_model(model.pipeline, schema)
    np.testing.assert_allclose(compiled.predict_proba(columns_of(test, schema)),
                               model.predict_proba(test), atol=1e-6)


def test_unknown_structure_falls_back(data):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    schema, train, _ = data
    pipeline = make_pipeline(schema, "logistic_regression")
    pipeline = Pipeline([("preprocess", pipeline.named_steps["preprocess"]),
                         ("extra", FunctionTransformer()),
                         ("model", pipeline.named_steps["model"])])
    pipeline.fit(train[schema.features], train["is_fraud"])
    assert compile_model(pipeline, schema) is None


def test_probe_rows_cover_categories_unseen_and_missing(data):
    schema, _, _ = data
    probe = probe_frame(schema)
    channels = set(probe["channel"].dropna())
    assert set(schema.column("channel").categories) < channels and "__unseen__" in channels
    assert probe["amount"].isna().any() and probe["channel"].isna().any()
