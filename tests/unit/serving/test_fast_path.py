"""The compiled numpy path must give the sklearn pipeline's answers, for every family and task,
and is used only where it proves that on the probe rows stored with the model."""

import numpy as np
import pandas as pd
import pytest

from shipyard.data.features import canonical_columns, canonical_frame
from shipyard.data.schema import Schema, infer_schema
from shipyard.model.bundle import load_bundle
from shipyard.model.families import make_pipeline
from shipyard.model.task import encode_labels, with_task
from shipyard.serving.fast_path import checked_fast_path, compile_model, probe_frame


@pytest.fixture(scope="module")
def data(small_data):
    schema = Schema.load(small_data["schema"])
    train = pd.read_parquet(small_data["train"])
    schema, _ = with_task(schema, train["is_fraud"])
    return schema, train, pd.read_parquet(small_data["test"])


def messy_frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """Nulls in numbers and categories, a bool column with nulls, three classes."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": rng.integers(0, 9, rows),
            "flag": rng.random(rows) < 0.3,
            "cat": rng.choice(["x", "y", "z", None], rows),
        }
    )
    frame["y"] = np.where(frame["flag"], "high", np.where(frame["a"] > 0, "mid", "low"))
    frame.loc[frame.index[:20], "a"] = np.nan
    frame["flag"] = frame["flag"].astype(object)
    frame.loc[frame.index[20:30], "flag"] = None
    return frame


@pytest.mark.parametrize(
    "name, params",
    [("xgboost", {"n_estimators": 30}), ("linear", {}), ("random_forest", {"n_estimators": 10})],
)
def test_same_probabilities_as_the_pipeline(data, name, params):
    schema, train, test = data
    pipeline = make_pipeline(schema, name, params).fit(
        canonical_frame(train, schema), train["is_fraud"]
    )
    compiled = compile_model(pipeline, schema)
    assert compiled is not None
    rows = test.head(300).copy()
    rows.loc[rows.index[:3], "amount"] = np.nan  # imputed like the pipeline does
    rows.loc[rows.index[3], "channel"] = "teleport"  # unseen: ignored like the pipeline does
    np.testing.assert_allclose(
        compiled.scores(canonical_columns(rows, schema)),
        pipeline.predict_proba(canonical_frame(rows, schema)),
        atol=1e-6,
    )


@pytest.mark.parametrize("task", ["multiclass", "regression"])
@pytest.mark.parametrize("name", ["xgboost", "linear", "random_forest"])
def test_multiclass_and_regression_with_bools_and_nulls(task, name):
    frame = messy_frame()
    if task == "regression":
        frame["y"] = frame["a"].fillna(0) * 3 + frame["b"]
    schema, _ = with_task(infer_schema(frame, "y"), frame["y"], task)
    y = (
        frame["y"].to_numpy(float)
        if task == "regression"
        else encode_labels(frame["y"], schema.classes)
    )
    params = {"n_estimators": 10} if name != "linear" else {}
    pipeline = make_pipeline(schema, name, params).fit(canonical_frame(frame, schema), y)
    compiled = compile_model(pipeline, schema)
    expected = (
        pipeline.predict(canonical_frame(frame, schema))
        if task == "regression"
        else pipeline.predict_proba(canonical_frame(frame, schema))
    )
    np.testing.assert_allclose(
        compiled.scores(canonical_columns(frame, schema)), expected, atol=1e-6
    )


def test_trained_bundle_is_proven_on_its_stored_probes(trained, data):
    schema, _, test = data
    model = load_bundle(trained.bundle_dir)
    compiled, note = checked_fast_path(model)
    assert compiled is not None and "proven" in note
    np.testing.assert_allclose(
        compiled.scores(canonical_columns(test, schema)), model.scores(test), atol=1e-6
    )


def test_a_fast_path_that_differs_from_the_stored_answers_is_not_used(trained, tmp_path):
    import json
    import shutil

    from shipyard.model.bundle import MANIFEST, PROBES, sha256_file

    bundle = shutil.copytree(trained.bundle_dir, tmp_path / "bundle")
    probes = json.loads((bundle / PROBES).read_text())
    probes["scores"][0] = [0.5, 0.5]  # as if the registered answer had been different
    (bundle / PROBES).write_text(json.dumps(probes))
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["files"][PROBES] = sha256_file(bundle / PROBES)
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    compiled, note = checked_fast_path(load_bundle(bundle))
    assert compiled is None and "differs from the registered answers" in note


def test_unknown_structure_falls_back(data):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    schema, train, _ = data
    pipeline = make_pipeline(schema, "linear")
    pipeline = Pipeline(
        [
            ("preprocess", pipeline.named_steps["preprocess"]),
            ("extra", FunctionTransformer()),
            ("model", pipeline.named_steps["model"]),
        ]
    )
    pipeline.fit(canonical_frame(train, schema), train["is_fraud"])
    assert compile_model(pipeline, schema) is None


def test_probe_rows_cover_categories_unseen_and_missing(data):
    schema, _, _ = data
    probe = probe_frame(schema)
    channels = set(probe["channel"].dropna())
    assert set(schema.column("channel").categories) < channels and "__unseen__" in channels
    assert probe["amount"].isna().any() and probe["channel"].isna().any()


def _rewrite(bundle, name: str, change) -> None:
    """Change one file of a copied bundle and record its new checksum in the manifest, as a
    bundle saved that way would be (the registry's manifest checksum then differs)."""
    import json

    from shipyard.model.bundle import MANIFEST, sha256_file

    data = json.loads((bundle / name).read_text())
    change(data)
    (bundle / name).write_text(json.dumps(data))
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["files"][name] = sha256_file(bundle / name)
    (bundle / MANIFEST).write_text(json.dumps(manifest))


def test_the_stored_fast_path_serves_without_the_pipeline(trained, data):
    """Training stores the proven arrays; a server's Scorer uses them without deserialising
    the scikit-learn pipeline, and they answer as the pipeline does."""
    from shipyard.serving.fast_path import FAST_PATH_FILE, stored_fast_path
    from shipyard.serving.predictor import Scorer

    schema, _, test = data
    model = load_bundle(trained.bundle_dir)
    assert FAST_PATH_FILE in model.manifest["files"]
    scorer = Scorer(model, prove=False)
    assert scorer.fast is not None and "pipeline" not in vars(model)
    assert scorer.outliers.fast is scorer.fast  # its matrix was proven when stored
    assert stored_fast_path(model) is not None
    np.testing.assert_allclose(
        scorer.scores(canonical_columns(test, schema)), model.scores(test), atol=1e-6
    )


def test_a_stored_fast_path_that_differs_is_caught_by_the_proofs(trained, data, tmp_path):
    """Arrays that no longer answer as the pipeline: proving at start falls back to the
    pipeline, and registration's parity check refuses the version."""
    import shutil

    from shipyard.serving.fast_path import FAST_PATH_FILE
    from shipyard.serving.parity_check import ParityError, check_served_parity
    from shipyard.serving.predictor import Scorer

    schema, _, test = data
    bundle = shutil.copytree(trained.bundle_dir, tmp_path / "bundle")
    _rewrite(bundle, FAST_PATH_FILE, lambda d: d["mean"].__setitem__(0, d["mean"][0] + 1.0))
    model = load_bundle(bundle)
    assert Scorer(model, prove=True).fast is None
    with pytest.raises(ParityError):
        check_served_parity(model, test.head(200)[schema.features])


def test_the_pipeline_is_checked_again_when_first_read(trained, tmp_path):
    import shutil

    from shipyard.errors import IntegrityError

    bundle = shutil.copytree(trained.bundle_dir, tmp_path / "bundle")
    model = load_bundle(bundle)
    (bundle / "preprocess.skops").write_bytes(b"changed after verification")
    with pytest.raises(IntegrityError, match="changed after the bundle was verified"):
        _ = model.pipeline
