"""The notebooks, run headless (nbclient + ipykernel) in local mode, in the order a user runs
them, against one fresh Shipyard home; and committed without outputs."""

from __future__ import annotations

import os

import nbformat
import pytest

from support import PROJECT

NOTEBOOKS = sorted((PROJECT / "notebooks").glob("*.ipynb"))
LOCAL_MODE_UNSET = (
    "KF_PIPELINES_ENDPOINT",
    "KF_PIPELINES_TOKEN",
    "SHIPYARD_PREDICTOR_URL",
    "SHIPYARD_DETECTOR_URL",
    "SHIPYARD_MLFLOW_TRACKING_URI",
)


def test_the_three_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == [
        "01_run_pipeline_locally.ipynb",
        "02_submit_to_kubeflow.ipynb",
        "03_query_endpoint_and_drift.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run all three with nbclient, one kernel each, sharing one fresh home; the executed
    copies are kept under the test's temporary folder for reading."""
    from nbclient import NotebookClient

    home = tmp_path_factory.mktemp("notebook-home")
    saved = dict(os.environ)
    for key in LOCAL_MODE_UNSET:
        os.environ.pop(key, None)
    os.environ.update(
        SHIPYARD_HOME=str(home), SHIPYARD_NOTEBOOK_ROWS="4000", SHIPYARD_MODEL_NAME="notebook-fraud"
    )
    results: dict[str, nbformat.NotebookNode | Exception] = {}
    try:
        for path in NOTEBOOKS:
            notebook = nbformat.read(path, as_version=4)
            client = NotebookClient(
                notebook,
                timeout=600,
                kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}},
            )
            try:
                client.execute()
                results[path.stem] = notebook
            except Exception as exc:  # CellExecutionError names the cell and the traceback
                results[path.stem] = exc
            nbformat.write(notebook, home / path.name)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return results


def text_of(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def images_in(notebook) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )


def ran(executed, stem):
    result = executed[stem]
    if isinstance(result, Exception):
        pytest.fail(f"{stem} failed:\n{result}")
    return result


def test_01_runs_the_pipeline_and_shows_metrics_plots_and_registry(executed):
    notebook = ran(executed, "01_run_pipeline_locally")
    text = text_of(notebook)
    assert "`champion` -> v1" in text and "pipeline wall time" in text
    assert "champion -> v1" in text  # the registry table's header line
    assert "roc_auc" in text and "promoted" in text
    # ROC curve and confusion matrix (one figure), then the iris run's k×k confusion matrix
    assert images_in(notebook) == 2
    assert "served models:/iris-species@champion" in text
    assert "predict=['" in text  # the species names, not class indices


def test_02_falls_back_to_the_local_runner_and_says_so(executed):
    text = text_of(ran(executed, "02_submit_to_kubeflow"))
    assert "endpoint: none: this run falls back to kfp.local" in text
    assert "submitted to kfp.local" in text
    assert "ran on the local runner instead" in text
    assert "registered version v2" in text  # same home: notebook 01 made v1


def test_03_queries_the_predictor_and_shows_drift_per_feature(executed):
    notebook = ran(executed, "03_query_endpoint_and_drift")
    text = text_of(notebook)
    assert "flagged" in text and "of 500" in text
    shifted = next(line for line in text.splitlines() if line.startswith("shifted:"))
    assert "drift in" in shifted and "amount" in shifted
    assert "of 3 windows drifted" in text
    assert images_in(notebook) == 2  # prediction histogram, per-feature p-values
