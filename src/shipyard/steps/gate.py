"""The register step's decision: a first version must beat a trivial baseline (the training
prior or mean) on the task's primary metric with 95 % confidence — a paired bootstrap over the
test rows, or out-of-fold scores on the training rows where the holdout cannot tell; a later
one must beat the champion by the margin (MLflow's ``MetricThreshold``), its paired interval
shown beside; fixed floors (``roc_auc>=0.75``) apply only where the user sets them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from shipyard.errors import ConfigError
from shipyard.model.task import BINARY

if TYPE_CHECKING:
    from shipyard.model.uncertainty import Comparison

from shipyard.steps.holdout import Evaluation, cross_validated


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


def _floor_refusals(
    challenger: dict[str, float],
    floors: dict[str, float],
    baseline: dict[str, Comparison],
    task: str,
) -> list[str]:
    """The user's floors checked by MLflow's ``MetricThreshold``: one refusal per floor the
    challenger misses (naming the value's interval and the baseline's value)."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.models import MetricThreshold
    from mlflow.models.evaluation import EvaluationResult

    from shipyard.model.evaluation import METRICS

    if not floors:
        return []
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
        return [
            _refused_by_floor(n, floors[n], challenger[n], baseline.get(n), task) for n in below
        ] or [" ".join(str(exc.message).split())]
    return []


def _champion_refusals(
    challenger: dict[str, float],
    champion: dict[str, float],
    primary: str,
    margin: float,
    paired: str,
) -> list[str]:
    """Why the challenger does not beat the champion on ``primary`` by ``margin`` (MLflow's
    ``MetricThreshold``; with margin 0, not worse); empty when it does."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.models import MetricThreshold
    from mlflow.models.evaluation import EvaluationResult

    from shipyard.model.evaluation import METRICS

    main = METRICS[primary]
    if primary not in champion:
        return [f"the champion has no {primary} on this holdout"]
    ours, theirs = challenger[primary], champion[primary]
    if margin > 0:
        change = {"min_absolute_change" if main.bounded else "min_relative_change": margin}
        try:
            mlflow.validate_evaluation_results(
                {primary: MetricThreshold(greater_is_better=main.greater_is_better, **change)},
                EvaluationResult(challenger, {}),
                EvaluationResult(champion, {}),
            )
        except MlflowException as exc:
            said = " ".join(str(exc.message).split())  # MLflow calls the champion "baseline"
            return [f"against the champion: {said}{paired}"]
    elif (ours < theirs) if main.greater_is_better else (ours > theirs):  # margin 0
        return [f"{primary} {ours:.4f} is worse than the champion's {theirs:.4f}{paired}"]
    return []


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
    from shipyard.model.evaluation import METRICS

    baseline = baseline or {}
    main = METRICS[primary]
    missing = [name for name in {**floors, primary: 0} if name not in challenger]
    if missing:
        return False, f"the holdout gives no {', '.join(missing)} (a class is missing from it?)"
    refusals = _floor_refusals(challenger, floors, baseline, task)
    floors_said = ", ".join(_floor_text(n, v) for n, v in floors.items())
    cleared = f"; clears the floors {floors_said}" if floors else ""
    paired = (
        f"; challenger − champion {versus.difference.text(signed=True)} ({versus.how()})"
        if versus is not None and versus.resamples
        else ""
    )
    if champion is not None:
        refusals += _champion_refusals(challenger, champion, primary, margin, paired)
        if refusals:
            return False, "; ".join(refusals)
        ours, theirs = challenger[primary], champion[primary]
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
