"""The stock-runtime export refuses models it would serve differently from the registry."""

import pytest

from shipyard.data.features import canonical_frame
from shipyard.data.schema import infer_schema
from shipyard.errors import ConfigError
from shipyard.model.bundle import load_bundle, save_bundle
from shipyard.model.export import write_mlserver_sklearn
from shipyard.model.families import make_pipeline
from shipyard.model.task import encode_labels, with_task
from support import messy_table


def bundle_of(frame, tmp_path, drop=()):
    frame = frame.drop(columns=list(drop))
    schema, _ = with_task(infer_schema(frame, "label"), frame["label"])
    pipeline = make_pipeline(schema, "linear").fit(
        canonical_frame(frame, schema), encode_labels(frame["label"], schema.classes)
    )
    save_bundle(pipeline, tmp_path, schema, "linear", "sklearn", 0.5)
    return load_bundle(tmp_path)


def test_text_labels_bool_and_date_features_are_refused(tmp_path):
    model = bundle_of(messy_table(1, "binary"), tmp_path / "a", drop=["flag"])
    with pytest.raises(ConfigError, match="class indices, not this model's labels"):
        write_mlserver_sklearn(model, tmp_path / "out", "m", "1")
    frame = messy_table(1, "binary")
    frame["label"] = (frame["label"] == "yes").astype(int)
    with pytest.raises(ConfigError, match="bool feature"):
        write_mlserver_sklearn(
            bundle_of(frame, tmp_path / "b", drop=["when"]), tmp_path / "out", "m", "1"
        )
    with pytest.raises(ConfigError, match="date parts of when"):
        write_mlserver_sklearn(
            bundle_of(frame, tmp_path / "d", drop=["flag"]), tmp_path / "out", "m", "1"
        )
    exported = write_mlserver_sklearn(
        bundle_of(frame, tmp_path / "c", drop=["flag", "when"]), tmp_path / "out", "m", "1"
    )
    assert (exported / "model.joblib").is_file()
