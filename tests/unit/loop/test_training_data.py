"""Training on production: logged rows joined with their labels, unlabelled rows left out."""

import pandas as pd
import pytest

from shipyard.errors import DataSourceError
from shipyard.monitoring.inference_log import InferenceLog, LogSettings
from shipyard.steps.ingest import ingest
from support import messy_table


def log_production(folder, frame: pd.DataFrame, labelled: int, version: str = "3") -> None:
    """What the sidecar writes: rows per request with predictions, then labels for some."""
    log = InferenceLog(LogSettings(str(folder), "churn", version))
    features = frame.drop(columns="label")
    for i in range(len(frame)):
        log.add_request(f"u-{version}-{i}", f"req-{version}-{i}", "", features.iloc[[i]])
        log.add_response(f"req-{version}-{i}", ["yes"])
    log.add_labels(
        pd.DataFrame(
            {
                "request_id": [f"req-{version}-{i}" for i in range(labelled)],
                "row": 0,
                "uid": [f"u-{version}-{i}" for i in range(labelled)],
                "label": frame["label"][:labelled].tolist(),
                "correction": False,
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


def test_rows_sharing_a_client_id_join_their_own_label_and_corrections_win(tmp_path):
    """Labels join by the row's server-side uid; the first label counts unless corrected."""
    frame = messy_table(4, "binary", rows=40)
    features = frame.drop(columns="label")
    log = InferenceLog(LogSettings(str(tmp_path / "log"), "churn", "5"))
    for i in range(40):
        log.add_request(f"u{i}", "1", "1", features.iloc[[i]])  # one shared id
    truth = frame["label"].tolist()
    flipped = ["no" if v == "yes" else "yes" for v in truth]
    label = pd.DataFrame({"request_id": "1", "row": 0, "uid": [f"u{i}" for i in range(40)]})
    log.add_labels(label.assign(label=truth, correction=False))
    log.flush()
    log.add_labels(label.assign(label=flipped, correction=False))  # a later "first" label
    log.flush()
    log.add_labels(label.iloc[:5].assign(label=flipped[:5], correction=True))
    log.close()
    from shipyard.loop.training_data import read_logged

    data = read_logged(f"inference-log:{tmp_path / 'log'}?model=churn&hours=1", "label")
    assert data.logged_rows == 40 and len(data.frame) == 40
    assert list(data.frame["label"]) == flipped[:5] + truth[5:]  # rows stay in logged order
    assert not {"uid", "client_id", "request_id"} & set(data.frame.columns)
