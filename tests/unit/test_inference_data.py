"""Training on production: logged rows joined with their labels, unlabelled rows left out."""

import pandas as pd
import pytest

from shipyard.errors import DataSourceError
from shipyard.ingest import ingest
from shipyard.serving.inference_log import InferenceLog, LogSettings
from support import messy_table


def log_production(folder, frame: pd.DataFrame, labelled: int, version: str = "3") -> None:
    """What the sidecar writes: rows per request with predictions, then labels for some."""
    log = InferenceLog(LogSettings(str(folder), "churn", version))
    features = frame.drop(columns="label")
    for i in range(len(frame)):
        log.add_request(f"req-{version}-{i}", features.iloc[[i]])
        log.add_response(f"req-{version}-{i}", ["yes"])
    log.add_labels(
        pd.DataFrame(
            {
                "request_id": [f"req-{version}-{i}" for i in range(labelled)],
                "row": 0,
                "label": frame["label"][:labelled].tolist(),
            }
        )
    )
    log.close()


def test_logged_rows_with_labels_become_a_training_split(tmp_path, capsys):
    frame = messy_table(2, "binary", rows=300)
    log_production(tmp_path / "log", frame.iloc[:200], labelled=150, version="3")
    log_production(tmp_path / "log", frame.iloc[200:], labelled=100, version="4")
    source = f"inference-log:{tmp_path / 'log'}?model=churn&hours=24"
    result = ingest(
        tmp_path / "train.parquet", tmp_path / "test.parquet", source=source, target="label", seed=1
    )
    assert result.train_rows + result.test_rows == 250  # 50 unlabelled rows left out
    assert "300 rows logged, 50 left out without a label" in capsys.readouterr().out
    train = pd.read_parquet(tmp_path / "train.parquet")
    assert set(train.columns) == set(frame.columns) | {"timestamp"}  # when it was served
    assert pd.api.types.is_datetime64_any_dtype(train["timestamp"])
    assert set(train["label"]) == {"yes", "no"}


def test_no_rows_or_no_labels_is_a_clear_error(tmp_path):
    with pytest.raises(DataSourceError, match="no logged rows for model 'churn'"):
        ingest(
            tmp_path / "a",
            tmp_path / "b",
            target="label",
            source=f"inference-log:{tmp_path}?model=churn",
        )
    log_production(tmp_path / "log", messy_table(1, "binary", rows=20), labelled=0)
    with pytest.raises(DataSourceError, match="20 logged rows for 'churn' but no labels"):
        ingest(
            tmp_path / "a",
            tmp_path / "b",
            target="label",
            source=f"inference-log:{tmp_path / 'log'}?model=churn",
        )
    with pytest.raises(DataSourceError, match="not an inference-log source"):
        ingest(tmp_path / "a", tmp_path / "b", target="label", source="inference-log:x")
