"""The preprocessing every family shares: a null is information, not a value to guess."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from shipyard.data.features import canonical_columns, canonical_frame
from shipyard.data.schema import infer_schema
from shipyard.model.families import make_pipeline
from shipyard.model.task import encode_labels, with_task
from shipyard.serving.fast_path import compile_model


def nulls_carry_the_label(rows: int = 400, seed: int = 1) -> pd.DataFrame:
    """The label is 'was the comment written' / 'was the test run': only the nulls tell."""
    rng = np.random.default_rng(seed)
    written = rng.random(rows) < 0.3
    measured = rng.random(rows) < 0.5
    frame = pd.DataFrame(
        {
            "comment": np.where(written, rng.choice(["late", "early", "lost"], rows), None),
            "test_value": np.where(measured, rng.normal(size=rows), np.nan),
            "noise": rng.normal(size=rows),
        }
    )
    frame["label"] = np.where(written | measured, "yes", "no")
    return frame


@pytest.mark.parametrize("name", ["hist_gradient_boosting", "linear", "xgboost"])
def test_every_family_learns_from_nulls_and_serves_them_the_same(name):
    frame = nulls_carry_the_label()
    schema, _ = with_task(infer_schema(frame, "label"), frame["label"])
    y = encode_labels(frame["label"], schema.classes)
    train, test = frame.iloc[:300], frame.iloc[300:]
    params = {"n_estimators": 30} if name == "xgboost" else {}
    pipeline = make_pipeline(schema, name, params).fit(canonical_frame(train, schema), y[:300])
    scores = pipeline.predict_proba(canonical_frame(test, schema))[:, 1]
    assert roc_auc_score(y[300:], scores) > 0.95
    compiled = compile_model(pipeline, schema)
    assert compiled is not None and list(compiled.indicators) == [
        compiled.numeric.index("test_value")
    ]
    np.testing.assert_allclose(
        compiled.scores(canonical_columns(test, schema))[:, 1], scores, atol=1e-6
    )


def test_a_null_never_seen_in_training_is_served_as_the_pipeline_does():
    frame = nulls_carry_the_label()
    full = frame.dropna().copy()  # training without a single null
    full["label"] = np.where(full["noise"] > 0, "yes", "no")
    schema, _ = with_task(infer_schema(full, "label"), full["label"])
    y = encode_labels(full["label"], schema.classes)
    pipeline = make_pipeline(schema, "linear").fit(canonical_frame(full, schema), y)
    compiled = compile_model(pipeline, schema)
    assert compiled is not None and len(compiled.indicators) == 0
    rows = frame.head(50)  # nulls in both columns now
    np.testing.assert_allclose(
        compiled.scores(canonical_columns(rows, schema)),
        pipeline.predict_proba(canonical_frame(rows, schema)),
        atol=1e-6,
    )


def test_the_thread_limit_holds_in_a_fresh_process_that_loads_the_libraries_inside_it():
    """A task process imports scikit-learn lazily, inside the limit: the limit must still
    reach scikit-learn's OpenMP runtime and SciPy's BLAS."""
    import json
    import subprocess
    import sys

    code = (
        "import json\n"
        "from threadpoolctl import threadpool_info\n"
        "from shipyard.model.families import limited_threads\n"
        "with limited_threads():\n"
        "    from sklearn.ensemble import HistGradientBoostingClassifier\n"
        "    pools = [(i['internal_api'], i['num_threads']) for i in threadpool_info()]\n"
        "    print(json.dumps(pools))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    pools = json.loads(out.stdout.strip().splitlines()[-1])
    assert ["openmp", 1] in pools and all(threads == 1 for _, threads in pools), pools
