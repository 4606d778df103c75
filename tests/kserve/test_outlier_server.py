"""Outlier scores from the real predictor server over REST: the registered scorer's values
for every row when asked, and the first rows of every request on /metrics."""

import re
import urllib.request

import numpy as np
import pandas as pd

from shipyard.local.servers import v2_request
from shipyard.model.bundle import load_bundle
from support import infer

COUNT = re.compile(r'^shipyard_predictor_outlier_score_count\{[^}]*model="fraud"[^}]*\} (\S+)$')


def observed(base: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return sum(float(m[1]) for line in text.splitlines() if (m := COUNT.match(line)))


def test_rest_outlier_scores_are_the_registered_scorers(predictor_server, trained, small_data):
    model = load_bundle(trained.bundle_dir)
    rows = pd.read_parquet(small_data["test"]).head(50)
    base = predictor_server["base"]
    before = observed(base)
    infer(base, v2_request(rows, model.schema))  # not asked: 32 rows still observed
    assert observed(base) == before + 32
    body = v2_request(rows, model.schema)
    body["outputs"] = [{"name": "outlier_score"}, {"name": "is_outlier"}]
    answer = {o["name"]: o for o in infer(base, body)["outputs"]}
    assert list(answer) == ["outlier_score", "is_outlier"]
    scorer = model.outlier_scorer()
    expected = model.outlier_scores(rows, scorer)
    np.testing.assert_array_equal(np.asarray(answer["outlier_score"]["data"]), expected)
    assert answer["is_outlier"]["data"] == scorer.flags(expected).tolist()
