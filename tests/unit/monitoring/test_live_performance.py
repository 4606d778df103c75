"""Live metrics from labels joined with served predictions, for each task."""

import pytest

from shipyard.data.schema import Column, Schema
from shipyard.monitoring.live_performance import LABELS, LIVE, LivePerformance


def schema(task, classes=None):
    return Schema(
        [Column("x", "numeric", "float64"), Column("y", "target", "object")],
        "y",
        task=task,
        classes=classes,
    )


def test_binary_roc_auc_precision_recall_from_joined_labels():
    live = LivePerformance(schema("binary", ["no", "yes"]), "churn", "4", threshold=0.5)
    live.add_requests("a", 3, "ua")
    live.add_predictions("a", ["yes", "no", "yes"], [[0.1, 0.9], [0.8, 0.2], [0.4, 0.6]])
    live.add_predictions("b", ["no"], [[0.7, 0.3]])  # logger mode "response": no request
    before = LABELS.labels("churn", "4", "unknown_id")._value.get()
    result = live.add_labels(
        [
            {"id": "a", "row": 0, "label": "yes"},
            {"id": "a", "row": 1, "label": "no"},
            {"id": "a", "row": 2, "label": "no"},
            {"id": "b", "label": "yes"},
            {"id": "zzz", "label": "yes"},
            {"id": "b", "row": 0, "label": "maybe"},
        ]
    )
    assert result.counts == {"accepted": 4, "unknown_id": 1, "bad_label": 1}
    assert [(r.index, r.field) for r in result.rejected] == [(4, "id"), (5, "label")]
    assert "'maybe' is not a class of version 4 ('no', 'yes')" in result.rejected[1].reason
    assert [a["uid"] for a in result.accepted] == ["ua", "ua", "ua", None]
    assert LABELS.labels("churn", "4", "unknown_id")._value.get() == before + 1
    metrics = live.metrics()
    assert metrics["precision"] == pytest.approx(0.5) and metrics["recall"] == pytest.approx(0.5)
    assert metrics["roc_auc"] == pytest.approx(0.75)
    assert LIVE.labels("churn", "4", "roc_auc")._value.get() == pytest.approx(0.75)


@pytest.mark.parametrize(
    "item, field, outcome",
    [
        ({"id": "a", "row": 0, "label": "maybe"}, "label", "bad_label"),
        ({"id": "a", "row": 0, "label": 7}, "label", "bad_label"),
        ({"id": "a", "row": 0, "label": None}, "label", "bad_label"),
        ({"id": "a", "row": 0, "label": True}, "label", "bad_label"),
        ({"id": "a", "row": 2**70, "label": 1}, "row", "bad_row"),
        ({"id": "a", "row": -1, "label": 1}, "row", "bad_row"),
        ({"id": "a", "row": 1.5, "label": 1}, "row", "bad_row"),
        ({"id": "a", "row": 5, "label": 1}, "id", "unknown_id"),
        ({"id": "never", "row": 0, "label": 1}, "id", "unknown_id"),
        ({"id": ["a"], "row": 0, "label": 1}, "id", "bad_item"),
        ({"id": "x" * 300, "row": 0, "label": 1}, "id", "bad_item"),
        ({"id": "a", "row": 0}, "label", "bad_item"),
        ({"id": "a", "row": 0, "label": 1, "correct": "yes"}, "correct", "bad_item"),
        ("not an object", "", "bad_item"),
    ],
)
def test_bad_labels_are_refused_naming_the_field_and_honest_ones_kept(item, field, outcome):
    live = LivePerformance(schema("binary", [0, 1]), "m", "2")
    live.add_requests("a", 2, "u")
    live.add_predictions("a", [0, 1])
    result = live.add_labels([{"id": "a", "row": 1, "label": 1}, item])
    assert len(result.accepted) == 1 and result.accepted[0]["label"] == 1
    [refused] = result.rejected
    assert (refused.index, refused.field, refused.outcome) == (1, field, outcome)
    assert live.metrics()["recall"] == 1.0  # the window holds only the honest label


def test_first_label_wins_unless_corrected_explicitly():
    live = LivePerformance(schema("binary", [0, 1]), "m", "2")
    live.add_requests("r", 20, "u")
    live.add_predictions("r", [1] * 20)
    honest = live.add_labels([{"id": "r", "row": i, "label": 1} for i in range(20)])
    assert honest.counts == {"accepted": 20}
    flipped = live.add_labels([{"id": "r", "row": i, "label": 0} for i in range(20)])
    assert flipped.counts == {"duplicate": 20} and not flipped.accepted
    assert live.metrics()["precision"] == 1.0  # 0 of 20 flipped
    fixed = live.add_labels([{"id": "r", "row": 0, "label": 0}], correct=True)
    assert fixed.counts == {"corrected": 1} and fixed.accepted[0]["correction"] is True
    item = live.add_labels([{"id": "r", "row": 1, "label": 0, "correct": True}])
    assert item.counts == {"corrected": 1}
    assert live.metrics()["precision"] == pytest.approx(18 / 20)


def test_a_reused_request_id_names_its_latest_request_and_memory_is_bounded():
    live = LivePerformance(schema("regression"), "m", "3", max_tracked=5)
    live.add_requests("1", 1, "first")
    live.add_requests("1", 1, "second")
    result = live.add_labels([{"id": "1", "row": 0, "label": 2.5}])
    assert result.accepted[0]["uid"] == "second"
    for i in range(10):
        live.add_requests(f"r{i}", 1, f"u{i}")
    assert len(live._served) == 5
    assert live.add_labels([{"id": "r0", "label": 1.0}]).counts == {"unknown_id": 1}
    refused = live.add_labels([{"id": "r9", "label": float("nan")}, {"id": "r9", "label": "1"}])
    assert refused.counts == {"bad_label": 2}
    assert "is not a finite number" in refused.rejected[0].reason


def test_multiclass_and_regression():
    live = LivePerformance(schema("multiclass", ["a", "b", "c"]), "m", "1")
    live.add_requests("r", 4, None)
    live.add_predictions("r", ["a", "b", "c", "c"])
    live.add_labels([{"id": "r", "row": i, "label": v} for i, v in enumerate("abcb")])
    assert live.metrics()["accuracy"] == pytest.approx(0.75)
    reg = LivePerformance(schema("regression"), "r", "1")
    reg.add_predictions("q", [1.0, 2.0])
    reg.add_labels([{"id": "q", "row": 0, "label": 2.0}, {"id": "q", "row": 1, "label": 2.0}])
    assert reg.metrics() == {"rmse": pytest.approx(0.5**0.5), "mae": pytest.approx(0.5)}


def test_the_sidecar_resolves_an_alias_to_its_version_number_once(monkeypatch):
    """models:/m@champion is logged and measured as version=<number>: rows and scores of two
    versions never mix when the alias moves."""
    from types import SimpleNamespace

    from shipyard.monitoring.detector import DriftDetectorModel
    from shipyard.registry import client as registry
    from shipyard.settings import Settings

    asked = []

    def version_of(self, ref):
        asked.append(ref.uri)
        return SimpleNamespace(version=12)

    monkeypatch.setattr(registry.Registry, "version_of", version_of)
    model = DriftDetectorModel("m-drift", "models:/m@champion", settings=Settings())
    assert model._model_version() == ("m", "12", "models:/m/12")
    assert asked == ["models:/m@champion"]
    pinned = DriftDetectorModel("m-drift", "models:/m/3", settings=Settings())
    assert pinned._model_version() == ("m", "3", "models:/m/3")
