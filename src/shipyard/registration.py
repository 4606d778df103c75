"""The register step: evaluate → decide → publish.

- evaluate: score the challenger (and the current champion) on the same holdout, and prove
  that served answers equal the model's (``serving.parity_check``);
- decide: MLflow's ``MetricThreshold`` gate — the floors, and beat the champion by the margin
  on the task's primary metric, in its direction (lower is better for RMSE);
- publish: register the version with its lineage, store its drift detector, alias it
  ``challenger`` and, if it won (and no canary rollout is ahead), ``champion``.

Everything that can fail runs before anything is written, and a failure while publishing
deletes the version, so a failed run registers nothing half-way.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from shipyard.errors import ConfigError, ModelNotFound, ShipyardError
from shipyard.model_bundle import MANIFEST, LoadedModel, load_bundle, sha256_file
from shipyard.model_ref import CHALLENGER, CHAMPION, ModelRef
from shipyard.registry import MANIFEST_SHA_TAG, champion_version, client, load_registered
from shipyard.settings import Settings, get_settings


@dataclass
class Decision:
    model_name: str
    version: str
    model_uri: str
    promoted: bool
    reason: str
    champion_version: str | None
    previous_champion: str | None
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None = None
    lineage: dict[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> ModelRef:
        return ModelRef.of(self.model_name, self.version)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)

    def headline(self) -> str:
        return f"Registration: {self.model_name} v{self.version} {self.verdict}"

    @property
    def verdict(self) -> str:
        return (
            "PROMOTED to champion"
            if self.promoted and self.champion_version == self.version
            else "passed the gate, to be rolled out"
            if self.promoted
            else "kept as challenger"
        )

    def markdown(self) -> str:
        verdict = self.verdict
        lines = [
            f"# Registration: {self.model_name} v{self.version} {verdict}",
            "",
            f"**Reason:** {self.reason}",
            "",
            f"`champion` → v{self.champion_version}"
            if self.champion_version
            else "`champion` → (none)",
            "",
            "| metric | challenger | champion |",
            "|---|---|---|",
        ]
        champion = self.champion_metrics or {}
        for name, value in self.challenger_metrics.items():
            other = champion.get(name)
            lines.append(f"| {name} | {value:.4f} | {'' if other is None else f'{other:.4f}'} |")
        return "\n".join(lines) + "\n"


def _score(model: LoadedModel, test: pd.DataFrame) -> dict[str, float]:
    from shipyard.evaluation import evaluate

    missing = [c for c in model.features + [model.schema.target] if c not in test.columns]
    if missing:
        raise ModelNotFound(f"the holdout lacks columns the model needs: {', '.join(missing)}")
    result = evaluate(
        test[model.schema.target].to_numpy(),
        model.scores(test),
        model.threshold,
        model.classes,
        model.task,
    )
    return {k: v for k, v in result.metrics.items() if k != "threshold"}


def parse_floors(text: str, task: str) -> dict[str, float]:
    """``"roc_auc>=0.75,pr_auc>=0.05"`` (empty: the task's defaults) → {metric: floor}; the
    comparison must match the metric's direction (``rmse<=10``)."""
    import re

    from shipyard.evaluation import DEFAULT_FLOORS, metric_for

    floors = {}
    for part in filter(None, (p.strip() for p in (text or DEFAULT_FLOORS[task]).split(","))):
        match = re.fullmatch(r"(\w+)\s*(>=|<=)\s*(-?[\d.]+(?:e-?\d+)?)", part)
        if not match:
            raise ConfigError(f"floor {part!r} is not metric>=value or metric<=value")
        name, op, value = match.groups()
        if metric_for(name, task).greater_is_better != (op == ">="):
            raise ConfigError(
                f"floor {part!r} points the wrong way",
                hint=f"use {name}{'>=' if op == '<=' else '<='}{value}",
            )
        floors[name] = float(value)
    return floors


def gate(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    floors: dict[str, float],
    margin: float,
    primary: str = "roc_auc",
) -> tuple[bool, str]:
    """MLflow's own threshold check: the floors, and beat the champion on ``primary`` by
    ``margin`` (absolute for scores in [0, 1], relative for errors such as RMSE)."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.models import MetricThreshold
    from mlflow.models.evaluation import EvaluationResult

    from shipyard.evaluation import METRICS

    compare = champion is not None and margin > 0
    main = METRICS[primary]
    change = (
        {"min_absolute_change" if main.bounded else "min_relative_change": margin}
        if compare
        else {}
    )
    thresholds = {
        name: MetricThreshold(threshold=floor, greater_is_better=METRICS[name].greater_is_better)
        for name, floor in floors.items()
    }
    if change:
        thresholds[primary] = MetricThreshold(
            threshold=floors.get(primary), greater_is_better=main.greater_is_better, **change
        )
    missing = [name for name in thresholds if name not in challenger]
    if missing:
        return False, f"the holdout gives no {', '.join(missing)} (a class is missing from it?)"
    try:
        mlflow.validate_evaluation_results(
            thresholds,
            EvaluationResult(challenger, {}),
            EvaluationResult(champion, {}) if compare else None,
        )
    except MlflowException as exc:
        return False, " ".join(str(exc.message).split())
    shown = ", ".join(
        f"{n} {'>=' if METRICS[n].greater_is_better else '<='} {v}" for n, v in floors.items()
    )
    if champion:
        ours, theirs = challenger[primary], champion[primary]
        if (ours < theirs) if main.greater_is_better else (ours > theirs):  # margin 0
            return False, f"{primary} {ours:.4f} is worse than the champion's {theirs:.4f}"
        return True, (
            f"{primary} {ours:.4f} beats the champion's {theirs:.4f} by at least "
            f"{margin}{'' if main.bounded else ' (relative)'} and clears the floors "
            f"({shown})"
        )
    return True, f"first model: clears the floors {shown}"


@dataclass
class Evaluation:
    """What the gate decides on."""

    challenger: LoadedModel
    challenger_metrics: dict[str, float]
    parity_tags: dict[str, str]
    previous: str | None
    champion_metrics: dict[str, float] | None


def evaluate(
    model_dir: str | Path, test: pd.DataFrame, name: str, settings: Settings
) -> Evaluation:
    """Score the challenger and the current champion on ``test``; prove served parity."""
    from shipyard.parity import probe_rows
    from shipyard.serving.parity_check import check_served_parity

    challenger = load_bundle(model_dir)
    metrics = _score(challenger, test)
    parity = check_served_parity(
        challenger, probe_rows(challenger.schema, test, max_sample=len(test))
    )
    previous = champion_version(client(settings), name)
    champion_metrics = None
    if previous is not None:
        try:
            champion = load_registered(ModelRef.of(name, previous), settings)
            if champion.task != challenger.task:
                raise ShipyardError(
                    f"it is a {champion.task} model, the challenger a {challenger.task} one"
                )
            champion_metrics = _score(champion, test)
        except ShipyardError as exc:
            raise ShipyardError(
                f"cannot score the current champion v{previous} on this holdout: {exc}",
                hint="fix or re-alias the champion first, or register under another model_name",
            ) from exc
    return Evaluation(challenger, metrics, parity.tags(), previous, champion_metrics)


def decide(evaluation: Evaluation, floors: str, margin: float) -> tuple[bool, str]:
    from shipyard.evaluation import primary_metric

    task = evaluation.challenger.task
    return gate(
        evaluation.challenger_metrics,
        evaluation.champion_metrics,
        parse_floors(floors, task),
        margin,
        primary_metric(task),
    )


def publish(
    model_uri: str,
    name: str,
    lineage: dict[str, str],
    promoted: bool,
    move_champion: bool,
    detector_dir: Path | None,
    settings: Settings,
) -> ModelRef:
    """Register the version with ``lineage``, store its detector, set its aliases; on any
    failure delete the version again."""
    import mlflow

    from shipyard.detector_store import store_detector

    mlflow_client = client(settings)
    if not mlflow_client.search_registered_models(f"name = '{name}'"):
        mlflow_client.create_registered_model(name, description="A Shipyard tabular model")
    ref = ModelRef.of(name, mlflow.register_model(model_uri, name, tags=lineage).version)
    try:
        if detector_dir is not None:
            lineage.update(store_detector(mlflow_client, ref, detector_dir))
        mlflow_client.set_registered_model_alias(name, CHALLENGER, ref.number)
        if promoted and move_champion:
            mlflow_client.set_registered_model_alias(name, CHAMPION, ref.number)
    except Exception:
        mlflow_client.delete_model_version(name, ref.number)  # nothing half-way
        raise
    return ref


def register(
    model_uri: str,
    model_dir: str | Path,
    test_path: str | Path,
    pipeline_run_id: str = "local",
    data_hash: str = "",
    params: dict[str, Any] | None = None,
    floors: str = "",
    margin: float = 0.002,
    settings: Settings | None = None,
    reference_path: str | Path | None = None,
    move_champion: bool = True,
) -> Decision:
    """Register ``model_uri``; alias it ``challenger``; promote it if it passes the gate.

    ``move_champion=False`` (the pipeline deploys with a canary rollout): a winner stays
    ``challenger`` and the rollout moves ``champion`` once it reaches 100 %.

    With ``reference_path`` (the training data), a drift detector is fitted on it and stored
    with the version, so a deployed detector always matches its model.
    """
    settings = settings or get_settings()
    name = settings.model_name
    evaluation = evaluate(model_dir, pd.read_parquet(test_path), name, settings)
    promoted, reason = decide(evaluation, floors, margin)
    challenger = evaluation.challenger
    lineage = {
        "shipyard.pipeline_run_id": pipeline_run_id,
        "shipyard.data_hash": data_hash,
        "shipyard.git_commit": settings.git_commit or "unknown",
        "shipyard.model_type": challenger.manifest["model_type"],
        "shipyard.params": json.dumps(params or challenger.manifest.get("params", {}), default=str),
        MANIFEST_SHA_TAG: sha256_file(challenger.directory / MANIFEST),
        "shipyard.decision": "promoted" if promoted else "rejected",
        "shipyard.reason": reason[:4000],
        "shipyard.task": challenger.task,
        **evaluation.parity_tags,
    }
    with tempfile.TemporaryDirectory() as workspace:
        detector_dir = None
        if reference_path is not None:
            from shipyard.drift import DriftDetector

            detector = DriftDetector.fit(pd.read_parquet(reference_path), challenger.schema)
            detector.model_info = {
                "threshold": challenger.threshold,
                "holdout_metrics": evaluation.challenger_metrics,
            }
            detector_dir = detector.save(Path(workspace) / "drift_detector")
        ref = publish(model_uri, name, lineage, promoted, move_champion, detector_dir, settings)
    if promoted and not move_champion:
        reason += "; champion moves when the canary rollout reaches 100 %"
    previous = evaluation.previous
    decision = Decision(
        name,
        ref.number,
        ref.uri,
        promoted,
        reason,
        ref.number if promoted and move_champion else previous,
        previous,
        evaluation.challenger_metrics,
        evaluation.champion_metrics,
        lineage,
    )
    from shipyard.notify import notify

    notify("gate", decision.headline(), decision.markdown(), settings)
    return decision
