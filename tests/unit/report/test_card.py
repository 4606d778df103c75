"""The model card: written at register for every task, stored with the version, every section
present, every figure a real PNG."""

import base64
import re

import pytest

from explain_models import table
from explain_models import trained as trained_bundle
from shipyard.registry.client import Registry
from shipyard.report.card import CardInputs, build_card
from shipyard.steps.register import register

PNG = b"\x89PNG\r\n\x1a\n"
SECTIONS = ["identity", "dataset", "training", "evaluation", "importance", "gate", "monitoring"]


def sections(page: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="(\w+)">(.*?)</section>', page, flags=re.S))


def images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_register_writes_the_card_and_stores_it_with_the_version(trained, small_data, tmp_path):
    path = tmp_path / "card.html"
    decision = register(
        trained.model_uri,
        trained.bundle_dir,
        small_data["test"],
        reference_path=small_data["train"],
        model_name="card-binary",
        card_path=path,
    )
    page = path.read_text()
    found = sections(page)
    assert list(found) == SECTIONS
    assert f"models:/card-binary/{decision.version}" in found["identity"]
    assert "<td>roc_auc</td>" in found["evaluation"]
    assert re.search(r"<td>roc_auc</td><td>0\.\d{4} \(0\.\d{4}–[01]\.\d{4}\)</td>", page)
    assert "mean |contribution|" in found["importance"]  # exact for XGBoost
    assert "Registration: card-binary" in found["gate"]
    assert "outlier cutoff" in found["monitoring"] and "Bonferroni" in found["monitoring"]
    pictures = images(page)
    assert len(pictures) >= 4 and all(p.startswith(PNG) and len(p) > 1000 for p in pictures)
    client = Registry().client
    run_id = client.get_model_version("card-binary", decision.version).run_id
    stored = client.list_artifacts(run_id, f"model_card/card-binary/v{decision.version}")
    assert [a.path.rsplit("/", 1)[-1] for a in stored] == ["card.html"]


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_a_card_for_every_task(task, tmp_path):
    schema, frame, _ = table(task, rows=400)
    model = trained_bundle((task, schema, frame, _), "hist_gradient_boosting", tmp_path / "b")
    train, test = frame.iloc[:300], frame.iloc[300:].reset_index(drop=True)
    inputs = CardInputs(model, test, train, "t", "3", {}, "# Registration: t v3", {"x": "y"})
    page = build_card(inputs)
    found = sections(page)
    assert list(found) == SECTIONS
    metric = "rmse" if task == "regression" else "f1_macro"
    assert f"<td>{metric}</td>" in found["evaluation"]
    assert "<code>when</code> spans 2024-" in found["dataset"]  # a date column's range
    if task == "multiclass":
        assert "<td>cat</td><td>" in found["evaluation"]  # a slice per category
    assert images(page) and all(p.startswith(PNG) for p in images(page))


def test_the_card_names_the_search_the_tune_step_logged(trained, small_data, tmp_path):
    import mlflow
    from mlflow import MlflowClient

    from shipyard.registry.tracking import step_run

    with step_run("tune-search", "card-search-run") as run:
        mlflow.log_params({"families": "hist_gradient_boosting,linear", "n_candidates": 4})
        mlflow.log_metrics({"cv_roc_auc_baseline": 0.91, "cv_roc_auc_linear_tuned": 0.93,
                            "search_cv_roc_auc_linear": 0.94})  # fmt: skip
        client = MlflowClient()
        for _ in range(3):
            client.create_run(run.info.experiment_id, tags={"mlflow.parentRunId": run.info.run_id})
    record = Registry().search_record("card-search-run")
    assert record is not None and record["trials"] == 3
    assert Registry().search_record("no-such-run") is None
    path = tmp_path / "card.html"
    register(
        trained.model_uri,
        trained.bundle_dir,
        small_data["test"],
        pipeline_run_id="card-search-run",
        reference_path=small_data["train"],
        model_name="card-search",
        card_path=path,
    )
    training = sections(path.read_text())["training"]
    assert "3 trials" in training and "hist_gradient_boosting,linear" in training
    assert "<td>linear_tuned</td><td>roc_auc</td><td>0.9300</td>" in training
    assert "<td>baseline</td><td>roc_auc</td><td>0.9100</td>" in training
    assert "search_cv" not in training


def test_importance_of_a_large_holdout_is_the_mean_over_a_seeded_sample(
    trained, small_data, monkeypatch
):
    import pandas as pd

    from shipyard.model.bundle import load_bundle
    from shipyard.report import card

    monkeypatch.setattr(card, "IMPORTANCE_ROWS", 100)
    test = pd.read_parquet(small_data["test"])
    inputs = CardInputs(load_bundle(trained.bundle_dir), test, None, "t", "1", {}, "# t", {})
    found = sections(build_card(inputs))["importance"]
    assert f"over a random sample of 100 of the {len(test):,} test rows" in found
