"""The run's report page, built from a run folder laid out as kfp.local leaves it."""

import base64
import re

import numpy as np
import pandas as pd
import pytest

from report_run import executor_output, make_run_folder
from shipyard.report import plots
from shipyard.report.page import markdown
from shipyard.report.run_report import REPORT_FILE, build_report, write_report

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(small_data, trained, tmp_path_factory):
    return make_run_folder(tmp_path_factory.mktemp("run"), small_data, trained)


def sections(page: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="(\w+)">(.*?)</section>', page, flags=re.S))


def test_the_page_has_every_section_with_its_facts(run_dir):
    page = build_report(run_dir)
    found = sections(page)
    assert list(found) == [
        "data", "split", "validation", "candidates", "evaluation", "importance", "gate",
    ]  # fmt: skip
    assert "3000 rows read, 2 without a label dropped" in found["data"]
    assert "<td>customer_id</td><td>an ID: unique per row</td>" in found["data"]  # left out
    assert "<td>is_fraud</td><td>target</td>" in found["data"]
    assert re.search(r"<td>test</td><td>\d+</td><td>0: \d+ \(\d+\.\d%\), 1: ", found["split"])
    assert "<h3>Data validation: PASSED</h3>" in found["validation"]
    assert "<td>train (baseline)</td><td>xgboost</td><td>0.9100</td>" in found["candidates"]
    assert "<td>1.5 s</td>" in found["candidates"]
    assert "<th>challenger</th>" in found["gate"] and "<td>0.9200</td>" in found["gate"]
    assert "<title>Shipyard run: models:/f/2</title>" in page
    assert "http" not in page.replace("https://", "")  # nothing fetched: self-contained


def test_figures_are_embedded_pngs(run_dir):
    page = build_report(run_dir)
    images = dict(re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', page))
    assert set(images) == {
        "ROC", "Precision-recall", "Confusion matrix", "Calibration", "Permutation importance",
    }  # fmt: skip
    for data in images.values():
        assert base64.b64decode(data).startswith(PNG)
    importance = sections(page)["importance"]
    assert importance.count("<tr>") > 3  # one row per feature, after the header


def test_written_into_the_run_folder(run_dir):
    path = write_report(run_dir)
    assert path == run_dir / REPORT_FILE and path.read_text().startswith("<!DOCTYPE html>")


def test_a_run_that_stopped_early_still_gets_a_page(tmp_path):
    executor_output(tmp_path / "ingest-op", {"rows_read": 10})
    found = sections(build_report(tmp_path))
    assert "No schema: the validate step did not run." in found["data"]
    assert "No model was trained in this run." in found["evaluation"]
    assert "The register step did not run." in found["gate"]


def test_regression_plots_are_residuals():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    for uri in (plots.residuals(y, y + rng.normal(size=200)), plots.predicted_vs_actual(y, y)):
        assert base64.b64decode(uri.split(",", 1)[1]).startswith(PNG)


def test_markdown_subset_escapes_and_renders_tables():
    html = markdown("## A <b>\n\n| a | b |\n|---|---|\n| `x` | **y** |\n- one\n- two")
    assert "<h4>A &lt;b&gt;</h4>" in html
    assert "<td><code>x</code></td><td><strong>y</strong></td>" in html
    assert "<ul><li>one</li><li>two</li></ul>" in html
    assert "---" not in html


def test_label_balance_of_a_regression_target_is_its_range():
    from shipyard.report.run_report import _balance

    frame = pd.DataFrame({"y": np.arange(100, dtype=float)})
    assert _balance(frame, "y") == "mean 49.5, range 0 to 99"


def test_candidates_show_each_finalist_with_its_search_time(tmp_path):
    from shipyard.report.run_report import candidates_section

    executor_output(tmp_path / "train-op", {"model_type": "linear", "roc_auc": 0.8})
    executor_output(
        tmp_path / "tune-op",
        {"model_type": "xgboost", "roc_auc": 0.9, "cv_roc_auc": 0.88, "cv_folds": 3,
         "winner": "tuned", "families": "xgboost,linear", "n_candidates": 8},
    )  # fmt: skip
    search = {
        "cv_roc_auc_baseline": 0.80,
        "cv_roc_auc_xgboost_tuned": 0.88,
        "search_seconds_xgboost": 12.34,
        "search_cv_roc_auc_xgboost": 0.87,
    }
    body = "".join(candidates_section(tmp_path, search).body)
    assert "<td>tune (winner: tuned)</td><td>xgboost</td><td>0.9000</td><td>0.8800</td>" in body
    assert "<td>xgboost_tuned</td><td>0.8800</td><td>12.3 s</td>" in body
    assert "<td>baseline</td><td>0.8000</td><td></td>" in body
    assert body.index("xgboost_tuned") < body.index("<td>baseline</td>")  # best first


def test_the_summary_steps_page_is_the_runs_page_where_the_run_is_on_disk(run_dir, tmp_path):
    from shipyard.report.run_report import TASK_REPORT, report_for_run, write_task_report
    from shipyard.steps.summary import PipelineSummary

    summary = PipelineSummary("run-1", "fraud", "SUCCEEDED", version="2", promoted=False)
    task_page = write_task_report(run_dir / TASK_REPORT, summary)  # kfp.local's layout
    assert '<section id="evaluation">' in task_page.read_text()
    assert report_for_run(run_dir).read_text() == task_page.read_text()  # the same page

    elsewhere = write_task_report(tmp_path / "summary-op" / "report", summary)  # a cluster
    page = elsewhere.read_text()
    assert list(sections(page)) == ["outcome"]
    assert "Pipeline finished: fraud (run run-1), v2 not promoted" in page


def test_the_page_shows_the_versions_model_card_instead_of_drawing_again(run_dir, tmp_path):
    from shipyard.report.page import Section, render

    card = render("Model card: f v2", [Section("identity", "Identity").text("models:/f/2"),
                                       Section("gate", "Gate & why").text("promoted")])  # fmt: skip
    folder = run_dir / "register-op"
    (folder / "card").write_text(card)
    try:
        found = sections(build_report(run_dir))
    finally:
        (folder / "card").unlink()
    assert list(found) == ["data", "split", "validation", "candidates", "identity", "gate"]
    assert "<h2>Gate &amp; why</h2>" in found["gate"] and "promoted" in found["gate"]
