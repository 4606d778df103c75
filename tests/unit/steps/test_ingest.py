import pandas as pd
import pytest

from shipyard.data.synthetic import generate_transactions
from shipyard.errors import SchemaError
from shipyard.steps.ingest import content_hash, ingest


def test_generated_data_split_and_described(tmp_path):
    result = ingest(tmp_path / "tr.parquet", tmp_path / "te.parquet", rows=1000, seed=1)
    train, test = pd.read_parquet(tmp_path / "tr.parquet"), pd.read_parquet(tmp_path / "te.parquet")
    assert (result.train_rows, result.test_rows) == (len(train), len(test)) == (800, 200)
    assert result.metadata("train")["rows"] == 800 and result.metadata("test")["rows"] == 200
    assert result.content_hash == content_hash(generate_transactions(1000, seed=1))
    assert "is_fraud" in result.columns


def test_csv_source_keeps_a_timestamp_for_time_splits(tmp_path):
    generate_transactions(500, seed=2).to_csv(tmp_path / "t.csv", index=False)
    ingest(
        tmp_path / "tr.parquet",
        tmp_path / "te.parquet",
        source=str(tmp_path / "t.csv"),
        split="time",
    )
    train, test = pd.read_parquet(tmp_path / "tr.parquet"), pd.read_parquet(tmp_path / "te.parquet")
    assert pd.api.types.is_datetime64_any_dtype(train["timestamp"])
    assert train["timestamp"].max() <= test["timestamp"].min()


def test_content_hash_sees_values_and_names_not_format():
    frame = generate_transactions(100)
    assert content_hash(frame) == content_hash(frame.copy())
    changed = frame.copy()
    changed.loc[0, "amount"] += 0.01
    assert content_hash(changed) != content_hash(frame)
    assert content_hash(frame.rename(columns={"amount": "amt"})) != content_hash(frame)


def test_missing_target_names_the_columns(tmp_path):
    pd.DataFrame({"a": [1, 2], "b": [0, 1]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(SchemaError, match="target column 'label' is missing.*columns are: a, b"):
        ingest(
            tmp_path / "tr.parquet",
            tmp_path / "te.parquet",
            source=str(tmp_path / "t.csv"),
            target="label",
        )
    assert not (tmp_path / "tr.parquet").exists()


def test_unparseable_time_column(tmp_path):
    pd.DataFrame({"timestamp": ["x", "y"], "y": [0, 1]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(SchemaError, match="time column 'timestamp'"):
        ingest(
            tmp_path / "tr.parquet",
            tmp_path / "te.parquet",
            source=str(tmp_path / "t.csv"),
            target="y",
        )
