"""The page of one local run, ``report.html`` in its run folder: what a console page of a
managed ML service shows, from what the run's steps left behind.

Read from the run folder: ingest's split (train and test rows), validate's schema and report,
the train and tune models with their metadata, the register step's decision report. Read from
MLflow when it answers: the tune search's per-family scores and times. The registered
candidate (tune's model, which is train's where the baseline won) is scored again on the test
rows for the plots and its permutation importance. A part that cannot be read is one line
saying so, never a failed page.
"""

from __future__ import annotations

import html
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from shipyard.data.schema import IGNORED, TARGET, TIMESTAMP, Schema
from shipyard.model.families import limited_threads
from shipyard.report.page import Section, render

if TYPE_CHECKING:
    from shipyard.steps.summary import PipelineSummary

REPORT_FILE = "report.html"
TASK_REPORT = Path("summary-op") / "report"  # the summary step's HTML artifact, in the run
log = logging.getLogger(__name__)


def step_metadata(run_dir: Path, step: str) -> dict[str, Any]:
    """A step's parameters and every artifact's metadata, merged (empty if it did not run)."""
    path = run_dir / f"{step}-op" / "executor_output.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    merged: dict[str, Any] = dict(data.get("parameterValues", {}))
    for artifact in data.get("artifacts", {}).values():
        for item in artifact.get("artifacts", []):
            merged.update(item.get("metadata", {}))
    return merged


def _read(path: Path) -> str | None:
    return path.read_text(errors="replace") if path.is_file() else None


def _balance(frame: pd.DataFrame, target: str) -> str:
    counts = frame[target].value_counts(dropna=False)
    if len(counts) > 20:  # a regression target: its range, not its values
        values = frame[target].astype(float)
        return f"mean {values.mean():.4g}, range {values.min():.4g} to {values.max():.4g}"
    total = max(int(counts.sum()), 1)
    return ", ".join(f"{k}: {v} ({100 * v / total:.1f}%)" for k, v in counts.items())


def data_section(run_dir: Path, schema: Schema | None) -> Section:
    ingest = step_metadata(run_dir, "ingest")
    section = Section("data", "Data")
    section.text(
        f"Source `{ingest.get('source', '?')}`: {ingest.get('rows_read', '?')} rows read, "
        f"{ingest.get('null_labels_dropped', 0)} without a label dropped."
    )
    if schema is None:
        return section.text("No schema: the validate step did not run.")
    used = [c for c in schema.columns if c.kind not in (IGNORED, TARGET, TIMESTAMP)]
    section.table(
        ["column", "used as", "type", "range or categories"],
        [
            (c.name, c.kind, c.dtype, _values(c.min, c.max, c.categories))
            for c in [*used, *[c for c in schema.columns if c.kind == TARGET]]
        ],
    )
    ignored = [c for c in schema.columns if c.kind in (IGNORED, TIMESTAMP)]
    if ignored:
        section.text("**Left out**, and why:")
        section.table(["column", "reason"], [(c.name, _why(c.kind, c.note)) for c in ignored])
    else:
        section.text("No column was left out.")
    return section


def _why(kind: str, note: str | None) -> str:
    if kind == TIMESTAMP:
        return "the time axis the split is made along, not a feature"
    return note or ""


def _values(low: Any, high: Any, categories: list[str] | None) -> str:
    if categories:
        shown = ", ".join(map(str, categories[:8]))
        return shown + (f" … ({len(categories)} in all)" if len(categories) > 8 else "")
    return f"{low:.4g} to {high:.4g}" if low is not None and high is not None else ""


def split_section(run_dir: Path, target: str | None) -> Section:
    ingest = step_metadata(run_dir, "ingest")
    section = Section("split", "Split")
    section.text(
        f"Method: {ingest.get('split_method', '?')}; train {ingest.get('train_rows', '?')} "
        f"rows, test {ingest.get('test_rows', '?')} rows (the test rows are never trained on)."
    )
    rows = []
    for part in ("train", "test"):
        path = run_dir / "ingest-op" / f"{part}_data"
        if target and path.is_file():
            frame = pd.read_parquet(path, columns=[target])
            rows.append((part, len(frame), _balance(frame, target)))
    if rows:
        section.table(["part", "rows", "label balance"], rows)
    return section


def validation_section(run_dir: Path) -> Section:
    section = Section("validation", "Validation")
    report = _read(run_dir / "validate-op" / "report")
    return section.markdown(report) if report else section.text("The validate step left no report.")


def tune_search(tune: dict[str, Any]) -> dict[str, float]:
    """The tune search's MLflow metrics (per-family scores and seconds), {} if unreadable."""
    run_id = tune.get("mlflow_run_id")
    if not run_id:
        return {}
    try:
        from mlflow import MlflowClient

        from shipyard.registry.tracking import PIPELINE_RUN_TAG, STEP_TAG, configure

        configure()
        client = MlflowClient()
        run = client.get_run(str(run_id))
        pipeline_run = run.data.tags.get(PIPELINE_RUN_TAG)
        found = client.search_runs(
            [run.info.experiment_id],
            f"tags.`{PIPELINE_RUN_TAG}` = '{pipeline_run}' and tags.`{STEP_TAG}` = 'tune-search'",
        )
        return dict(found[0].data.metrics) if found else {}
    except Exception as exc:  # the page says what it could not read; it does not fail
        log.info("tune search not read from MLflow: %s", exc)
        return {}


def candidates_section(run_dir: Path, search: dict[str, float]) -> Section:
    train, tune = step_metadata(run_dir, "train"), step_metadata(run_dir, "tune")
    section = Section("candidates", "Candidates")
    cv_keys = [k for k in tune if k.startswith("cv_") and k != "cv_folds"]
    metric = cv_keys[0].removeprefix("cv_") if cv_keys else ""
    holdout = metric if metric in train else "roc_auc" if "roc_auc" in train else "rmse"
    rows = [
        ("train (baseline)", train.get("model_type", "?"), _number(train.get(holdout)), "",
         _time(train.get("work_seconds"))),
    ]  # fmt: skip
    if tune:
        rows.append(
            (f"tune (winner: {tune.get('winner', '?')})", tune.get("model_type", "?"),
             _number(tune.get(holdout)), _number(tune.get(f"cv_{metric}")),
             _time(tune.get("work_seconds")))
        )  # fmt: skip
    section.table(["step", "model", f"test {holdout}", f"CV {metric}", "time"], rows)
    finalists = sorted(
        (k.removeprefix(f"cv_{metric}_"), v) for k, v in search.items()
        if k.startswith(f"cv_{metric}_")
    )  # fmt: skip
    if finalists:
        families = str(tune.get("families", "?")).replace(",", ", ")
        section.text(
            f"Tune searched {families} with {tune.get('n_candidates', '?')} "
            f"candidates each, then re-scored the finalists on the same "
            f"{tune.get('cv_folds', '?')} folds:"
        )
        seconds = {k.removeprefix("search_seconds_"): v for k, v in search.items()
                   if k.startswith("search_seconds_")}  # fmt: skip
        section.table(
            ["finalist", f"CV {metric}", "search time"],
            [
                (name, f"{value:.4f}", _seconds(seconds, name))
                for name, value in sorted(finalists, key=lambda f: -f[1])
            ],
        )
    return section


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else ""


def _time(value: Any) -> str:
    return f"{value:.1f} s" if isinstance(value, int | float) else ""


def _seconds(seconds: dict[str, float], label: str) -> str:
    """A searched family's finalist (``<family>_tuned``) carries its search's time."""
    family = label.removesuffix("_tuned")
    return f"{seconds[family]:.1f} s" if label.endswith("_tuned") and family in seconds else ""


def model_sections(run_dir: Path) -> list[Section]:
    """Evaluation plots and importance of the candidate the register step saw."""
    from shipyard.model.bundle import load_bundle
    from shipyard.report.model_view import model_view

    evaluation = Section("evaluation", "Evaluation")
    importance = Section("importance", "Importance")
    folder = next((run_dir / s / "model" for s in ("tune-op", "train-op")
                   if (run_dir / s / "model").is_dir()), None)  # fmt: skip
    test_path = run_dir / "ingest-op" / "test_data"
    if folder is None or not test_path.is_file():
        evaluation.text("No model was trained in this run.")
        return [evaluation]
    model = load_bundle(folder)
    view = model_view(model, pd.read_parquet(test_path))
    evaluation.text(
        f"The registered candidate ({model.manifest.get('model_type', '?')}, from "
        f"{folder.parent.name.removesuffix('-op')}) on the test rows."
    )
    evaluation.figures({k: v for k, v in view.figures.items() if k != "Permutation importance"})
    if view.importance:
        importance.text(
            f"Permutation importance: the drop in {view.metric} on the test rows when one "
            "column's values are shuffled (mean of 3 shuffles); near 0 means unused."
        )
        importance.figures({"Permutation importance": view.figures["Permutation importance"]})
        importance.table(["column", f"drop in {view.metric}"],
                         [(n, f"{d:.4f}") for n, d in view.importance])  # fmt: skip
    return [evaluation, importance]


def card_sections(run_dir: Path) -> list[Section] | None:
    """The registered version's model card (the register step's HTML output), section by
    section: where it exists the page shows it instead of drawing the same plots again."""
    page = _read(run_dir / "register-op" / "card")
    if not page:
        return None
    found = re.findall(r'<section id="(\w+)"><h2>(.*?)</h2>(.*?)</section>', page, flags=re.S)
    return [Section(key, html.unescape(title), [body]) for key, title, body in found] or None


def gate_section(run_dir: Path) -> Section:
    section = Section("gate", "Gate: the candidate against the champion")
    report = _read(run_dir / "register-op" / "report")
    return section.markdown(report) if report else section.text("The register step did not run.")


@limited_threads()  # permutation importance scores many times: one thread
def build_report(run_dir: Path) -> str:
    """The run's page as HTML."""
    schema_path = run_dir / "validate-op" / "schema"
    schema = Schema.load(schema_path) if schema_path.is_file() else None
    register = step_metadata(run_dir, "register")
    sections = [
        data_section(run_dir, schema),
        split_section(run_dir, schema.target if schema else None),
        validation_section(run_dir),
        candidates_section(run_dir, tune_search(step_metadata(run_dir, "tune"))),
    ]
    card = card_sections(run_dir)
    if card:
        return render(
            _title(register, run_dir), sections + card, str(register.get("quality") or "")
        )
    try:
        sections += model_sections(run_dir)
    except Exception as exc:  # a page without plots beats no page
        sections.append(Section("evaluation", "Evaluation").text(f"Not drawn: {exc}"))
    sections.append(gate_section(run_dir))
    return render(_title(register, run_dir), sections, str(register.get("quality") or ""))


def _title(register: dict[str, Any], run_dir: Path) -> str:
    return f"Shipyard run: {register.get('model_uri') or run_dir.name}"


def write_report(run_dir: Path) -> Path:
    """``report.html`` in the run folder; its path."""
    path = run_dir / REPORT_FILE
    path.write_text(build_report(run_dir), encoding="utf-8")
    return path


def write_task_report(path: str | Path, summary: PipelineSummary) -> Path:
    """The summary step's HTML artifact. On kfp.local the task's folder sits beside the other
    tasks' (``<run>/summary-op/report``): the full page. Where they are not on disk (a
    cluster stores each output in object storage), the page of what MLflow holds: outcome,
    steps and candidates, and the gate's decision."""
    path = Path(path)
    run_dir = path.parent.parent
    page = None
    if (run_dir / "ingest-op").is_dir():
        try:
            page = build_report(run_dir)
        except Exception as exc:  # the exit task never fails for its page
            log.warning("the run's page could not be built, only its outcome: %s", exc)
    if page is None:
        outcome = Section("outcome", "Outcome").markdown(summary.markdown())
        page = render(summary.headline(), [outcome])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def report_for_run(run_dir: Path) -> Path:
    """``report.html`` in the run folder: the summary step's page where it wrote one (the
    same page the KFP UI shows), else built here; a file with ``.html`` opens in a browser."""
    import shutil

    task_page = run_dir / TASK_REPORT
    if task_page.is_file():
        shutil.copyfile(task_page, run_dir / REPORT_FILE)
        return run_dir / REPORT_FILE
    return write_report(run_dir)
