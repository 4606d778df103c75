"""Batch scoring: the predictions equal the registered model's answers for the same rows, the
drift report reads the version's stored detector, and each bad input stops with one line."""

import numpy as np
import pandas as pd
import pytest

from shipyard.data.sources import write_table
from shipyard.errors import ConfigError, DataSourceError, ModelNotFound, SchemaError
from shipyard.model.ref import ModelRef
from shipyard.registry.client import load_registered
from shipyard.steps.score import BatchResult, preflight, score_table
from support import REGISTERED_NAME as NAME


def test_predictions_equal_the_registered_model(registered, small_data, tmp_path):
    test = pd.read_parquet(small_data["test"])
    test.insert(0, "txn", [f"t{i}" for i in range(len(test))])
    source = tmp_path / "batch.csv"
    test.to_csv(source, index=False)
    result = score_table(
        str(source),
        f"models:/{NAME}@champion",
        tmp_path / "out.parquet",
        destination=str(tmp_path / "copy" / "p.parquet"),
        id_column="txn",
        settings=registered.settings,
        report_path=tmp_path / "report.md",
    )
    out = pd.read_parquet(tmp_path / "out.parquet")
    model = load_registered(ModelRef.champion(NAME), registered.settings)
    expected = pd.read_csv(source)  # the same rows as the table the batch read
    assert list(out.columns) == [
        "txn",
        "model_name",
        "model_version",
        "predict",
        *[f"proba_{c}" for c in model.classes],
    ]
    assert out["txn"].tolist() == test["txn"].tolist()
    assert (out["model_name"] == NAME).all() and (out["model_version"] == "1").all()
    assert out["predict"].tolist() == model.predict(expected).tolist()
    np.testing.assert_allclose(
        out[[f"proba_{c}" for c in model.classes]].to_numpy(), model.scores(expected), atol=1e-6
    )
    assert pd.read_parquet(tmp_path / "copy" / "p.parquet").equals(out)
    assert result.rows == len(test) and result.version == "1"
    assert result.drift is not None and not result.drift.is_drift  # held-out rows, same data
    metrics = result.metrics()
    assert metrics["rows_scored"] == len(test) and metrics["drifted_features"] == 0
    assert 0 < metrics["min_p_value"] <= 1
    report = (tmp_path / "report.md").read_text()
    assert "**Verdict:** no drift" in report and "| amount |" in report


def test_a_shifted_batch_is_reported_as_drift_and_rows_number_by_default(registered, tmp_path):
    from shipyard.data.synthetic import generate_transactions

    source = tmp_path / "shifted.parquet"
    generate_transactions(600, seed=5, shift=1.0).to_parquet(source)
    result = score_table(
        str(source),
        ModelRef.pick(NAME, version="1").uri,
        tmp_path / "p.parquet",
        settings=registered.settings,
    )
    assert result.drift.is_drift and "amount" in result.drift.drifted
    assert result.verdict.startswith("DRIFT in") and result.metadata()["drift"] == 1.0
    assert pd.read_parquet(tmp_path / "p.parquet")["row"].tolist() == list(range(600))
    uri = ModelRef.pick(NAME, version="1").uri
    sampled = score_table(
        str(source), uri, tmp_path / "q.parquet", settings=registered.settings, max_drift_rows=250
    )
    assert sampled.drift_rows == 250 and sampled.rows == 600 and sampled.drift.is_drift
    assert "a random sample of 250 of the 600 rows" in sampled.markdown()


def test_missing_feature_is_one_line_naming_it(registered, small_data, tmp_path):
    source = tmp_path / "lacks.csv"
    pd.read_parquet(small_data["test"]).drop(columns=["amount", "hour"]).to_csv(source, index=False)
    for check in (
        lambda: score_table(
            str(source),
            f"models:/{NAME}@champion",
            tmp_path / "p.parquet",
            settings=registered.settings,
        ),
        lambda: preflight(str(source), f"models:/{NAME}@champion", settings=registered.settings),
    ):
        with pytest.raises(SchemaError, match=r"lacks 2 feature\(s\).*: amount, hour") as info:
            check()
        assert "\n" not in str(info.value) and info.value.hint
    assert not (tmp_path / "p.parquet").exists()


def test_unknown_model_alias_or_version_is_model_not_found(registered, small_data, tmp_path):
    for ref in ("models:/no-such-model@champion", f"models:/{NAME}@nope", f"models:/{NAME}/99"):
        with pytest.raises(ModelNotFound, match="is not in the registry") as info:
            score_table(
                str(small_data["test"]), ref, tmp_path / "p.parquet", settings=registered.settings
            )
        assert info.value.hint and "\n" not in str(info.value)


def test_unreadable_source_destination_or_id_column(registered, small_data, tmp_path):
    ref = f"models:/{NAME}@champion"
    with pytest.raises(DataSourceError, match="missing.csv does not exist"):
        score_table(
            str(tmp_path / "missing.csv"), ref, tmp_path / "p.parquet", settings=registered.settings
        )
    with pytest.raises(DataSourceError, match="cannot tell the format"):
        score_table(
            str(small_data["test"]),
            ref,
            tmp_path / "p.parquet",
            destination=str(tmp_path / "out.txt"),
            settings=registered.settings,
        )
    with pytest.raises(DataSourceError, match="unknown URI scheme 'gs'"):
        preflight(
            str(small_data["test"]),
            ref,
            destination="gs://b/p.parquet",
            settings=registered.settings,
        )
    with pytest.raises(SchemaError, match="no id column 'txn_id'"):
        score_table(
            str(small_data["test"]),
            ref,
            tmp_path / "p.parquet",
            id_column="txn_id",
            settings=registered.settings,
        )
    with pytest.raises(ConfigError, match="clash"):
        score_table(str(small_data["test"]), ref, tmp_path / "p.parquet", id_column="predict")


def test_nulls_in_a_feature_trained_without_any_are_imputed_and_scored(
    registered, small_data, tmp_path
):
    frame = pd.read_parquet(small_data["test"]).head(50)
    assert frame["amount"].notna().all()
    frame.loc[frame.index[[3, 7]], "amount"] = np.nan
    source = tmp_path / "nulls.parquet"
    frame.to_parquet(source)
    result = score_table(
        str(source),
        f"models:/{NAME}@champion",
        tmp_path / "p.parquet",
        settings=registered.settings,
    )
    scored = pd.read_parquet(tmp_path / "p.parquet")
    assert len(scored) == 50 and scored["predict"].notna().all()
    assert result.rows == 50


def test_infinite_values_the_endpoint_refuses_are_refused(registered, small_data, tmp_path):
    frame = pd.read_parquet(small_data["test"]).head(50)
    frame.loc[frame.index[[3, 7]], "amount"] = np.inf
    source = tmp_path / "inf.parquet"
    frame.to_parquet(source)
    with pytest.raises(SchemaError, match=r"feature 'amount' has .*rows \[3, 7\]"):
        score_table(
            str(source),
            f"models:/{NAME}@champion",
            tmp_path / "p.parquet",
            settings=registered.settings,
        )


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_other_tasks_from_a_bundle_folder(task, tmp_path):
    from shipyard.data.features import canonical_frame
    from shipyard.data.schema import infer_schema
    from shipyard.model.bundle import load_bundle, save_bundle
    from shipyard.model.families import family, make_pipeline
    from shipyard.model.task import encode_labels, with_task
    from support import messy_table

    frame = messy_table(3, task)
    schema, _ = with_task(infer_schema(frame, "label"), frame["label"], task)
    y = (
        frame["label"].to_numpy(float)
        if task == "regression"
        else encode_labels(frame["label"], schema.classes)
    )
    pipeline = make_pipeline(schema, "linear", {}, 0).fit(canonical_frame(frame, schema), y)
    save_bundle(pipeline, tmp_path / "bundle", schema, "linear", family("linear").flavor, None)
    frame.to_parquet(tmp_path / "t.parquet")
    result = score_table(
        str(tmp_path / "t.parquet"),
        str(tmp_path / "bundle"),
        tmp_path / "p.parquet",
        destination=str(tmp_path / "p.csv"),
    )
    out = pd.read_parquet(tmp_path / "p.parquet")
    model = load_bundle(tmp_path / "bundle")
    if task == "regression":
        assert [c for c in out.columns if c.startswith("proba_")] == []
        np.testing.assert_allclose(out["predict"], model.predict(frame), rtol=1e-9)
    else:
        assert [f"proba_{c}" for c in model.classes] == ["proba_high", "proba_low", "proba_mid"]
        assert out["predict"].tolist() == model.predict(frame).tolist()
        np.testing.assert_allclose(
            out.filter(like="proba_").to_numpy(), model.scores(frame), atol=1e-6
        )
    assert result.drift is None and "not from the registry" in result.verdict
    assert len(pd.read_csv(tmp_path / "p.csv")) == len(frame)


def test_model_ref_pick_and_unknown_write_scheme(tmp_path):
    assert ModelRef.pick("m").uri == "models:/m@champion"
    assert ModelRef.pick("m", "challenger", "").uri == "models:/m@challenger"
    assert ModelRef.pick("m", "champion", "3").uri == "models:/m/3"
    with pytest.raises(ConfigError, match="not a number"):
        ModelRef.pick("m", version="v3")
    with pytest.raises(DataSourceError, match="unknown URI scheme 'gs'"):
        write_table(pd.DataFrame({"a": [1]}), "gs://bucket/p.parquet")
    result = BatchResult(
        "t.csv", "m", "2", "models:/m/2", "binary", 10, "row", "p.parquet", drift_note="no detector"
    )
    assert result.metrics() == {"rows_scored": 10.0}
    assert "not checked: no detector" in result.summary()


def test_contributions_as_columns_add_up_to_the_probability(registered, small_data, tmp_path):
    test = pd.read_parquet(small_data["test"]).head(200)
    source = tmp_path / "batch.parquet"
    test.to_parquet(source)
    score_table(
        str(source),
        f"models:/{NAME}@champion",
        tmp_path / "out.parquet",
        settings=registered.settings,
        contributions=True,
    )
    out = pd.read_parquet(tmp_path / "out.parquet")
    model = load_registered(ModelRef.champion(NAME), registered.settings)
    names = [f"contribution_{f}" for f in model.features]
    assert list(out.columns)[-len(names) - 1 :] == [*names, "contribution_base"]
    logit = out["contribution_base"] + out[names].sum(axis=1)
    positive = f"proba_{model.classes[-1]}"
    np.testing.assert_allclose(1 / (1 + np.exp(-logit)), out[positive], atol=1e-6)
    with pytest.raises(ConfigError, match="clash"):
        score_table(str(source), f"models:/{NAME}@champion", id_column="contribution_x")


def test_chunked_scoring_answers_as_one_call_and_reports_its_rows(
    registered, small_data, tmp_path, monkeypatch, capsys
):
    from shipyard.steps import score_chunks

    source = str(small_data["test"])
    ref = f"models:/{NAME}@champion"
    score_table(
        source, ref, tmp_path / "one.parquet", settings=registered.settings, contributions=True
    )
    monkeypatch.setattr(score_chunks, "CHUNK_ROWS", 7)  # many chunks, a ragged last one
    capsys.readouterr()
    score_table(
        source, ref, tmp_path / "many.parquet", settings=registered.settings, contributions=True
    )
    reported = [
        line.split()[-2:] for line in capsys.readouterr().out.splitlines() if "score " in line
    ]
    rows = len(pd.read_parquet(source))
    assert reported[0] == ["0", str(rows)] and reported[-1] == [str(rows), str(rows)]
    assert len(reported) == -(-rows // 7) + 1
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "many.parquet"), pd.read_parquet(tmp_path / "one.parquet")
    )
