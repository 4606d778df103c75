"""The register step: evaluate → decide → publish.

- evaluate (``steps.holdout``): score the challenger (and the current champion) on the same
  holdout, and prove that served answers equal the model's (``serving.parity_check``);
- decide (``steps.gate``): a first version must beat a trivial baseline (the training prior
  or mean) on the task's primary metric with 95 % confidence — a paired bootstrap over the
  test rows, or cross-validation on the training rows where the holdout cannot tell; a later
  one must beat the champion by the margin (MLflow's ``MetricThreshold``), its paired interval
  shown beside; fixed floors (``roc_auc>=0.75``) apply only where the user sets them;
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
from typing import TYPE_CHECKING, Any

import pandas as pd

from shipyard.model.bundle import MANIFEST, sha256_file
from shipyard.model.families import limited_threads
from shipyard.model.ref import CHALLENGER, CHAMPION, ModelRef
from shipyard.registry.client import MANIFEST_SHA_TAG, Registry
from shipyard.settings import Settings, get_settings

if TYPE_CHECKING:
    pass

from shipyard.steps.gate import Verdict, decide, holdout_cannot_tell, with_cross_validation
from shipyard.steps.holdout import Evaluation, evaluate


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
    quality: str = ""  # one plain sentence: the metric with its interval, and the baseline's
    evidence: list[dict[str, Any]] = field(default_factory=list)  # the paired comparisons

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
            *([f"**How good:** {self.quality}", ""] if self.quality else []),
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
        if self.evidence:
            lines += [
                "",
                "| against | metric | challenger (95 % interval) | other | difference "
                "(95 % interval) | resamples |",
                "|---|---|---|---|---|---|",
            ]
            for item in self.evidence:
                model, other, diff = item["model"], item["other"], item["difference"]
                lines.append(
                    f"| {item['against']} | {item['metric']} | {model['value']:.4f} "
                    f"({model['low']:.4f}–{model['high']:.4f}) | {other['value']:.4f} | "
                    f"{diff['value']:+.4f} ({diff['low']:+.4f} to {diff['high']:+.4f}) | "
                    f"{item['resamples']} of {item['rows']} {item['source']} rows |"
                )
        return "\n".join(lines) + "\n"


def publish(
    model_uri: str,
    name: str,
    lineage: dict[str, str],
    promoted: bool,
    move_champion: bool,
    detector_dir: Path | None,
    registry: Registry,
) -> ModelRef:
    """Register the version with ``lineage``, store its detector, set its aliases; on any
    failure delete the version again."""
    from shipyard.registry.detectors import store_detector

    mlflow_client = registry.client
    ref = registry.register_version(model_uri, name, lineage)
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


@limited_threads()  # the thin-holdout cross-validation, the card's scoring: one thread
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
    model_name: str = "",
    card_path: str | Path | None = None,
) -> Decision:
    """Register ``model_uri``; alias it ``challenger``; promote it if it passes the gate.

    ``move_champion=False`` (the pipeline deploys with a canary rollout): a winner stays
    ``challenger`` and the rollout moves ``champion`` once it reaches 100 %.

    With ``reference_path`` (the training data), a drift detector is fitted on it and stored
    with the version, so a deployed detector always matches its model; the same rows give
    the trivial baseline's prior or mean (without them, the holdout's own). ``model_name``
    (default the settings' ``model_name``) is the registered model the version joins.
    """
    settings = settings or get_settings()
    name = model_name or settings.model_name
    train = pd.read_parquet(reference_path) if reference_path is not None else None
    registry = Registry(settings)
    test = pd.read_parquet(test_path)
    evaluation = evaluate(model_dir, test, name, registry, train)
    verdict = decide(evaluation, floors, margin)
    if train is not None and holdout_cannot_tell(evaluation, verdict, floors):
        verdict = decide(with_cross_validation(evaluation, verdict, train), floors, margin)
    promoted, reason = verdict.promoted, verdict.reason
    lineage = _lineage(evaluation, verdict, pipeline_run_id, data_hash, params, floors, settings)
    with tempfile.TemporaryDirectory() as workspace:
        detector_dir = (
            _save_detector(evaluation, train, Path(workspace)) if train is not None else None
        )
        ref = publish(model_uri, name, lineage, promoted, move_champion, detector_dir, registry)
    if promoted and not move_champion:
        reason += "; champion moves when the canary rollout reaches 100 %"
    previous = evaluation.previous
    champion = ref.number if promoted and move_champion else previous
    decision = Decision(name, ref.number, ref.uri, promoted, reason, champion, previous,
                        evaluation.challenger_metrics, evaluation.champion_metrics, lineage,
                        verdict.quality, verdict.evidence())  # fmt: skip
    write_card(decision, evaluation, test, train, registry, card_path)
    from shipyard.loop.notify import notify

    notify("gate", decision.headline(), decision.markdown(), settings)
    return decision


def _lineage(
    evaluation: Evaluation,
    verdict: Verdict,
    pipeline_run_id: str,
    data_hash: str,
    params: dict[str, Any] | None,
    floors: str,
    settings: Settings,
) -> dict[str, str]:
    """The tags a version carries: where it came from, what was decided and why."""
    from shipyard.model.evaluation import primary_metric

    challenger = evaluation.challenger
    return {
        "shipyard.pipeline_run_id": pipeline_run_id,
        "shipyard.data_hash": data_hash,
        "shipyard.git_commit": settings.git_commit or "unknown",
        "shipyard.model_type": challenger.manifest["model_type"],
        "shipyard.params": json.dumps(params or challenger.manifest.get("params", {}), default=str),
        MANIFEST_SHA_TAG: sha256_file(challenger.directory / MANIFEST),
        "shipyard.decision": "promoted" if verdict.promoted else "rejected",
        "shipyard.reason": verdict.reason[:4000],
        "shipyard.task": challenger.task,
        "shipyard.floors": floors or "none",
        **verdict.tags(primary_metric(challenger.task)),
        **evaluation.parity_tags,
    }


def _save_detector(evaluation: Evaluation, train: pd.DataFrame, workspace: Path) -> Path:
    """The drift detector fitted on the training rows, with what the sidecar needs beside it:
    the threshold, the holdout's metrics and calibration (CBPE), the attribution reference."""
    from shipyard.monitoring.attribution import reference as attribution_reference
    from shipyard.monitoring.drift import DriftDetector
    from shipyard.monitoring.estimated_performance import holdout_calibration

    challenger = evaluation.challenger
    detector = DriftDetector.fit(train, challenger.schema)
    detector.model_info = {
        "threshold": challenger.threshold,
        "holdout_metrics": evaluation.challenger_metrics,
        "calibration": holdout_calibration(evaluation),
        # training's mean |contribution| shares: the sidecar's attribution drift
        "attribution": attribution_reference(challenger, train),
    }
    return detector.save(workspace / "drift_detector")


def write_card(
    decision: Decision,
    evaluation: Evaluation,
    test: pd.DataFrame,
    train: pd.DataFrame | None,
    registry: Registry,
    path: str | Path | None,
) -> Path | None:
    """The version's model card, stored with it (``model_card/<name>/v<N>/``) and written to
    ``path``.
    A card that cannot be drawn is logged, never a failed registration: the version is sound."""
    import logging

    from shipyard.report.card import CARD_FILE, CardInputs, build_card

    settings = registry.settings
    contract = {
        "drift backend": settings.drift_backend,
        "drift tests": "per feature: Kolmogorov-Smirnov (numeric), Chi² (categorical)",
        "drift verdict": "any feature's p below 0.05 / features (Bonferroni)",
        "drift window": f"{settings.drift_window_size} rows or "
        f"{settings.drift_max_age_seconds:g} s",
        "label-free estimate": "CBPE, calibrated on the holdout"
        if evaluation.challenger.task != "regression"
        else "none (regression)",
    }
    try:
        search = registry.search_record(decision.lineage.get("shipyard.pipeline_run_id", ""))
        inputs = CardInputs(
            evaluation.challenger, test, train, decision.model_name, decision.version,
            decision.lineage, decision.markdown(), contract, search,
        )  # fmt: skip
        page = build_card(inputs)
        with tempfile.TemporaryDirectory() as workspace:
            target = Path(path) if path else Path(workspace) / CARD_FILE
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(page, encoding="utf-8")
            run_id = registry.client.get_model_version(decision.model_name, decision.version).run_id
            if run_id:
                registry.client.log_artifact(
                    run_id, str(target), f"model_card/{decision.model_name}/v{decision.version}"
                )
            return Path(path) if path else None
    except Exception as exc:  # the card documents a sound version; it never unregisters it
        logging.getLogger(__name__).warning("no model card for v%s: %s", decision.version, exc)
        return None
