import pandas as pd
import pytest

from shipyard.data.synthetic import generate_transactions
from shipyard.errors import SchemaError
from shipyard.schema import CATEGORICAL, NUMERIC, TARGET, TIMESTAMP, Schema, infer_schema


def test_infers_kinds_bounds_and_categories():
    frame = generate_transactions(500)
    schema = infer_schema(frame, "is_fraud")
    assert schema.column("amount").kind == NUMERIC
    assert schema.column("amount").min == frame["amount"].min()
    assert schema.column("channel").kind == CATEGORICAL
    assert schema.column("channel").categories == sorted(frame["channel"].unique())
    assert schema.column("timestamp").kind == TIMESTAMP
    assert schema.column("is_fraud").kind == TARGET
    assert "timestamp" not in schema.features and "is_fraud" not in schema.features
    assert schema.inferred


def test_round_trip(tmp_path):
    schema = infer_schema(generate_transactions(200), "is_fraud")
    assert Schema.load(schema.save(tmp_path / "s.json")) == schema


def test_missing_target_and_too_many_categories():
    with pytest.raises(SchemaError, match="'label' is missing"):
        infer_schema(pd.DataFrame({"a": [1]}), "label")
    frame = pd.DataFrame({"id": [f"x{i}" for i in range(100)], "y": [0, 1] * 50})
    with pytest.raises(SchemaError, match="'id' has 100 distinct text values"):
        infer_schema(frame, "y")


def test_malformed_declared_schema(tmp_path):
    with pytest.raises(SchemaError, match="malformed schema"):
        Schema.from_dict({"columns": [{"name": "a"}], "target": "a"})
    with pytest.raises(SchemaError, match="unknown kind 'text'"):
        Schema.from_dict({"columns": [{"name": "a", "kind": "text", "dtype": "str"}],
                          "target": "a"})
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SchemaError, match="cannot read schema"):
        Schema.load(tmp_path / "bad.json")
