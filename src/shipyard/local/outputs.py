"""What a kfp.local run left behind, read in one place: its run folder inside the run's own
pipeline root, each task's ``executor_output.json`` (timings, metrics, outputs), and the table
``shipyard run`` ends with. A step whose condition was false left nothing and is listed as
skipped."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.steps.summary import format_value

STEP_ORDER = ("ingest", "validate", "train", "tune", "register", "deploy", "score", "summary")
SUMMARY_MARKDOWN = Path("summary-op") / "summary"  # the exit task's Markdown, in the run
LOG_FILE = "log.txt"  # each task's full log, in its folder
# a library's warning in a task's log: Python's ``file.py:12: UserWarning: …`` or a logger's
# ``WARNING`` level (MLflow's, the KFP executor's)
_WARNING_LINE = re.compile(r"\b[A-Z]\w*Warning: |(?<![\w-])WARNING\b")
_KEY_METRICS = (
    "train_rows",
    "test_rows",
    "checks",
    "violations",
    "warnings",
    "min_skew_p_value",
    "task",
    "model_type",
    "winner",
    "cv_roc_auc",
    "cv_f1_macro",
    "cv_rmse",
    "roc_auc",
    "pr_auc",
    "f1",
    "threshold",
    "accuracy",
    "f1_macro",
    "rmse",
    "mae",
    "r2",
    "version",
    "promoted",
    "champion_version",
    "outcome",
    "rows_scored",
    "drifted_features",
    "min_p_value",
)


@dataclass
class StepSummary:
    name: str
    work_seconds: float | None
    process_seconds: float | None
    metrics: dict[str, Any] = field(default_factory=dict)  # the key ones, for the table
    metadata: dict[str, Any] = field(default_factory=dict)  # everything the step reported
    library_warnings: int = 0  # warnings libraries printed into the step's log


@dataclass
class RunSummary:
    run_dir: Path
    wall_seconds: float
    steps: list[StepSummary]
    outputs: dict[str, Any]  # the pipeline's own outputs (the training pipeline has none)
    skipped: list[str] = field(default_factory=list)  # steps whose condition was false

    @property
    def model_uri(self) -> str | None:
        """The registered model (``models:/name/N``): the register step's output."""
        register = next((s for s in self.steps if s.name == "register"), None)
        return register.metadata.get("model_uri") if register else None

    @property
    def summary_markdown(self) -> Path | None:
        """The exit task's Markdown summary, where the pipeline has one."""
        path = self.run_dir / SUMMARY_MARKDOWN
        return path if path.is_file() else None

    @property
    def work_seconds(self) -> float:
        return sum(s.work_seconds or 0.0 for s in self.steps)

    @property
    def overhead_per_step(self) -> float:
        return (self.wall_seconds - self.work_seconds) / max(len(self.steps), 1)

    def step(self, name: str) -> StepSummary:
        return next(s for s in self.steps if s.name == name)


def run_folder(root: Path) -> Path | None:
    """The run folder kfp.local made in a run's own pipeline root (None if it made none)."""
    found = (
        [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if root.exists()
        else []
    )
    return found[0] if len(found) == 1 else None


def read_steps(run_dir: Path) -> list[StepSummary]:
    """Per-step timings and metrics from each task's executor output: every ``<step>-op``
    folder of the run, known steps in pipeline order, any other after them by name."""
    known = {name: i for i, name in enumerate(STEP_ORDER)}
    names = sorted(
        (p.parent.name.removesuffix("-op") for p in run_dir.glob("*-op/executor_output.json")),
        key=lambda n: (known.get(n, len(known)), n),
    )
    steps = []
    for name in names:
        data = json.loads((run_dir / f"{name}-op" / "executor_output.json").read_text())
        merged: dict[str, Any] = dict(data.get("parameterValues", {}))
        for artifact in data.get("artifacts", {}).values():
            for item in artifact.get("artifacts", []):
                merged.update(item.get("metadata", {}))
        if name == "deploy":  # its one output is the rollout's outcome, said in words
            merged["outcome"] = merged.pop("Output", None)
        work, process = merged.pop("work_seconds", None), merged.pop("process_seconds", None)
        shown = ("state", "outcome") if name == "summary" else _KEY_METRICS  # not the rest again
        shown_metrics = {k: merged[k] for k in shown if k in merged}
        log = run_dir / f"{name}-op" / LOG_FILE
        steps.append(StepSummary(name, work, process, shown_metrics, merged, count_warnings(log)))
    return steps


def count_warnings(log: Path) -> int:
    """Library warnings in a task's log (kept there, counted in the table, not printed)."""
    if not log.is_file():
        return 0
    return sum(
        1 for line in log.read_text(errors="replace").splitlines() if _WARNING_LINE.search(line)
    )


def format_summary(summary: RunSummary) -> str:
    """The table ``make run`` ends with."""
    lines = [f"{'step':<10} {'task s':>7} {'work s':>7}  key results", "-" * 78]
    rows = [
        (
            step.name,
            f"{step.name:<10} {format_value(step.process_seconds):>7} "
            f"{format_value(step.work_seconds):>7}  "
            + ", ".join(f"{k}={format_value(v)}" for k, v in step.metrics.items())
            + (
                f"; {step.library_warnings} library warning(s) in its log"
                if step.library_warnings
                else ""
            ),
        )
        for step in summary.steps
    ]
    rows += [
        (name, f"{name:<10} {'-':>7} {'-':>7}  skipped: its condition was false")
        for name in summary.skipped
    ]
    order = {name: i for i, name in enumerate(STEP_ORDER)}
    lines += [line for _, line in sorted(rows, key=lambda r: order.get(r[0], len(order)))]
    lines.append("-" * 78)
    lines.append(
        f"pipeline wall time {summary.wall_seconds:.1f} s; steps' own work "
        f"{summary.work_seconds:.1f} s; orchestration overhead "
        f"{summary.overhead_per_step:.2f} s per step"
    )
    register = next((s for s in summary.steps if s.name == "register"), None)
    if register:
        m = register.metrics
        lines.append(
            f"registered version v{m.get('version')}: "
            f"{'promoted' if m.get('promoted') else 'not promoted'}; "
            f"`champion` -> v{m.get('champion_version') or '(none)'}"
        )
        if register.metadata.get("quality"):
            lines.append(f"how good: {register.metadata['quality']}")
    if summary.model_uri:
        lines.append(f"registered model: {summary.model_uri}")
    if summary.summary_markdown:
        lines.append(f"run summary (Markdown): {summary.summary_markdown}")
    lines.append(f"outputs: {summary.run_dir}")
    return "\n".join(lines)
