import pandas as pd
import pytest

from shipyard.data.sources import read_table, write_table
from shipyard.errors import DataSourceError
from shipyard.storage import client


@pytest.fixture
def frame():
    return pd.DataFrame({"a": [1.5, 2.5, 3.5], "b": ["x", "y", "x"], "label": [0, 1, 0]})


@pytest.mark.parametrize("name", ["t.csv", "t.parquet"])
def test_local_round_trip(tmp_path, frame, name):
    write_table(frame, str(tmp_path / name))
    pd.testing.assert_frame_equal(read_table(str(tmp_path / name)), frame)


def test_file_uri(tmp_path, frame):
    write_table(frame, str(tmp_path / "t.csv"))
    pd.testing.assert_frame_equal(read_table((tmp_path / "t.csv").as_uri()), frame)


def test_s3_round_trip_through_minio_client(s3_settings, frame):
    client(s3_settings).make_bucket("round-trip")
    write_table(frame, "s3://round-trip/data/t.parquet", s3_settings)
    pd.testing.assert_frame_equal(read_table("s3://round-trip/data/t.parquet", s3_settings), frame)


def test_unknown_scheme_names_it():
    with pytest.raises(DataSourceError, match="unknown URI scheme 'gs'"):
        read_table("gs://bucket/data.csv")


def test_unknown_extension_names_the_uri(tmp_path):
    with pytest.raises(DataSourceError, match="cannot tell the format"):
        read_table(str(tmp_path / "data.json"))


def test_missing_file(tmp_path):
    with pytest.raises(DataSourceError, match="does not exist"):
        read_table(str(tmp_path / "nope.csv"))


def test_empty_file(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataSourceError, match="is empty"):
        read_table(str(tmp_path / "empty.csv"))


def test_header_only_file(tmp_path):
    (tmp_path / "header.csv").write_text("a,b,label\n")
    with pytest.raises(DataSourceError, match="no rows"):
        read_table(str(tmp_path / "header.csv"))
