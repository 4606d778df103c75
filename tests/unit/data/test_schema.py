import pandas as pd
import pytest

from shipyard.data.schema import (
    CATEGORICAL,
    DATETIME,
    NUMERIC,
    TARGET,
    TIMESTAMP,
    Schema,
    infer_schema,
)
from shipyard.data.synthetic import generate_transactions
from shipyard.errors import SchemaError


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
    with pytest.raises(SchemaError, match="'id' cannot be a feature: ID-like"):
        infer_schema(frame, "y", drop_unusable=False)
    frame["text"] = [f"t{i % 60}" for i in range(100)]
    with pytest.raises(SchemaError, match="'text' cannot be a feature: 60 distinct text values"):
        infer_schema(frame.drop(columns="id"), "y", max_categories=50, drop_unusable=False)


def test_a_categorical_with_many_repeated_values_is_kept_free_text_is_not():
    states = [f"state-{i % 51}" for i in range(5000)]  # 51 values: the US states
    cities = [f"city-{i % 400}" for i in range(20_000)]  # each value 50 times
    notes = [f"note {i % 3000}" for i in range(20_000)]  # 3,000 distinct texts
    assert infer_schema(pd.DataFrame({"s": states, "y": [0, 1] * 2500}), "y").column("s").kind == (
        CATEGORICAL
    )
    frame = pd.DataFrame({"c": cities, "n": notes, "y": [0, 1] * 10_000})
    schema = infer_schema(frame, "y")
    assert schema.column("c").kind == CATEGORICAL
    assert schema.column("n").kind == "ignored" and "free text" in (schema.column("n").note or "")


def test_columns_that_cannot_be_features_are_ignored_with_the_reason():
    frame = pd.DataFrame(
        {
            "id": range(100),
            "code": [f"x{i}" for i in range(100)],
            "empty": [None] * 100,
            "x": [0.5, 1.5] * 50,
            "note": ["a", "b"] * 50,
            "y": [0, 1] * 50,
        }
    )
    schema = infer_schema(frame, "y", ignore=["note"])
    ignored = {c.name: c.note for c in schema.ignored}
    assert ignored == {
        "id": "ID-like: a distinct value in every row",
        "code": "ID-like: a distinct value in every row",
        "empty": "all values are null",
        "note": "listed in ignore_columns",
    }
    assert schema.features == ["x"]
    with pytest.raises(SchemaError, match="not in the data: nope"):
        infer_schema(frame, "y", ignore=["nope"])


def test_dates_as_text_are_datetime_features_with_their_parts():
    frame = pd.DataFrame(
        {
            "when": [f"2024-01-{d:02d} 10:00" for d in range(1, 29)] * 2,
            "day": [f"3/{d}/2023" for d in range(1, 29)] * 2,
            "code": ["1.2.3", "2.0.1"] * 28,  # versions, not dates
            "y": [0, 1] * 28,
        }
    )
    schema = infer_schema(frame, "y")
    when, day = schema.column("when"), schema.column("day")
    assert (when.kind, day.kind, schema.column("code").kind) == (DATETIME, DATETIME, CATEGORICAL)
    assert when.parts == ["year", "month", "day", "weekday", "days", "hour"]
    assert day.parts == ["year", "month", "day", "weekday", "days"]  # no time of day
    assert schema.features == ["when", "day", "code"]
    assert "when__hour" in schema.model_columns and "day__hour" not in schema.model_columns


def test_bools_with_nulls_are_a_bool_categorical():
    frame = pd.DataFrame({"flag": [True, False, None] * 10, "y": [0, 1, 1] * 10})
    column = infer_schema(frame, "y").column("flag")
    assert (column.kind, column.dtype, column.nullable) == (CATEGORICAL, "bool", True)
    assert column.categories == ["False", "True"]


def test_malformed_declared_schema(tmp_path):
    with pytest.raises(SchemaError, match="malformed schema"):
        Schema.from_dict({"columns": [{"name": "a"}], "target": "a"})
    with pytest.raises(SchemaError, match="unknown kind 'text'"):
        Schema.from_dict(
            {"columns": [{"name": "a", "kind": "text", "dtype": "str"}], "target": "a"}
        )
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SchemaError, match="cannot read schema"):
        Schema.load(tmp_path / "bad.json")


def test_an_integer_index_is_kept_when_it_is_the_only_column_left():
    """(integer date, value), as a time series is often exported: the ID-like column is the
    only thing to learn from, so it stays a numeric feature, with a note; beside other
    features a numbering that does not predict the label is still left out."""
    import numpy as np
    import pandas as pd

    from shipyard.data.schema import ID_KEPT, IGNORED, NUMERIC, infer_schema

    noise = np.random.default_rng(0).normal(size=60)
    frame = pd.DataFrame({"date": range(19580329, 19580329 + 60), "co2": noise})
    [date] = [c for c in infer_schema(frame, "co2").columns if c.name == "date"]
    assert (date.kind, date.note) == (NUMERIC, ID_KEPT)
    frame["other"] = [1.5, 2.5] * 30
    [date] = [c for c in infer_schema(frame, "co2").columns if c.name == "date"]
    assert date.kind == IGNORED and date.note.startswith("ID-like")


def test_a_ranking_that_predicts_the_label_is_a_feature_a_row_number_is_not():
    """Forbes 2000 as shipped: ``rownames`` and ``rank`` both number the rows 1..n; the name
    says the first is an identifier, and the second predicts the label, so it stays a
    feature (with a note saying how to leave it out); a numbering without signal is left
    out, and distinct integers spread as a measurement's are a feature."""
    import numpy as np

    from shipyard.data.schema import IGNORED, NUMERIC

    rng = np.random.default_rng(1)
    n = 300
    frame = pd.DataFrame(
        {
            "rownames": range(1, n + 1),
            "rank": range(1, n + 1),
            "shuffled": rng.permutation(n),
            "population": rng.choice(10_000_000, size=n, replace=False),
            "sales": rng.normal(size=n),
            "profits": np.linspace(20, -5, n) + rng.normal(scale=2, size=n),
        }
    )
    schema = infer_schema(frame, "profits")
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds["rownames"] == IGNORED and kinds["shuffled"] == IGNORED
    assert kinds["rank"] == NUMERIC and kinds["population"] == NUMERIC
    assert "predicts the label" in (schema.column("rank").note or "")
    assert schema.column("population").note is None
    classes = frame.assign(label=np.where(frame["profits"] > 7, "high", "low"))
    assert infer_schema(classes.drop(columns="profits"), "label").column("rank").kind == NUMERIC
