"""Batch scoring: a table scored by a registered model, as the endpoint would score it.

``score_table`` reads a table (a path, ``file://`` or ``s3://``), loads the model the way the
predictor does (``serving.model_source.resolve``: registry lookup, checksum, bundle), puts the
features in their canonical form (``features.canonical_columns``) and scores them with the
predictor's own :class:`~shipyard.serving.predictor.Scorer` (the proven fast path, else the
pipeline) — so every label and probability equals the endpoint's answer for the same row. The
input rules are the endpoint's too: a null in a feature that had none in training, or a
non-finite number, stops the batch naming the column.

The predictions (row id, model name and version, ``predict``, ``proba_<class>`` per class
for classifiers and, when asked, the endpoint's exact contributions: ``contribution_<feature>``
and ``contribution_base``, see ``Contributions.frame``) are written as Parquet locally and,
optionally, to a destination URI. The batch is compared with the training data of the version
through the drift detector stored with it (``registry.load_drift_detector``), reported in
Markdown and as metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shipyard.errors import ConfigError, ModelNotFound, SchemaError
from shipyard.settings import Settings, get_settings
from shipyard.steps.score_chunks import score_in_chunks

if TYPE_CHECKING:
    from shipyard.data.schema import Column, Schema
    from shipyard.model.bundle import LoadedModel
    from shipyard.monitoring.drift import DriftResult
    from shipyard.serving.model_source import ServedModel

ROW_COLUMN = "row"
RESERVED = ("model_name", "model_version", "predict")
MAX_DRIFT_ROWS = 100_000
DEFAULT_BATCH_PIPELINE_FILE = Path("build/batch_scoring_pipeline.yaml")


@dataclass
class BatchResult:
    """What a batch produced: where the predictions are, and how the batch compares with the
    training data of the model version that scored it."""

    source: str
    model_name: str
    version: str
    model_uri: str
    task: str
    rows: int
    id_column: str
    output: str
    destination: str = ""
    drift: DriftResult | None = None
    drift_rows: int = 0
    drift_note: str = ""
    predicted: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.drift is None:
            return f"not checked: {self.drift_note}"
        if self.drift.is_drift:
            return (
                f"DRIFT in {', '.join(self.drift.drifted)} "
                f"(p < {self.drift.threshold:.3g}, Bonferroni-corrected)"
            )
        return (
            f"no drift (min p-value {min(self.drift.p_values.values()):.3g}, "
            f"threshold {self.drift.threshold:.3g})"
        )

    def metrics(self) -> dict[str, float]:
        """For KFP's ``Metrics``: numbers only."""
        values: dict[str, float] = {"rows_scored": float(self.rows)}
        if self.drift is not None:
            values.update(
                drift=float(self.drift.is_drift),
                drifted_features=float(len(self.drift.drifted)),
                min_p_value=float(min(self.drift.p_values.values())),
            )
        return values

    def metadata(self) -> dict[str, Any]:
        """For the predictions ``Dataset``: what the run summary shows."""
        return {
            "model_name": self.model_name,
            "version": self.version,
            "id_column": self.id_column,
            "destination": self.destination,
            "drift_verdict": self.verdict,
            **self.metrics(),
        }

    def markdown(self) -> str:
        lines = [
            f"# Batch scoring: {self.model_name} v{self.version}",
            "",
            f"- source: `{self.source}`",
            f"- model: `{self.model_uri}` ({self.task})",
            f"- rows scored: {self.rows} (row id: `{self.id_column}`)",
            f"- predictions: `{self.output}`"
            + (f" and `{self.destination}`" if self.destination else ""),
            "",
            "## Predictions",
            "",
        ]
        if self.task == "regression":
            lines.append(", ".join(f"{k} {v:.4g}" for k, v in self.predicted.items()))
        else:
            lines += ["| predict | rows | share |", "|---|---|---|"]
            lines += [
                f"| {label} | {count} | {count / max(self.rows, 1):.1%} |"
                for label, count in self.predicted.items()
            ]
        lines += [
            "",
            f"## Drift against the training data of v{self.version}",
            "",
            f"**Verdict:** {self.verdict}",
            "",
        ]
        if self.drift is not None:
            sampled = (
                f" (a random sample of {self.drift_rows} of the {self.rows} rows)"
                if self.drift_rows < self.rows
                else ""
            )
            lines += [
                f"Each feature tested on {self.drift_rows} rows{sampled}: "
                "Kolmogorov-Smirnov for numerics, Chi² for categoricals.",
                "",
                "| feature | p-value | statistic | drift |",
                "|---|---|---|---|",
            ]
            for name, p_value in sorted(self.drift.p_values.items(), key=lambda kv: kv[1]):
                lines.append(
                    f"| {name} | {p_value:.4g} | {self.drift.statistics[name]:.4g} | "
                    f"{'**yes**' if self.drift.feature_drift[name] else '-'} |"
                )
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        where = self.output + (f" and {self.destination}" if self.destination else "")
        return (
            f"scored {self.rows} rows of {self.source} with {self.model_uri} "
            f"({self.model_name} v{self.version}); predictions: {where}; "
            f"drift: {self.verdict}"
        )


def score_table(
    source: str,
    model_ref: str = "models:/shipyard-fraud@champion",
    output: str | Path = "predictions.parquet",
    destination: str = "",
    id_column: str = "",
    settings: Settings | None = None,
    report_path: str | Path | None = None,
    max_drift_rows: int = MAX_DRIFT_ROWS,
    contributions: bool = False,
) -> BatchResult:
    """Score ``source`` with ``model_ref``; write the predictions (Parquet) to ``output`` and,
    if given, ``destination`` (a path or ``s3://``; CSV or Parquet by extension);
    ``contributions``: also each feature's exact contribution (columns ``contribution_*``)."""
    from shipyard.data.sources import table_format, uri_scheme
    from shipyard.serving.predictor import Scorer

    settings = settings or get_settings()
    if id_column in RESERVED or id_column.startswith(("proba_", "contribution_")):
        raise ConfigError(
            f"id column {id_column!r} would clash with an output column",
            hint=f"outputs are {', '.join(RESERVED)}, proba_<class> and contribution_*",
        )
    if destination:
        uri_scheme(destination), table_format(destination)  # fail before any work
    served = _resolve(model_ref, settings)
    model = served.model
    frame, columns = _read_checked(source, served, id_column, settings)
    scorer = Scorer(model)
    if contributions and scorer.explainer is None:
        raise ConfigError(
            f"model {served.name} v{served.version} has no exact contributions: "
            f"{scorer.explain_note}",
            hint="score without contributions, or train the model again",
        )
    results, explained = score_in_chunks(scorer, columns, len(frame), contributions)
    predictions = _predictions(frame, results, model.classes, served, id_column)
    if explained is not None:
        predictions = pd.concat([predictions, explained], axis=1)

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    predictions.to_parquet(output, index=False)
    written = ""
    if destination:
        from shipyard.data.sources import write_table

        written = write_table(predictions, destination, settings)
    predicted = _predicted_summary(results["predict"][1], model.classes)
    row_id = id_column or ROW_COLUMN
    result = BatchResult(source, served.name, served.version, model_ref, model.task, len(frame),
                         row_id, str(output), written, predicted=predicted)  # fmt: skip
    _score_drift(result, columns, model_ref, served, settings, max_drift_rows)
    if report_path is not None:
        Path(report_path).write_text(result.markdown())
    return result


def _read_checked(
    source: str, served: ServedModel, id_column: str, settings: Settings
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The table and its features decoded as the endpoint decodes them; a missing feature,
    a bool that is not one or a value the endpoint refuses is one line naming it."""
    from shipyard.data.features import canonical_inputs
    from shipyard.data.sources import read_table

    model = served.model
    frame = read_table(source, settings)
    _check_features(list(frame.columns), model, source, served.version, id_column)
    try:
        columns = canonical_inputs(frame, model.schema)
    except ValueError as exc:  # a bool column holding something that is not a bool
        name = next(n for n in model.features if _bad_bool(frame[n], model.schema.column(n)))
        raise SchemaError(f"{source}: feature {name!r}: {exc}") from None
    _check_values(columns, model.schema, source)
    return frame, columns


def _resolve(model_ref: str, settings: Settings) -> ServedModel:
    """The predictor's loader; a model, version or alias that does not exist says what to do."""
    from shipyard.serving.model_source import resolve

    try:
        return resolve(model_ref, settings)
    except ModelNotFound as exc:
        if exc.hint:
            raise
        raise ModelNotFound(
            exc.message,
            hint="register one with `shipyard run`, or name an existing alias or version",
        ) from exc


def preflight(
    source: str,
    model_ref: str,
    destination: str = "",
    id_column: str = "",
    settings: Settings | None = None,
) -> str:
    """What can be checked before a pipeline starts, each failing with one line: MLflow and
    S3 answer (``shipyard.preflight``), the model exists (and is fetched into the cache the
    score step reads), the destination can be written, and a local table reads and holds the
    model's features. Returns the version."""
    from shipyard.data.sources import table_columns, table_format, uri_scheme
    from shipyard.preflight import check_services

    settings = settings or get_settings()
    if destination:
        uri_scheme(destination), table_format(destination)
    check_services(settings, reads=[source], writes=[destination])
    served = _resolve(model_ref, settings)
    columns = table_columns(source)
    if columns is not None:
        _check_features(columns, served.model, source, served.version, id_column)
    return served.version


def _check_features(
    columns: list[str], model: LoadedModel, source: str, version: str, id_column: str
) -> None:
    missing = [f for f in model.features if f not in columns]
    if missing:
        raise SchemaError(
            f"{source} lacks {len(missing)} feature(s) the model (v{version}) "
            f"needs: {', '.join(missing)}",
            hint=f"the model's features: {', '.join(model.features)}",
        )
    if id_column and id_column not in columns:
        shown = ", ".join(map(str, columns[:12])) + (" …" if len(columns) > 12 else "")
        raise SchemaError(f"{source} has no id column {id_column!r}", hint=f"columns: {shown}")


def _bad_bool(values: pd.Series, column: Column) -> bool:
    from shipyard.data.features import canonical_values

    try:
        canonical_values(values, column)
    except ValueError:
        return True
    return False


def _check_values(columns: dict[str, np.ndarray], schema: Schema, source: str) -> None:
    """The endpoint's rules (a 400 there): no null in a feature declared not nullable, no
    infinite number anywhere."""
    for name, values in columns.items():
        nullable = schema.column(name).nullable
        if values.dtype == object:  # categorical: only nulls can be wrong here
            bad = np.zeros(len(values), bool) if nullable else pd.isna(values)
            what = "nulls; this feature is declared not nullable"
        else:
            bad = np.isinf(values) if nullable else ~np.isfinite(values)
            what = (
                "infinite values"
                if nullable
                else "nulls or non-finite values; this feature takes finite numbers only"
            )
        if bad.any():
            rows = np.flatnonzero(bad)[:5].tolist()
            raise SchemaError(
                f"{source}: feature {name!r} has {what} (rows {rows}, {int(bad.sum())} in all)",
                hint="fill or drop those rows; the endpoint refuses them too",
            )


def _predictions(
    frame: pd.DataFrame,
    results: dict,
    classes: list[Any] | None,
    served: ServedModel,
    id_column: str,
) -> pd.DataFrame:
    ids = frame[id_column].to_numpy() if id_column else np.arange(len(frame))
    out = pd.DataFrame({id_column or ROW_COLUMN: ids})
    out["model_name"] = served.name
    out["model_version"] = served.version
    out["predict"] = results["predict"][1]
    if classes is not None:
        proba = results["predict_proba"][1]
        for j, label in enumerate(classes):
            out[f"proba_{label}"] = proba[:, j]
    return out


def _predicted_summary(labels: np.ndarray, classes: list[Any] | None) -> dict[str, Any]:
    if classes is None:
        values = np.asarray(labels, dtype=np.float64)
        return {
            "mean": float(values.mean()),
            "min": float(values.min()),
            "max": float(values.max()),
        }
    counts = pd.Series(labels).value_counts()
    return {str(label): int(counts.get(label, 0)) for label in classes}


def _score_drift(
    result: BatchResult,
    columns: dict[str, np.ndarray],
    model_ref: str,
    served: ServedModel,
    settings: Settings,
    max_rows: int,
) -> None:
    """The batch against the version's stored detector, as the drift sidecar scores windows:
    a seeded sample of at most ``max_rows`` rows, picked before any frame is built (no copy
    of the whole table)."""
    from shipyard.model.ref import ModelRef

    if not ModelRef.is_ref(model_ref):
        result.drift_note = "the model is not from the registry, so no detector is stored"
        return
    from shipyard.registry.detectors import load_drift_detector

    try:  # pinned to the version that scored, even if the alias moves meanwhile
        detector = load_drift_detector(ModelRef.of(served.name, served.version), settings)
    except ModelNotFound as exc:
        result.drift_note = exc.message
        return
    rows = result.rows
    picked = (
        np.sort(np.random.default_rng(0).choice(rows, max_rows, replace=False))
        if rows > max_rows
        else slice(None)
    )
    window = pd.DataFrame({name: values[picked] for name, values in columns.items()})
    window = window[served.model.features]
    result.drift, result.drift_rows = detector.score(window), len(window)
