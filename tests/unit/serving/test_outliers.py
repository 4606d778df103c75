"""Outlier scores through the predictor: offered for every model trained by Shipyard, equal to
what the registered model's scorer computes (fast path or not), every row when asked for, and
a bounded number of rows of every request in the metrics."""

import numpy as np
import pandas as pd
import pytest
from prometheus_client import REGISTRY

from explain_models import ask
from shipyard.data.features import canonical_inputs
from shipyard.model.bundle import load_bundle
from shipyard.serving.outliers import NAMES, Outliers
from shipyard.serving.predictor import ShipyardPredictor
from shipyard.settings import Settings


def observed(predictor) -> tuple[float, float]:
    labels = predictor._metric_labels()
    count = REGISTRY.get_sample_value("shipyard_predictor_outlier_score_count", labels) or 0.0
    flagged = REGISTRY.get_sample_value("shipyard_predictor_outlier_rows_total", labels) or 0.0
    return count, flagged


@pytest.fixture(scope="module")
def predictor(trained):
    model = ShipyardPredictor("outliers", str(trained.bundle_dir), Settings(outlier_metric_rows=5))
    assert model.load()
    return model


@pytest.fixture(scope="module")
def rows(small_data):
    return pd.read_parquet(small_data["test"]).head(40)


def test_metadata_offers_both_outputs_with_the_training_cutoff(predictor):
    types = {t["name"]: t for t in predictor.get_output_types()}
    assert [n for n in types if n in NAMES] == ["outlier_score", "is_outlier"]
    assert types["is_outlier"]["datatype"] == "BOOL"
    assert types["outlier_score"]["parameters"]["percentile"] == 99.0


def test_served_scores_equal_the_registered_scorer_and_far_rows_are_flagged(predictor, rows):
    model = predictor.loaded()[0].model
    scorer = model.outlier_scorer()
    odd = rows.copy()
    numeric = [c for c in model.schema.model_numeric if c in odd.columns]
    odd.loc[odd.index[:10], numeric] = odd.loc[odd.index[:10], numeric] * 1000
    answer = {o.name: o for o in ask(predictor, odd, model.schema, *NAMES).outputs}
    served = np.asarray(answer["outlier_score"].data, dtype=np.float64)
    np.testing.assert_array_equal(served, model.outlier_scores(odd, scorer))
    flags = np.asarray(answer["is_outlier"].data, dtype=bool)
    assert flags[:10].all() and flags[10:].mean() < 0.1


def test_the_fast_path_and_the_registered_preprocessing_give_the_same_scores(predictor, rows):
    model, scorer = predictor.loaded()[0].model, predictor.scorer
    assert scorer is not None and scorer.fast is not None
    assert scorer.outliers.fast is not None  # proven on the probes at load
    slow = Outliers(model, None)
    columns = canonical_inputs(rows, model.schema)
    np.testing.assert_array_equal(scorer.outliers.scores(columns), slow.scores(columns))


def test_every_request_puts_a_bounded_number_of_rows_in_the_metrics(predictor, rows):
    schema = predictor.loaded()[0].model.schema
    count, _ = observed(predictor)
    ask(predictor, rows, schema)  # 40 rows, not asking for outliers
    assert observed(predictor)[0] == count + 5  # outlier_metric_rows=5
    ask(predictor, rows.head(2), schema, "outlier_score")
    assert observed(predictor)[0] == count + 7  # asked: scored once, observed the same way


def test_a_bundle_without_a_scorer_offers_no_outlier_outputs(tmp_path):
    from explain_models import table, trained

    trained(("binary", *table("binary")), "linear", tmp_path / "b")
    model = load_bundle(tmp_path / "b")
    assert model.outlier_scorer() is None
    predictor = ShipyardPredictor("old", str(tmp_path / "b"))
    assert predictor.load()
    assert not {t["name"] for t in predictor.get_output_types()} & set(NAMES)
