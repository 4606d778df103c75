"""How sure a holdout metric is: a paired bootstrap over the test rows, and the trivial
baselines a first model has to beat.

Resampling the rows with replacement is the same as giving each row a multinomial count, so
every metric here is computed from row weights for many resamples at once (``W @ v`` for the
counting metrics, one sort for the rank metrics): 1,000 resamples of 50,000 rows take about a
second. Scores of several models are evaluated on the *same* resamples (paired), so the
interval of their difference is much narrower than their two intervals side by side would
suggest. A resample where the metric is undefined (a class missing) is skipped and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from shipyard.model.task import BINARY, MULTICLASS, REGRESSION

RESAMPLES = 1000
LEVEL = 0.95
_CELLS = 2_000_000  # weights held at once (resamples × rows): 8 MB as float32
_BUDGET = 20_000_000  # resamples × rows per comparison

# How each metric is named in a sentence, and what the trivial model for it is.
LABELS = {
    "roc_auc": "AUC",
    "pr_auc": "PR AUC",
    "f1": "F1",
    "precision": "precision",
    "recall": "recall",
    "accuracy": "accuracy",
    "f1_macro": "macro F1",
    "roc_auc_ovr": "AUC (one-vs-rest)",
    "log_loss": "log loss",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
}
_ERRORS = {"log_loss", "rmse", "mae"}  # lower is better


@dataclass(frozen=True)
class Interval:
    value: float  # on all the rows
    low: float  # percentile interval over the resamples
    high: float

    def text(self, digits: int | None = None, signed: bool = False) -> str:
        """``0.667 (0.645–0.689)``."""
        f = _formatter(self, digits, signed)
        between = " to " if signed else "–"  # a dash beside a minus sign would read badly
        return f"{f(self.value)} ({f(self.low)}{between}{f(self.high)})"


@dataclass(frozen=True)
class Comparison:
    """A model against another (a trivial baseline or the champion) on one metric, paired on
    the same resamples of the same rows. ``difference`` is model − other."""

    metric: str
    model: Interval
    other: Interval
    difference: Interval
    rows: int
    resamples: int  # those used
    skipped: int  # undefined ones (a class missing from the resample)
    source: str = "holdout"  # or "cross-validation": where the rows' scores come from

    @property
    def greater_is_better(self) -> bool:
        return self.metric not in _ERRORS

    @property
    def better(self) -> bool:
        """The whole interval of the difference lies on the better side of 0."""
        if not self.resamples:
            return False
        return self.difference.low > 0 if self.greater_is_better else self.difference.high < 0

    @property
    def better_in_point_only(self) -> bool:
        """Better on all the rows, but the interval reaches the other side of 0: the rows
        are too few to tell."""
        ahead = self.difference.value > 0 if self.greater_is_better else self.difference.value < 0
        return bool(self.resamples) and ahead and not self.better

    @property
    def worse(self) -> bool:
        if not self.resamples:
            return False
        return self.difference.high < 0 if self.greater_is_better else self.difference.low > 0

    def how(self) -> str:
        """How the interval was found, for a reason or a report."""
        skipped = f", {self.skipped} skipped (a class missing)" if self.skipped else ""
        where = "test rows" if self.source == "holdout" else "training rows, out-of-fold"
        return (
            f"{LEVEL * 100:.0f} % paired bootstrap, {self.resamples} resamples of {self.rows} "
            f"{where}{skipped}"
        )


def _formatter(interval: Interval, digits: int | None, signed: bool) -> Callable[[float], str]:
    if digits is None:
        scale = max(abs(interval.value), abs(interval.low), abs(interval.high), 1e-12)
        digits = 3 if scale < 1 else max(0, 2 - int(np.floor(np.log10(scale))))
    return lambda v: f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def trivial_scores(
    task: str, metric: str, train_y: np.ndarray, rows: int, n_classes: int = 2
) -> tuple[np.ndarray, float | None]:
    """What a model that learned nothing answers for ``rows`` rows, and its threshold: the
    training classes' prior (so the majority class at 0.5), or the training mean (the median
    for MAE, which the median minimises)."""
    if task == REGRESSION:
        y = np.asarray(train_y, dtype=np.float64)
        value = float(np.median(y) if metric == "mae" else np.mean(y))
        return np.full(rows, value), None
    prior = np.bincount(np.asarray(train_y, dtype=np.int64), minlength=n_classes) / len(train_y)
    return np.tile(prior, (rows, 1)), 0.5 if task == BINARY else None


def baseline_words(task: str, metric: str) -> str:
    """The trivial model in words: what "scores 0.50" is said of."""
    if task == REGRESSION:
        return "predicting the median" if metric == "mae" else "predicting the mean"
    if metric in ("roc_auc", "roc_auc_ovr", "pr_auc"):
        return "guessing"
    if metric == "log_loss":
        return "the class prior"
    return "always predicting the most common class"


def sentence(comparison: Comparison, task: str) -> str:
    """One plain sentence: ``AUC 0.67 (0.64–0.70); guessing scores 0.50.``"""
    digits = 2 if comparison.metric not in _ERRORS | {"r2"} else None
    model = comparison.model.text(digits)
    other = _formatter(comparison.other, digits, False)(comparison.other.value)
    label = LABELS.get(comparison.metric, comparison.metric)
    words = baseline_words(task, comparison.metric)
    tail = "" if comparison.source == "holdout" else " (cross-validated on the training rows)"
    return f"{label} {model}; {words} scores {other}{tail}."


# --- weighted metrics: W is [resamples, rows] of counts, one value per resample -------------


def _safe(num: np.ndarray, den: np.ndarray, empty: float = np.nan) -> np.ndarray:
    out = np.full(np.broadcast(num, den).shape, empty, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _groups(p: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-p if descending else p, kind="stable")
    ps = p[order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    return order, starts


def _auc(w: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """ROC AUC, ties counted half: Σ over positives of their weight × the weight of the
    negatives scored below them (cumulative sums over the negatives, sorted once)."""
    positive = y == 1
    pos_total = w @ positive.astype(w.dtype)
    neg_total = w.sum(axis=1, dtype=np.float64) - pos_total
    if p.min() == p.max():  # a constant score ranks nothing: 0.5 wherever AUC is defined
        return _safe(0.5 * pos_total * neg_total, pos_total * neg_total)
    negatives = np.flatnonzero(~positive)
    negatives = negatives[np.argsort(p[negatives], kind="stable")]
    neg_scores = p[negatives]
    below = np.zeros((w.shape[0], len(negatives) + 1), dtype=np.float64)
    np.cumsum(w[:, negatives], axis=1, out=below[:, 1:])
    scores = p[positive]
    left = np.searchsorted(neg_scores, scores, side="left")
    right = np.searchsorted(neg_scores, scores, side="right")
    num = 0.5 * np.einsum("ij,ij->i", w[:, positive], below[:, left] + below[:, right])
    return _safe(num, pos_total * neg_total)


def _average_precision(w: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """scikit-learn's average precision: Σ over thresholds of Δrecall × precision."""
    order, starts = _groups(p, descending=True)
    ws, ys = w[:, order], y[order].astype(np.float64)
    pos = np.add.reduceat(ws * ys, starts, axis=1)
    neg = np.add.reduceat(ws, starts, axis=1) - pos
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    precision = _safe(tp, tp + fp, 0.0)
    return _safe((pos * precision).sum(axis=1), pos.sum(axis=1))


def _mean(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    return _safe(w @ v.astype(w.dtype), w.sum(axis=1, dtype=np.float64))


def _log_loss(w: np.ndarray, y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    clipped = np.clip(proba, 1e-15, 1)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    return _mean(w, -np.log(clipped[np.arange(len(y)), y]))


def _counts(w: np.ndarray, truth: np.ndarray, said: np.ndarray) -> tuple[np.ndarray, ...]:
    t, s = truth.astype(w.dtype), said.astype(w.dtype)
    return w @ (t * s), w @ ((1 - t) * s), w @ (t * (1 - s))  # tp, fp, fn


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    return _safe(2 * tp, 2 * tp + fp + fn, 0.0)


def _binary(name: str, w: np.ndarray, y: np.ndarray, proba: np.ndarray, t: float) -> np.ndarray:
    p = proba[:, 1]
    if name == "roc_auc":
        return _auc(w, y, p)
    if name == "pr_auc":
        return _average_precision(w, y, p)
    if name == "log_loss":
        return _log_loss(w, y, proba)
    said = p >= t
    if name == "accuracy":
        return _mean(w, (said == (y == 1)).astype(np.float64))
    tp, fp, fn = _counts(w, y == 1, said)
    if name == "f1":
        return _f1(tp, fp, fn)
    if name == "precision":
        return _safe(tp, tp + fp, 0.0)
    if name == "recall":
        return _safe(tp, tp + fn, 0.0)
    raise KeyError(name)


def _multiclass(name: str, w: np.ndarray, y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    k = proba.shape[1]
    said = proba.argmax(axis=1)
    if name == "accuracy":
        return _mean(w, (said == y).astype(np.float64))
    if name == "log_loss":
        return _log_loss(w, y, proba)
    if name == "f1_macro":
        return np.mean([_f1(*_counts(w, y == c, said == c)) for c in range(k)], axis=0)
    if name == "roc_auc_ovr":  # macro: the plain mean of each class against the rest
        return np.mean([_auc(w, (y == c).astype(np.int64), proba[:, c]) for c in range(k)], 0)
    raise KeyError(name)


def _regression(name: str, w: np.ndarray, y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    error = y - predicted
    if name == "rmse":
        return np.sqrt(_mean(w, error**2))
    if name == "mae":
        return _mean(w, np.abs(error))
    if name == "r2":
        total = w.sum(axis=1)
        spread = w @ (y**2) - _safe((w @ y) ** 2, total)
        return 1 - _safe(w @ (error**2), np.where(spread > 1e-12 * np.maximum(total, 1), spread, 0))
    raise KeyError(name)


def weighted_metric(
    name: str,
    task: str,
    w: np.ndarray,
    y: np.ndarray,
    scores: np.ndarray,
    threshold: float | None = None,
) -> np.ndarray:
    """``name`` for each row of weights ``w`` ([resamples, rows]); NaN where undefined."""
    if task == REGRESSION:
        return _regression(name, w, np.asarray(y, np.float64), np.asarray(scores, np.float64))
    y = np.asarray(y, dtype=np.int64)
    if task == MULTICLASS:
        return _multiclass(name, w, y, scores)
    return _binary(name, w, y, scores, 0.5 if threshold is None else threshold)


def _resample_weights(rng: np.random.Generator, rows: int, count: int) -> np.ndarray:
    """Multinomial counts: each of ``count`` resamples draws ``rows`` rows with replacement."""
    picks = rng.integers(0, rows, size=(count, rows)) + (np.arange(count) * rows)[:, None]
    counts = np.bincount(picks.ravel(), minlength=count * rows).reshape(count, rows)
    return counts.astype(np.float32)  # exact for counts; half the memory traffic of float64


def paired(
    metric: str,
    task: str,
    y: np.ndarray,
    scores: Sequence[np.ndarray],
    thresholds: Sequence[float | None],
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The metric of each of ``scores`` on all rows ([m]) and on each resample where it is
    defined for all of them ([used, m]); the same seed draws the same resamples."""
    rows = len(y)
    point = np.array(
        [
            weighted_metric(metric, task, np.ones((1, rows)), y, s, t)[0]
            for s, t in zip(scores, thresholds, strict=True)
        ]
    )
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, _CELLS // max(rows, 1)))
    values = []
    for start in range(0, resamples, chunk):
        w = _resample_weights(rng, rows, min(chunk, resamples - start))
        values.append(
            np.column_stack(
                [
                    weighted_metric(metric, task, w, y, s, t)
                    for s, t in zip(scores, thresholds, strict=True)
                ]
            )
        )
    table = np.vstack(values)
    return point, table[~np.isnan(table).any(axis=1)]


def resamples_for(rows: int) -> int:
    """1,000 resamples up to 20,000 rows; fewer (never under 400) beyond, where the interval
    is narrow anyway, so that the gate stays near a second on a busy 2-core box."""
    return int(min(RESAMPLES, max(400, _BUDGET // max(rows, 1))))


def compare(
    metric: str,
    task: str,
    y: np.ndarray,
    model: tuple[np.ndarray, float | None],
    others: dict[str, tuple[np.ndarray, float | None]],
    resamples: int | None = None,
    seed: int = 0,
    source: str = "holdout",
) -> dict[str, Comparison]:
    """``model`` against each of ``others`` (name → scores, threshold) on ``metric``, all on
    the same resamples of the rows (paired)."""
    resamples = resamples or resamples_for(len(y))
    named = list(others.items())
    point, table = paired(
        metric,
        task,
        y,
        [model[0], *(s for _, (s, _t) in named)],
        [model[1], *(t for _, (_s, t) in named)],
        resamples,
        seed,
    )
    tail = (1 - LEVEL) / 2

    def interval(value: float, column: np.ndarray) -> Interval:
        if not len(column):
            return Interval(float(value), float("nan"), float("nan"))
        low, high = np.quantile(column, [tail, 1 - tail])
        return Interval(float(value), float(low), float(high))

    mine = interval(point[0], table[:, 0])
    return {
        name: Comparison(
            metric,
            mine,
            interval(point[i], table[:, i]),
            interval(point[0] - point[i], table[:, 0] - table[:, i]),
            len(y),
            len(table),
            resamples - len(table),
            source,
        )
        for i, (name, _) in enumerate(named, start=1)
    }
