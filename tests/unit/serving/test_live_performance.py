"""Live metrics from labels joined with served predictions, for each task."""

import pytest

from shipyard.schema import Column, Schema
from shipyard.serving.live_performance import LABELS, LIVE, LivePerformance


def schema(task, classes=None):
    return Schema(
        [Column("x", "numeric", "float64"), Column("y", "target", "object")],
        "y",
        task=task,
        classes=classes,
    )


def test_binary_roc_auc_precision_recall_from_joined_labels():
    live = LivePerformance(schema("binary", ["no", "yes"]), "churn", "4", threshold=0.5)
    live.add_predictions("a", ["yes", "no", "yes"], [[0.1, 0.9], [0.8, 0.2], [0.4, 0.6]])
    live.add_predictions("b", ["no"], [[0.7, 0.3]])
    before = LABELS.labels("churn", "4", "unknown_id")._value.get()
    counts = live.add_labels(
        [
            {"id": "a", "row": 0, "label": "yes"},
            {"id": "a", "row": 1, "label": "no"},
            {"id": "a", "row": 2, "label": "no"},
            {"id": "b", "label": "yes"},
            {"id": "zzz", "label": "yes"},
            {"id": "b", "row": 0, "label": "maybe"},
        ]
    )
    assert counts == {"joined": 4, "unknown_id": 1, "bad_label": 1}
    assert LABELS.labels("churn", "4", "unknown_id")._value.get() == before + 1
    metrics = live.metrics()
    assert metrics["precision"] == pytest.approx(0.5) and metrics["recall"] == pytest.approx(0.5)
    assert metrics["roc_auc"] == pytest.approx(0.75)
    assert LIVE.labels("churn", "4", "roc_auc")._value.get() == pytest.approx(0.75)


def test_multiclass_and_regression():
    live = LivePerformance(schema("multiclass", ["a", "b", "c"]), "m", "1")
    live.add_predictions("r", ["a", "b", "c", "c"])
    live.add_labels([{"id": "r", "row": i, "label": v} for i, v in enumerate("abcb")])
    assert live.metrics()["accuracy"] == pytest.approx(0.75)
    reg = LivePerformance(schema("regression"), "r", "1")
    reg.add_predictions("q", [1.0, 2.0])
    reg.add_labels([{"id": "q", "row": 0, "label": 2.0}, {"id": "q", "row": 1, "label": 2.0}])
    assert reg.metrics() == {"rmse": pytest.approx(0.5**0.5), "mae": pytest.approx(0.5)}
