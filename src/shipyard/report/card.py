"""The model card of a registered version: one self-contained HTML page, written at register
and stored with the version (MLflow artifacts ``model_card/``), also the register step's KFP
HTML artifact. It answers what a reviewer asks before a model serves: what it is, what it
learnt from, how it was chosen, how good it is (with intervals, per slice), what drives it,
why the gate let it through, and what monitoring will watch.

Figures are the run report's own (``report.model_view``); the run report shows this card in
place of repeating them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.features import canonical_inputs
from shipyard.model.bundle import LoadedModel
from shipyard.model.evaluation import primary_metric
from shipyard.model.task import REGRESSION
from shipyard.model.uncertainty import LEVEL, paired
from shipyard.report.page import Section, render

CARD_FILE = "model_card.html"
METRICS = {
    "binary": ("roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "log_loss"),
    "multiclass": ("accuracy", "f1_macro", "roc_auc_ovr", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}
SLICE_MIN_ROWS = 20  # a category with fewer test rows says little about the model on it
SLICE_MAX = 8  # categories shown per column (the most frequent)
RESAMPLES = 400
IMPORTANCE_ROWS = 20_000  # test rows the importance table explains (a seeded sample above)


@dataclass
class CardInputs:
    """What the register step knows when it writes the card."""

    model: LoadedModel
    test: pd.DataFrame
    train: pd.DataFrame | None
    name: str
    version: str
    lineage: dict[str, str]
    gate_markdown: str
    monitoring: dict[str, Any]
    search: dict[str, Any] | None = None  # the tune step's search (Registry.search_record)


def _interval(metric: str, model: LoadedModel, y: np.ndarray, scores: np.ndarray) -> str:
    point, table = paired(metric, model.task, y, [scores], [model.threshold], RESAMPLES)
    if not len(table):
        return f"{point[0]:.4f}"
    tail = (1 - LEVEL) / 2
    low, high = np.quantile(table[:, 0], [tail, 1 - tail])
    return f"{point[0]:.4f} ({low:.4f}–{high:.4f})"


def identity(inputs: CardInputs) -> Section:
    model, lineage = inputs.model, inputs.lineage
    rows = [
        ("model", f"models:/{inputs.name}/{inputs.version}"),
        ("task", model.task),
        ("classes", ", ".join(map(str, model.classes)) if model.classes else "–"),
        ("family", str(model.manifest.get("model_type"))),
        ("decision threshold", "–" if model.threshold is None else f"{model.threshold:.4f}"),
        ("data hash", lineage.get("shipyard.data_hash", "") or "–"),
        ("pipeline run", lineage.get("shipyard.pipeline_run_id", "–")),
        ("code commit", lineage.get("shipyard.git_commit", "–")),
        ("card written", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
    ]
    return Section("identity", "Identity").table(["field", "value"], rows)


def _value_range(column: Any) -> str:
    if column.categories:
        shown = column.categories[:12]
        more = len(column.categories) - len(shown)
        return ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")
    if column.min is None or column.max is None:
        return ""
    if column.kind == "datetime":
        low, high = (datetime.fromtimestamp(v, UTC).date() for v in (column.min, column.max))
        return f"{low} to {high}"
    return f"{column.min:.6g} to {column.max:.6g}"


def data(inputs: CardInputs) -> Section:
    model, section = inputs.model, Section("dataset", "Data it learnt from")
    schema = model.schema
    train_rows = len(inputs.train) if inputs.train is not None else None
    section.text(
        f"{train_rows if train_rows is not None else 'unknown'} training rows, "
        f"{len(inputs.test)} test rows; {len(model.features)} features."
    )
    if inputs.train is not None and model.task != REGRESSION:
        balance = inputs.train[schema.target].value_counts(normalize=True)
        section.table(["label", "share of training rows"],
                      [(str(k), f"{v:.1%}") for k, v in balance.items()])  # fmt: skip
    times = [c.name for c in schema.columns if c.kind in ("timestamp", "datetime")]
    if inputs.train is not None:
        for name in times:
            if name in inputs.train.columns:
                when = pd.to_datetime(inputs.train[name], errors="coerce", utc=True).dropna()
                if len(when):
                    section.text(f"`{name}` spans {when.min().date()} to {when.max().date()}.")
    section.table(
        ["column", "kind", "values seen in training", "nulls in training"],
        [
            (c.name, c.kind, _value_range(c), "yes" if c.trained_with_nulls else "no")
            for c in schema.columns
            if c.name in model.features
        ],
    )
    ignored = [(c.name, c.note or "") for c in schema.ignored]
    if ignored:
        section.table(["left out", "why"], ignored)
    return section


def training(inputs: CardInputs) -> Section:
    params = inputs.model.manifest.get("params") or {}
    section = Section("training", "Training").text(
        f"Family `{inputs.model.manifest.get('model_type')}`; hyperparameters as fitted:"
    )
    section.table(["parameter", "value"], [(k, str(v)) for k, v in params.items()])
    search = inputs.search
    if not search:
        return section.text("No search: the train step's model, as configured.")
    budget = search["params"]
    section.text(
        f"The search: {search['trials']} trials (successive halving) over the families "
        f"{budget.get('families', '?')}, {budget.get('n_candidates', '?')} candidates each; "
        "then the finalists cross-validated on the same folds, the best kept:"
    )
    scores = sorted(
        (split, value)
        for name, value in search["metrics"].items()
        if (split := _metric_and_candidate(name)) is not None
    )
    return section.table(["candidate", "metric", "cross-validated"],
                         [(c, m, f"{v:.4f}") for (m, c), v in scores])  # fmt: skip


def _metric_and_candidate(name: str) -> tuple[str, str] | None:
    """``cv_<metric>_<candidate>`` as logged by tune (metric names hold underscores too)."""
    from shipyard.model.evaluation import METRICS

    rest = name.removeprefix("cv_")
    if rest == name:
        return None
    for metric in sorted(METRICS, key=len, reverse=True):
        if rest.startswith(metric + "_"):
            return metric, rest[len(metric) + 1 :]
    return None


def evaluation(inputs: CardInputs, figures: dict[str, str]) -> Section:
    model, test = inputs.model, inputs.test
    y, scores = model.label_values(test), model.scores(test)
    section = Section("evaluation", "Evaluation on the test rows")
    section.text(
        f"Each metric with its {LEVEL:.0%} bootstrap interval ({RESAMPLES} resamples of "
        f"{len(test)} rows)."
    )
    rows = []
    for metric in METRICS[model.task]:
        try:
            rows.append((metric, _interval(metric, model, y, scores)))
        except (KeyError, ValueError):
            continue
    section.table(["metric", "value (interval)"], rows)
    section.figures({k: v for k, v in figures.items() if k != "Permutation importance"})
    return section.markdown(slices(model, test, y, scores))


def slices(model: LoadedModel, test: pd.DataFrame, y: np.ndarray, scores: np.ndarray) -> str:
    """The primary metric per category of every categorical feature (the most frequent)."""
    metric = primary_metric(model.task)
    lines = [f"**{metric} per slice** (categories with at least {SLICE_MIN_ROWS} test rows)", ""]
    lines += ["| column | category | rows | " + metric + " |", "|---|---|---|---|"]
    found = False
    for name in model.schema.categorical:
        if name not in test.columns:
            continue
        values = test[name].astype("string").fillna("(missing)")
        for category, count in values.value_counts().head(SLICE_MAX).items():
            if count < SLICE_MIN_ROWS:
                continue
            mask = (values == category).to_numpy()
            point, _ = paired(metric, model.task, y[mask], [scores[mask]], [model.threshold], 1)
            if np.isfinite(point[0]):
                lines.append(f"| {name} | {category} | {count} | {point[0]:.4f} |")
                found = True
    return "\n".join(lines) + "\n" if found else "No categorical slice has enough test rows.\n"


def importance(inputs: CardInputs, explainer: Any, why: str, view: Any) -> Section:
    """Mean |contribution| per source column with the mean's sign where the model has exact
    contributions; permutation importance otherwise."""
    model, section = inputs.model, Section("importance", "What drives it")
    if explainer is not None:
        test = inputs.test
        if len(test) > IMPORTANCE_ROWS:  # a mean: a seeded sample tells it (10 s for 200k rows)
            test = test.sample(IMPORTANCE_ROWS, random_state=0)
        values = explainer.contributions(canonical_inputs(test, model.schema)).values
        if values.ndim == 3:  # multiclass: every class's contributions
            values = values.reshape(-1, values.shape[-1])
        size, sign = np.abs(values).mean(axis=0), values.mean(axis=0)
        order = np.argsort(-size)
        over = (
            "the test rows"
            if len(test) == len(inputs.test)
            else (f"a random sample of {len(test):,} of the {len(inputs.test):,} test rows")
        )
        section.text(
            f"Mean |contribution| per column over {over} (exact, in {explainer.space} "
            "units), and the mean contribution's sign."
        )
        return section.table(
            ["column", "mean |contribution|", "mean contribution"],
            [(model.features[i], f"{size[i]:.4g}", f"{sign[i]:+.4g}") for i in order],
        )
    section.text(f"No exact contributions ({why}); permutation importance instead.")
    return section.table(
        ["column", f"drop in {view.metric}"], [(n, f"{d:.4f}") for n, d in view.importance]
    )


def monitoring(inputs: CardInputs) -> Section:
    contract = inputs.monitoring
    outlier = inputs.model.manifest.get("outlier") or {}
    rows = [(k, str(v)) for k, v in contract.items()]
    if outlier:
        rows.append(
            (
                "outlier cutoff",
                f"{outlier['cutoff']} (the {outlier['percentile']:g}th "
                "percentile of training rows' scores)",
            )  # fmt: skip
        )
    return Section("monitoring", "Monitoring contract").table(["what", "value"], rows)


def build_card(inputs: CardInputs) -> str:
    """The card as one HTML page."""
    from shipyard.model.contributions import explainer_for
    from shipyard.report.model_view import model_view

    explainer, why = explainer_for(inputs.model)
    view = model_view(inputs.model, inputs.test, importance=explainer is None)
    sections = [
        identity(inputs),
        data(inputs),
        training(inputs),
        evaluation(inputs, view.figures),
        importance(inputs, explainer, why, view),
        Section("gate", "Gate: why it was registered so").markdown(inputs.gate_markdown),
        monitoring(inputs),
    ]
    return render(f"Model card: {inputs.name} v{inputs.version}", sections)
