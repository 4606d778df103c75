"""The register step: evaluate → decide → publish.

- evaluate: score the challenger (and the current champion) on the same holdout, and prove
  that served answers equal the model's (``serving.parity_check``);
- decide: a first version must beat a trivial baseline (the training prior or mean) on the
  task's primary metric with 95 % confidence — a paired bootstrap over the test rows, or
  cross-validation on the training rows where the holdout is too small to tell; a later one
  must beat the champion by the margin (MLflow's ``MetricThreshold``), its paired interval
  shown beside; fixed floors (``roc_auc>=0.75``) apply only where the user sets them;
- publish: register the version with its lineage, store its drift detector, alias it
  ``challenger`` and, if it won (and no canary rollout is ahead), ``champion``.

Everything that can fail runs before anything is written, and a failure while publishing
deletes the version, so a failed run registers nothing half-way.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shipyard.errors import ConfigError, ModelNotFound, SchemaError, ShipyardError
from shipyard.model.bundle import MANIFEST, LoadedModel, load_bundle, sha256_file
from shipyard.model.ref import CHALLENGER, CHAMPION, ModelRef
from shipyard.model.task import BINARY, REGRESSION
from shipyard.registry.client import MANIFEST_SHA_TAG, champion_version, client, load_registered
from shipyard.settings import Settings, get_settings

if TYPE_CHECKING:
    from shipyard.model.uncertainty import Comparison

# Below these a holdout cannot tell a weak model from a trivial one: cross-validate instead.
MIN_TEST_ROWS = 20
MIN_CLASS_ROWS = 5


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


def _score(model: LoadedModel, test: pd.DataFrame) -> tuple[dict[str, float], np.ndarray]:
    from shipyard.model.evaluation import evaluate

    missing = [c for c in model.features + [model.schema.target] if c not in test.columns]
    if missing:
        raise ModelNotFound(f"the holdout lacks columns the model needs: {', '.join(missing)}")
    scores = model.scores(test)
    result = evaluate(
        test[model.schema.target].to_numpy(), scores, model.threshold, model.classes, model.task
    )
    return {k: v for k, v in result.metrics.items() if k != "threshold"}, scores


def parse_floors(text: str, task: str) -> dict[str, float]:
    """``"roc_auc>=0.75,pr_auc>=0.05"`` → {metric: floor}; empty: none (the first version is
    judged against a trivial baseline instead). The comparison must match the metric's
    direction (``rmse<=10``)."""
    import re

    from shipyard.model.evaluation import DEFAULT_FLOORS, metric_for

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


def _floor_text(name: str, floor: float) -> str:
    from shipyard.model.evaluation import METRICS

    return f"{name}{'>=' if METRICS[name].greater_is_better else '<='}{floor:g}"


def _refused_by_floor(
    name: str, floor: float, value: float, baseline: Comparison | None, task: str
) -> str:
    """Which floor, the model's value with its interval, and the trivial baseline's value."""
    from shipyard.model.uncertainty import baseline_words

    if baseline is None:
        return f"floor {_floor_text(name, floor)} refused it: {name} {value:.4f}"
    return (
        f"floor {_floor_text(name, floor)} refused it: {name} {baseline.model.text()} "
        f"({baseline.how()}); {baseline_words(task, name)} scores {baseline.other.value:.3f}"
    )


def _against_baseline(comparison: Comparison, task: str) -> tuple[bool, str]:
    """A first version: has it shown, with 95 % confidence, that it learned anything?"""
    from shipyard.model.uncertainty import baseline_words

    name, words = comparison.metric, baseline_words(task, comparison.metric)
    if not comparison.resamples:
        return False, (
            f"first version: too few rows to tell {name} from {words}'s "
            f"({comparison.model.value:.3f} vs {comparison.other.value:.3f}); it has not "
            f"shown it learned anything"
        )
    said = (
        f"{name} {comparison.model.text()} vs {comparison.other.value:.3f} for {words}; "
        f"difference {comparison.difference.text(signed=True)} ({comparison.how()})"
    )
    if comparison.better:
        return True, f"first version: beats {words} — {said}"
    return False, (
        f"first version: does not beat {words} with 95 % confidence — {said}; it has not "
        f"shown it learned anything"
    )


def gate(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    floors: dict[str, float],
    margin: float,
    primary: str = "roc_auc",
    baseline: dict[str, Comparison] | None = None,
    versus: Comparison | None = None,
    task: str = BINARY,
) -> tuple[bool, str]:
    """Promote or not, and why.

    - ``floors`` (the user's, none by default): MLflow's ``MetricThreshold`` on the holdout;
      a refusal names the floor, the value with its interval and the baseline's value;
    - with a champion: beat it on ``primary`` by ``margin`` (absolute for scores in [0, 1],
      relative for errors such as RMSE), through MLflow too; ``versus`` (the paired interval
      of challenger − champion) is stated beside;
    - without one: ``baseline[primary]`` must show the model beats the trivial baseline with
      95 % confidence (without that evidence, the floors alone decide).
    """
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.models import MetricThreshold
    from mlflow.models.evaluation import EvaluationResult

    from shipyard.model.evaluation import METRICS

    baseline = baseline or {}
    main = METRICS[primary]
    missing = [name for name in {**floors, primary: 0} if name not in challenger]
    if missing:
        return False, f"the holdout gives no {', '.join(missing)} (a class is missing from it?)"
    refusals: list[str] = []
    if floors:
        thresholds = {
            name: MetricThreshold(threshold=v, greater_is_better=METRICS[name].greater_is_better)
            for name, v in floors.items()
        }
        try:
            mlflow.validate_evaluation_results(thresholds, EvaluationResult(challenger, {}))
        except MlflowException as exc:
            below = [
                name
                for name, floor in floors.items()
                if (
                    challenger[name] < floor
                    if METRICS[name].greater_is_better
                    else challenger[name] > floor
                )
            ]
            refusals += [
                _refused_by_floor(n, floors[n], challenger[n], baseline.get(n), task) for n in below
            ] or [" ".join(str(exc.message).split())]
    floors_said = ", ".join(_floor_text(n, v) for n, v in floors.items())
    cleared = f"; clears the floors {floors_said}" if floors else ""
    paired = (
        f"; challenger − champion {versus.difference.text(signed=True)} ({versus.how()})"
        if versus is not None and versus.resamples
        else ""
    )
    if champion is not None:
        ours, theirs = challenger[primary], champion[primary]
        if primary not in champion:
            refusals.append(f"the champion has no {primary} on this holdout")
        elif margin > 0:
            change = {"min_absolute_change" if main.bounded else "min_relative_change": margin}
            try:
                mlflow.validate_evaluation_results(
                    {primary: MetricThreshold(greater_is_better=main.greater_is_better, **change)},
                    EvaluationResult(challenger, {}),
                    EvaluationResult(champion, {}),
                )
            except MlflowException as exc:
                said = " ".join(str(exc.message).split())  # MLflow calls the champion "baseline"
                refusals.append(f"against the champion: {said}{paired}")
        elif (ours < theirs) if main.greater_is_better else (ours > theirs):  # margin 0
            refusals.append(
                f"{primary} {ours:.4f} is worse than the champion's {theirs:.4f}{paired}"
            )
        if refusals:
            return False, "; ".join(refusals)
        return True, (
            f"{primary} {ours:.4f} beats the champion's {theirs:.4f} by at least "
            f"{margin}{'' if main.bounded else ' (relative)'}{paired}{cleared}"
        )
    if primary in baseline:
        beats, said = _against_baseline(baseline[primary], task)
        if not beats:
            refusals.insert(0, said)
        if refusals:
            return False, "; ".join(refusals)
        return True, f"{said}{cleared}"
    if refusals:
        return False, "; ".join(refusals)
    return True, f"first model{cleared or ': no floors set'}"


@dataclass
class Evaluation:
    """What the gate decides on: the holdout metrics, and the rows' labels and scores the
    intervals are drawn from (the holdout's, or out-of-fold on the training rows where the
    holdout is too small to tell)."""

    challenger: LoadedModel
    challenger_metrics: dict[str, float]
    parity_tags: dict[str, str]
    previous: str | None
    champion_metrics: dict[str, float] | None
    y_test: np.ndarray | None = None  # class indices, or values for regression
    challenger_scores: np.ndarray | None = None
    champion_scores: np.ndarray | None = None
    champion_threshold: float | None = None
    train_y: np.ndarray | None = None  # the trivial baseline's prior or mean comes from these
    thin: str = ""  # why the holdout cannot tell ("" when it can)
    cv_y: np.ndarray | None = None  # the training rows' labels and out-of-fold scores
    cv_scores: np.ndarray | None = None


def _labels(model: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
    from shipyard.model.task import encode_labels

    target = frame[model.schema.target]
    if model.task == REGRESSION:
        return target.to_numpy(dtype=np.float64)
    return encode_labels(target, model.classes or [])


def thin_holdout(y: np.ndarray, task: str, classes: list[Any] | None) -> str:
    """Why ``y`` is too small a holdout to tell a weak model from a trivial one, or ""."""
    if len(y) < MIN_TEST_ROWS:
        return f"the holdout has {len(y)} rows (fewer than {MIN_TEST_ROWS})"
    if task == REGRESSION:
        return ""
    counts = np.bincount(y.astype(np.int64), minlength=len(classes or []))
    rarest = int(counts.argmin())
    if counts[rarest] < MIN_CLASS_ROWS:
        label = (classes or [])[rarest] if classes else rarest
        return (
            f"the holdout has {counts[rarest]} rows of class {label!r} "
            f"(fewer than {MIN_CLASS_ROWS})"
        )
    return ""


def cross_validated(
    model: LoadedModel, train: pd.DataFrame, seed: int = 0
) -> tuple[np.ndarray, np.ndarray] | None:
    """Out-of-fold scores of the model's own pipeline (same family and parameters) on the
    training rows: the evidence when the holdout is too small. None if even those are too
    few (fewer than two rows of a class, or ten rows)."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

    from shipyard.data.features import canonical_frame
    from shipyard.model.families import make_pipeline

    y = _labels(model, train)
    if model.task == REGRESSION:
        folds = min(5, len(y) // 5)
        splitter: Any = KFold(folds, shuffle=True, random_state=seed) if folds >= 2 else None
    else:
        folds = min(5, int(np.bincount(y).min()))
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed) if folds >= 2 else None
    if splitter is None or len(y) < 10:
        return None
    pipeline = make_pipeline(
        model.schema,
        str(model.manifest["model_type"]),
        dict(model.manifest.get("params") or {}),
        seed=seed,
        task=model.task,
    )
    method = "predict" if model.task == REGRESSION else "predict_proba"
    scores = cross_val_predict(
        pipeline, canonical_frame(train, model.schema), y, cv=splitter, method=method
    )
    return y, np.asarray(scores, dtype=np.float64)


def evaluate(
    model_dir: str | Path,
    test: pd.DataFrame,
    name: str,
    settings: Settings,
    train: pd.DataFrame | None = None,
) -> Evaluation:
    """Score the challenger and the current champion on ``test``; prove served parity.
    ``train`` (the training rows) gives the trivial baseline's prior or mean, and the
    cross-validated evidence where the holdout is too small."""
    from shipyard.model.parity import probe_rows
    from shipyard.serving.parity_check import check_served_parity

    challenger = load_bundle(model_dir)
    metrics, scores = _score(challenger, test)
    parity = check_served_parity(
        challenger, probe_rows(challenger.schema, test, max_sample=len(test))
    )
    previous = champion_version(client(settings), name)
    champion_metrics = champion_scores = champion_threshold = None
    if previous is not None:
        try:
            champion = load_registered(ModelRef.of(name, previous), settings)
            if champion.task != challenger.task:
                raise ShipyardError(
                    f"it is a {champion.task} model, the challenger a {challenger.task} one"
                )
            champion_metrics, champion_scores = _score(champion, test)
            champion_threshold = champion.threshold
        except ShipyardError as exc:
            raise ShipyardError(
                f"cannot score the current champion v{previous} on this holdout: {exc}",
                hint="fix or re-alias the champion first, or register under another model_name",
            ) from exc
    y_test = _labels(challenger, test)
    evaluation = Evaluation(
        challenger,
        metrics,
        parity.tags(),
        previous,
        champion_metrics,
        y_test,
        scores,
        champion_scores,
        champion_threshold,
    )
    if train is not None and challenger.schema.target in train.columns:
        try:
            evaluation.train_y = _labels(challenger, train)
        except SchemaError:  # not the model's training data: the holdout's own prior serves
            train = None
    evaluation.thin = thin_holdout(y_test, challenger.task, challenger.classes)
    if evaluation.thin and previous is None and train is not None:
        try:
            found = cross_validated(challenger, train)
        except ValueError as exc:  # e.g. a fold the pipeline cannot fit: the holdout decides
            evaluation.thin += f" (cross-validation failed: {' '.join(str(exc).split())[:200]})"
            found = None
        if found is not None:
            evaluation.cv_y, evaluation.cv_scores = found
    return evaluation


@dataclass
class Verdict:
    """The gate's answer, with the evidence behind it."""

    promoted: bool
    reason: str
    quality: str  # the plain sentence: the metric with its interval; the baseline's
    comparisons: dict[str, Comparison]  # "baseline:<metric>" / "champion:<metric>"

    def tags(self, primary: str) -> dict[str, str]:
        """``shipyard.*`` tags: the primary metric, its interval, the baseline's value and
        the difference's interval (against the champion too, when there is one)."""
        tags = {"shipyard.quality": self.quality, "shipyard.metric": primary}
        base = self.comparisons.get(f"baseline:{primary}")
        if base is not None:
            tags |= {
                f"shipyard.{primary}": f"{base.model.value:.6g}",
                f"shipyard.{primary}_low": f"{base.model.low:.6g}",
                f"shipyard.{primary}_high": f"{base.model.high:.6g}",
                f"shipyard.baseline_{primary}": f"{base.other.value:.6g}",
                "shipyard.baseline_diff_low": f"{base.difference.low:.6g}",
                "shipyard.baseline_diff_high": f"{base.difference.high:.6g}",
                "shipyard.evidence": base.how(),
            }
        versus = self.comparisons.get(f"champion:{primary}")
        if versus is not None:
            tags |= {
                "shipyard.champion_diff": f"{versus.difference.value:.6g}",
                "shipyard.champion_diff_low": f"{versus.difference.low:.6g}",
                "shipyard.champion_diff_high": f"{versus.difference.high:.6g}",
            }
        return tags

    def evidence(self) -> list[dict[str, Any]]:
        return [{"against": key.split(":")[0], **asdict(c)} for key, c in self.comparisons.items()]


MAX_CV_ROWS = 50_000  # above this many training rows the holdout alone decides (cost)


def holdout_cannot_tell(evaluation: Evaluation, verdict: Verdict, floors: str) -> bool:
    """A first version refused only because the holdout's interval is wide: better than
    guessing on the holdout, yet an interval that reaches down to it (a small test split,
    few rows of a class). Then the out-of-fold evidence on the training rows, several times
    as many, decides. Fixed floors, a champion, or a holdout worse than guessing: never."""
    from shipyard.model.evaluation import primary_metric

    if verdict.promoted or evaluation.previous is not None or floors.strip():
        return False
    if evaluation.cv_y is not None or evaluation.train_y is None:
        return False
    if len(evaluation.train_y) > MAX_CV_ROWS:
        return False
    base = verdict.comparisons.get(f"baseline:{primary_metric(evaluation.challenger.task)}")
    return base is not None and base.resamples > 0 and base.better_in_point_only


def with_cross_validation(
    evaluation: Evaluation, verdict: Verdict, train: pd.DataFrame
) -> Evaluation:
    """``evaluation`` with out-of-fold scores on ``train`` as its evidence (unchanged if
    cross-validation cannot run), saying why the holdout could not tell."""
    from shipyard.model.evaluation import primary_metric

    try:
        found = cross_validated(evaluation.challenger, train)
    except ValueError:
        found = None
    if found is None:
        return evaluation
    base = verdict.comparisons[f"baseline:{primary_metric(evaluation.challenger.task)}"]
    rows = 0 if evaluation.y_test is None else len(evaluation.y_test)
    return replace(
        evaluation,
        cv_y=found[0],
        cv_scores=found[1],
        thin=(
            f"the holdout's {rows} rows cannot tell (difference to guessing "
            f"{base.difference.text(signed=True)})"
        ),
    )


def decide(evaluation: Evaluation, floors: str, margin: float) -> Verdict:
    """The gate on ``evaluation``: floors, champion or baseline (see :func:`gate`)."""
    from shipyard.model.evaluation import primary_metric
    from shipyard.model.uncertainty import compare, sentence, trivial_scores

    model = evaluation.challenger
    task = model.task
    primary = primary_metric(task)
    parsed = parse_floors(floors, task)
    k = len(model.classes or [])
    use_cv = evaluation.cv_y is not None and evaluation.cv_scores is not None
    y = evaluation.cv_y if use_cv else evaluation.y_test
    scores = evaluation.cv_scores if use_cv else evaluation.challenger_scores
    comparisons: dict[str, Comparison] = {}
    if y is not None and scores is not None:
        prior = evaluation.train_y if evaluation.train_y is not None else y
        for metric in dict.fromkeys([primary, *parsed]):
            others = {"baseline": trivial_scores(task, metric, prior, len(y), k)}
            if metric == primary and evaluation.champion_scores is not None and not use_cv:
                others["champion"] = (evaluation.champion_scores, evaluation.champion_threshold)
            found = compare(
                metric,
                task,
                y,
                (scores, model.threshold),
                others,
                source="cross-validation" if use_cv else "holdout",
            )
            comparisons |= {f"{against}:{metric}": c for against, c in found.items()}
    promoted, reason = gate(
        evaluation.challenger_metrics,
        evaluation.champion_metrics,
        parsed,
        margin,
        primary,
        {key.split(":")[1]: c for key, c in comparisons.items() if key.startswith("baseline:")},
        comparisons.get(f"champion:{primary}"),
        task,
    )
    if evaluation.thin:
        evidence = (
            "the evidence is cross-validation on the training rows"
            if use_cv
            else "the interval is wide"
        )
        reason = f"{evaluation.thin}: {evidence}; {reason}"
    base = comparisons.get(f"baseline:{primary}")
    quality = sentence(base, task) if base is not None and base.resamples else ""
    return Verdict(promoted, reason, quality, comparisons)


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

    from shipyard.registry.detectors import store_detector

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
    with the version, so a deployed detector always matches its model; the same rows give
    the trivial baseline's prior or mean (without them, the holdout's own).
    """
    from shipyard.model.evaluation import primary_metric

    settings = settings or get_settings()
    name = settings.model_name
    train = pd.read_parquet(reference_path) if reference_path is not None else None
    evaluation = evaluate(model_dir, pd.read_parquet(test_path), name, settings, train)
    verdict = decide(evaluation, floors, margin)
    if train is not None and holdout_cannot_tell(evaluation, verdict, floors):
        verdict = decide(with_cross_validation(evaluation, verdict, train), floors, margin)
    promoted, reason = verdict.promoted, verdict.reason
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
        "shipyard.floors": floors or "none",
        **verdict.tags(primary_metric(challenger.task)),
        **evaluation.parity_tags,
    }
    with tempfile.TemporaryDirectory() as workspace:
        detector_dir = None
        if train is not None:
            from shipyard.monitoring.drift import DriftDetector

            detector = DriftDetector.fit(train, challenger.schema)
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
        verdict.quality,
        verdict.evidence(),
    )
    from shipyard.loop.notify import notify

    notify("gate", decision.headline(), decision.markdown(), settings)
    return decision
