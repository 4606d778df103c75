"""The run's summary, written by the training pipeline's exit task (``summary_op``) whether
the run succeeded or failed, and announced through :func:`shipyard.loop.notify.notify`.

An exit task cannot read the outputs of the tasks it guards (KFP allows it only the pipeline's
parameters and the guarded tasks' final status), so the summary reads what the steps left in
MLflow under the pipeline run id: the train and tune step runs (tag
``shipyard.pipeline_run_id``) with their metrics, the model version the register step created
(same tag, with its ``shipyard.decision``, ``shipyard.reason`` and ``shipyard.quality``: how
good it is, in one sentence, next to a trivial baseline), and where ``champion`` points now
(with its own ``shipyard.quality`` when it is another version). Ingest and validate leave no
MLflow record: they show as succeeded when a later step ran, else as "no record". The deploy
step's outcome follows from the decision, the ``deploy`` parameter, the run's state and the
``champion`` alias.

Nothing here makes the exit task fail but an unwritable summary: an unreadable MLflow becomes
a note in the summary, a notifier that is down a logged, counted failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.settings import Settings, get_settings

if TYPE_CHECKING:
    from mlflow.entities import Run

STEPS = ("ingest", "validate", "train", "tune", "register", "deploy")
SUCCEEDED = "SUCCEEDED"
# What the table shows of a step run's metrics (holdout metrics lose their prefix).
KEY_METRICS = (
    "model_type",
    "roc_auc",
    "pr_auc",
    "f1",
    "accuracy",
    "f1_macro",
    "rmse",
    "mae",
    "r2",
    "threshold",
    "version",
    "decision",
    "champion_version",
)
_STEP_OF_RUN = {"train": "train", "tune-search": "tune", "tune": "tune"}
_RUN_STATUS = {
    "FINISHED": "succeeded",
    "FAILED": "failed",
    "KILLED": "failed",
    "RUNNING": "unfinished",
    "SCHEDULED": "unfinished",
}


@dataclass
class StepRecord:
    name: str
    status: str  # succeeded | failed | skipped: … | unfinished | no record | not reached
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineSummary:
    """What the exit task knows about one pipeline run."""

    pipeline_run_id: str
    model_name: str
    state: str  # the guarded tasks' final state: SUCCEEDED, FAILED, CANCELLED …
    error: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    version: str | None = None  # registered by this run
    promoted: bool | None = None
    reason: str = ""
    champion_version: str | None = None
    quality: str = ""  # "AUC 0.67 (0.64–0.70); guessing scores 0.50." for this run's version
    champion_quality: str = ""  # the same for the champion, when it is another version
    deploy: str = ""  # the deploy step's outcome, in words
    notes: list[str] = field(default_factory=list)
    notified: dict[str, str] = field(default_factory=dict)  # channel → sent | failed

    @property
    def succeeded(self) -> bool:
        return self.state.upper() == SUCCEEDED

    @property
    def model_uri(self) -> str:
        from shipyard.model.ref import ModelRef

        return ModelRef.of(self.model_name, self.version).uri if self.version else ""

    @property
    def decision(self) -> str:
        if self.version is None:
            return "nothing registered"
        verdict = "promoted" if self.promoted else "kept as challenger (the gate refused)"
        return f"v{self.version} {verdict}" + (f": {self.reason}" if self.reason else "")

    @property
    def how_good(self) -> str:
        """The plain sentence(s): how good this run's model is, and the champion if another."""
        parts = []
        if self.quality:
            parts.append(f"v{self.version}: {self.quality}")
        if self.champion_quality and self.champion_version != self.version:
            parts.append(f"champion v{self.champion_version}: {self.champion_quality}")
        return " ".join(parts)

    @property
    def outcome(self) -> str:
        """One sentence: how the run ended for the model."""
        if self.version is None:
            return (
                "failed before registering a model"
                if not self.succeeded
                else "finished without registering a model"
            )
        champion = (
            f"`champion` → v{self.champion_version}" if self.champion_version else "no `champion`"
        )
        return (
            f"{self.model_uri} {'promoted' if self.promoted else 'not promoted'}; "
            f"deploy {self.deploy}; {champion}"
        )

    def headline(self) -> str:
        word = "finished" if self.succeeded else self.state.lower() or "failed"
        tail = (
            f"v{self.version} {'promoted' if self.promoted else 'not promoted'}"
            if self.version
            else "nothing registered"
        )
        return f"Pipeline {word}: {self.model_name} (run {self.pipeline_run_id}), {tail}"

    def markdown(self) -> str:
        lines = [
            f"# {self.headline()}",
            "",
            f"**State:** {self.state}" + (f" — {self.error}" if self.error else ""),
            "",
            f"**Decision:** {self.decision}",
            "",
            *([f"**How good:** {self.how_good}", ""] if self.how_good else []),
            f"**Outcome:** {self.outcome}",
            "",
            "| step | status | key results |",
            "|---|---|---|",
        ]
        for step in self.steps:
            details = ", ".join(f"{k}={format_value(v)}" for k, v in step.metrics.items())
            lines.append(f"| {step.name} | {step.status} | {details} |")
        if self.notes:
            lines += ["", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines) + "\n"

    def metadata(self) -> dict[str, Any]:
        """For the Markdown artifact's metadata (and ``shipyard run``'s table)."""
        return {
            "state": self.state,
            "decision": self.decision,
            "how_good": self.how_good,
            "outcome": self.outcome,
            "model_uri": self.model_uri,
            "version": self.version or "",
            "promoted": bool(self.promoted),
            "deploy": self.deploy,
            "champion_version": self.champion_version or "",
            "notified": ", ".join(f"{c} {o}" for c, o in self.notified.items()),
        }


def format_value(value: Any) -> str:
    """A number as the summary tables show it (3 decimals, small p-values kept)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e9:
        return str(int(value))
    if isinstance(value, float) and 0 < abs(value) < 0.001:
        return f"{value:.2g}"  # a small p-value is not 0.000
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def _step_metrics(run: Run) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    if "shipyard.model_type" in run.data.tags:
        metrics["model_type"] = run.data.tags["shipyard.model_type"]
    for key, value in sorted(run.data.metrics.items()):
        name = key.removeprefix("holdout_")
        if name in KEY_METRICS or key.startswith(("cv_", "best_cv_")):
            metrics[name] = value
    return metrics


def _read_mlflow(summary: PipelineSummary, settings: Settings) -> dict[str, StepRecord]:
    """Step runs, the registered version and the champion alias; fills ``summary``."""
    from shipyard.registry.client import Registry
    from shipyard.registry.tracking import PIPELINE_RUN_TAG, STEP_TAG

    registry = Registry(settings)
    mlflow_client = registry.client
    experiment = mlflow_client.get_experiment_by_name(settings.experiment)
    tag = f"tags.`{PIPELINE_RUN_TAG}` = '{summary.pipeline_run_id}'"
    records: dict[str, StepRecord] = {}
    runs = (
        mlflow_client.search_runs(
            [experiment.experiment_id],
            filter_string=tag,
            max_results=500,
            order_by=["attributes.start_time ASC"],
        )
        if experiment is not None
        else []
    )
    for run in runs:
        step = _STEP_OF_RUN.get(run.data.tags.get(STEP_TAG, ""))
        if step is None:
            continue
        status = _RUN_STATUS.get(run.info.status, run.info.status.lower())
        record = records.setdefault(step, StepRecord(step, status))
        if status != "succeeded":
            record.status = status
        record.metrics.update(_step_metrics(run))
    versions = mlflow_client.search_model_versions(f"name = '{summary.model_name}' and {tag}")
    summary.champion_version = registry.champion_version(summary.model_name)
    if summary.champion_version is not None:
        summary.champion_quality = mlflow_client.get_model_version(
            summary.model_name, summary.champion_version
        ).tags.get("shipyard.quality", "")
    if versions:
        version = max(versions, key=lambda v: int(v.version))
        summary.version = str(version.version)
        summary.promoted = version.tags.get("shipyard.decision") == "promoted"
        summary.reason = version.tags.get("shipyard.reason", "")
        summary.quality = version.tags.get("shipyard.quality", "")
        records["register"] = StepRecord(
            "register",
            "succeeded",
            {
                "version": summary.version,
                "decision": "promoted" if summary.promoted else "rejected",
                "champion_version": summary.champion_version or "(none)",
            },
        )
    return records


def _deploy_outcome(summary: PipelineSummary, deploy: bool) -> str:
    if summary.version is None:
        return "not reached"
    if not deploy:  # the pipeline's outer condition
        return "skipped: deploy is off"
    if not summary.promoted:
        return "skipped: the gate kept the champion"
    if summary.champion_version == summary.version:
        return f"rolled out (`champion` moved to v{summary.version})"
    if summary.succeeded:
        return "ran; `champion` moves when the canary reaches 100 %"
    return f"failed or rolled back (`champion` stays v{summary.champion_version or '(none)'})"


def collect(
    pipeline_run_id: str,
    state: str,
    error: str = "",
    deploy: bool = False,
    settings: Settings | None = None,
    model_name: str = "",
) -> PipelineSummary:
    """What MLflow knows about the run ``pipeline_run_id`` (of ``model_name``, default the
    settings') that ended in ``state``."""
    settings = settings or get_settings()
    summary = PipelineSummary(
        pipeline_run_id,
        model_name or settings.model_name,
        state or "UNKNOWN",
        " ".join(error.split())[:1000],
    )
    try:
        records = _read_mlflow(summary, settings)
    except Exception as exc:  # noqa: BLE001 — an unreadable store is reported, not raised
        records = {}
        summary.notes.append(
            f"MLflow could not be read ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:300]}); steps unknown"
        )
    summary.deploy = _deploy_outcome(summary, deploy)
    recorded = [i for i, name in enumerate(STEPS) if name in records]
    for i, name in enumerate(STEPS):
        if name == "deploy":
            status = (
                summary.deploy
                if summary.deploy.startswith(("skipped", "not reached"))
                else "failed"
                if summary.deploy.startswith("failed")
                else "succeeded"
            )
            record = StepRecord(
                name,
                status,
                {} if status.startswith(("skipped", "not")) else {"outcome": summary.deploy},
            )
        elif name in records:
            record = records[name]
        elif recorded and i < recorded[-1]:
            record = StepRecord(name, "succeeded (a later step ran)")
        elif any(s.status == "failed" for s in summary.steps):
            record = StepRecord(name, "not reached")
        else:
            record = StepRecord(name, "no record")
        summary.steps.append(record)
    if not summary.succeeded and not any(s.status == "failed" for s in summary.steps):
        summary.notes.append(
            "the run failed at the first step without a record or before "
            "it (ingest and validate write none to MLflow); that step's "
            "logs say why"
        )
    return summary


def summarize(
    pipeline_run_id: str,
    state: str,
    error: str,
    deploy: bool,
    markdown_path: str | Path,
    settings: Settings | None = None,
    model_name: str = "",
) -> PipelineSummary:
    """The exit task's work: collect, write the Markdown, announce "finished" or "failed"."""
    from shipyard.loop.notify import notify

    settings = settings or get_settings()
    summary = collect(pipeline_run_id, state, error, deploy, settings, model_name)
    text = summary.markdown()
    Path(markdown_path).write_text(text)
    summary.notified = notify("pipeline", summary.headline(), text, settings)
    return summary
