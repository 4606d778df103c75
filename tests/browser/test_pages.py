"""The run's report page and `shipyard ui`, opened in a real (headless) browser."""

import time

from report_run import make_run_folder
from shipyard.local.mlflow_ui import mlflow_ui
from shipyard.report.run_report import write_report
from support import free_port

SECTIONS = ["data", "split", "validation", "candidates", "evaluation", "importance", "gate"]


def severe(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_the_report_opens_from_disk_with_every_image_drawn(browser, small_data, trained, tmp_path):
    page = write_report(make_run_folder(tmp_path, small_data, trained))
    browser.get(page.as_uri())
    assert browser.title == "Shipyard run: models:/f/2"
    ids = browser.execute_script("return [...document.querySelectorAll('section')].map(s => s.id)")
    assert ids == SECTIONS
    images = browser.execute_script(
        "return [...document.images].map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(images) == 5
    for alt, complete, width, height in images:
        assert complete and width > 100 and height > 100, alt
    assert severe(browser) == []


def test_the_mlflow_ui_shows_the_registered_model(browser, trained):
    import mlflow

    from shipyard.registry.tracking import configure

    configure()
    mlflow.register_model(trained.model_uri, "ui-browser")
    with mlflow_ui("127.0.0.1", free_port()) as address:
        browser.get(f"{address}/#/models")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and "ui-browser" not in browser.page_source:
            time.sleep(1)
        assert "ui-browser" in browser.page_source
        links = browser.execute_script(
            "return [...document.querySelectorAll('a')].map(a => a.textContent)"
        )
        assert "ui-browser" in links


def test_the_model_card_opens_from_disk_with_every_image_drawn(
    browser, small_data, trained, tmp_path
):
    import pandas as pd

    from shipyard.model.bundle import load_bundle
    from shipyard.report.card import CardInputs, build_card

    inputs = CardInputs(
        load_bundle(trained.bundle_dir),
        pd.read_parquet(small_data["test"]),
        pd.read_parquet(small_data["train"]),
        "f",
        "2",
        {"shipyard.data_hash": "sha256:ab"},
        "# Registration: f v2 PROMOTED to champion",
        {"drift backend": "scipy"},
    )
    page = tmp_path / "card.html"
    page.write_text(build_card(inputs), encoding="utf-8")
    severe(browser)  # the shared browser's earlier pages (the MLflow UI's) are not this one's
    browser.get(page.as_uri())
    assert browser.title == "Model card: f v2"
    ids = browser.execute_script("return [...document.querySelectorAll('section')].map(s => s.id)")
    assert ids == [
        "identity",
        "dataset",
        "training",
        "evaluation",
        "importance",
        "gate",
        "monitoring",
    ]
    images = browser.execute_script(
        "return [...document.images].map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(images) == 4  # ROC, precision-recall, confusion matrix, calibration
    for alt, complete, width, height in images:
        assert complete and width > 100 and height > 100, alt
    assert severe(browser) == []
