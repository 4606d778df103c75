import json
import shutil

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import IntegrityError, ModelNotFound
from shipyard.model.bundle import MANIFEST, find_bundle, load_bundle, save_bundle


def test_xgboost_bundle_uses_ubj_and_skops_and_round_trips(trained, small_data):
    files = {p.name for p in find_bundle(trained.bundle_dir).iterdir()}
    assert {"model.ubj", "preprocess.skops", "schema.json", MANIFEST} <= files
    assert not any(name.endswith((".pkl", ".pickle", ".joblib")) for name in files)
    model = load_bundle(trained.bundle_dir)
    test = pd.read_parquet(small_data["test"])
    from shipyard.model.evaluation import evaluate

    proba = model.predict_proba(test)
    assert proba.shape == (len(test), 2)
    again = evaluate(test["is_fraud"].to_numpy(), proba, model.threshold, model.manifest["classes"])
    assert again.metrics == trained.evaluation.metrics  # same model, same numbers


def test_predict_applies_the_threshold(trained, small_data):
    model = load_bundle(trained.bundle_dir)
    test = pd.read_parquet(small_data["test"]).head(200)
    expected = (model.predict_proba(test)[:, 1] >= model.threshold).astype(int)
    np.testing.assert_array_equal(model.predict(test), expected)


def test_sklearn_bundle_round_trip(small_data, tmp_path):
    from shipyard.data.schema import Schema
    from shipyard.model.families import make_pipeline

    schema = Schema.load(small_data["schema"])
    train = pd.read_parquet(small_data["train"])
    pipeline = make_pipeline(schema, "random_forest", {"n_estimators": 10}).fit(
        train[schema.features], train["is_fraud"]
    )
    save_bundle(pipeline, tmp_path, schema, "random_forest", "sklearn", 0.3)
    loaded = load_bundle(tmp_path)
    np.testing.assert_allclose(
        loaded.predict_proba(train), pipeline.predict_proba(train[schema.features])
    )
    assert (tmp_path / "pipeline.skops").is_file()


def test_tampered_file_is_refused_before_loading(trained, tmp_path):
    copy = shutil.copytree(find_bundle(trained.bundle_dir), tmp_path / "copy")
    with open(copy / "model.ubj", "ab") as handle:
        handle.write(b"\x00")
    with pytest.raises(IntegrityError, match="model.ubj .* has SHA-256"):
        load_bundle(copy)


def test_missing_file_and_missing_bundle(trained, tmp_path):
    copy = shutil.copytree(find_bundle(trained.bundle_dir), tmp_path / "copy")
    (copy / "preprocess.skops").unlink()
    with pytest.raises(IntegrityError, match="preprocess.skops is missing"):
        load_bundle(copy)
    with pytest.raises(ModelNotFound):
        load_bundle(tmp_path / "empty")


def _not_allowed(x):
    return x


def test_untrusted_skops_types_are_refused(tmp_path):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    from shipyard.model.bundle import _load_skops

    sio.dump(FunctionTransformer(func=_not_allowed), tmp_path / "f.skops")
    with pytest.raises(IntegrityError, match="does not load: .*_not_allowed"):
        _load_skops(tmp_path / "f.skops")


def test_manifest_records_schema_classes_and_checksums(trained):
    manifest = json.loads((find_bundle(trained.bundle_dir) / MANIFEST).read_text())
    assert manifest["classes"] == [0, 1]
    assert manifest["model_type"] == "xgboost" and manifest["flavor"] == "xgboost"
    assert set(manifest["files"]) == {
        "model.ubj",
        "preprocess.skops",
        "schema.json",
        "probes.json",
        "outlier.npz",
        "fast_path.json",
    }
    assert all(len(v) == 64 for v in manifest["files"].values())
