import numpy as np
import pandas as pd
import pytest

from shipyard.data.prepare import numeric_tokens, prepare
from shipyard.errors import SchemaError
from shipyard.steps.ingest import ingest


def test_one_null_label_is_dropped_and_counted():
    frame = pd.DataFrame({"x": range(100), "y": [0, 1] * 50})
    frame.loc[17, "y"] = None
    prepared, report = prepare(frame, "y", classification=True)
    assert len(prepared) == 99 and prepared["y"].notna().all()
    assert report.null_labels == 1
    assert report.metadata()["null_labels_dropped"] == 1


def test_mostly_unlabelled_table_stops_naming_the_label():
    frame = pd.DataFrame({"x": range(100), "y": [1.0] * 30 + [None] * 70})
    with pytest.raises(SchemaError, match=r"only 30 of 100 rows have a label in 'y'"):
        prepare(frame, "y", classification=False)


def test_single_row_class_is_dropped_and_named():
    frame = pd.DataFrame({"x": range(41), "y": ["a"] * 20 + ["b"] * 20 + ["rare"]})
    prepared, report = prepare(frame, "y", classification=True)
    assert "rare" not in set(prepared["y"])
    assert report.dropped_classes == {"rare": 1}
    # a regression label keeps every value, however rare
    numbers = pd.DataFrame({"x": range(41), "y": np.arange(41.0)})
    assert len(prepare(numbers, "y", classification=False)[0]) == 41


def test_numbers_with_text_tokens_stay_numbers_with_tokens_null():
    values = [str(v) for v in range(95)] + ["unknown", "unknown", "?", " - ", "n/a"]
    frame = pd.DataFrame({"n": values, "y": [0, 1] * 50})
    prepared, report = prepare(frame, "y", classification=True)
    assert prepared["n"].dtype == np.float64
    assert prepared["n"].isna().sum() == 5 and prepared["n"].iloc[94] == 94.0
    assert report.coerced == {"n": {"unknown": 2, "?": 1, "-": 1, "n/a": 1}}


@pytest.mark.parametrize(
    "values",
    [
        ["red", "green"] * 50,  # text
        [str(v) for v in range(80)] + ["x"] * 20,  # a fifth is text: a categorical, not numbers
        [str(v) for v in range(90)] + [f"t{i}" for i in range(10)],  # too many distinct tokens
    ],
)
def test_text_columns_are_not_taken_for_numbers(values):
    assert numeric_tokens(pd.Series(values, dtype=object)) is None


def test_ingest_reports_what_it_dropped_and_splits_what_is_left(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=300), "y": rng.choice(["a", "b"], 300)})
    frame.loc[::50, "y"] = None
    frame.loc[1, "y"] = "lonely"
    frame.to_csv(tmp_path / "t.csv", index=False)
    result = ingest(
        tmp_path / "train.parquet",
        tmp_path / "test.parquet",
        source=str(tmp_path / "t.csv"),
        target="y",
    )
    meta = result.metadata("train")
    assert meta["null_labels_dropped"] == 6 and meta["dropped_classes"] == "lonely (1)"
    assert result.train_rows + result.test_rows == 293
    assert result.test_rows == round(293 * 0.2)
