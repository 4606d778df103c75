"""What the validate step checks: each frame against the schema (columns, types, labels,
ranges, categories, nulls), the training frame for possible leakage, and train against test
for skew. Every finding goes into one report; none raises here."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from shipyard.data.schema import (
    CATEGORICAL,
    DATETIME,
    NUMERIC,
    TIMESTAMP,
    Column,
    Schema,
)
from shipyard.errors import ConfigError
from shipyard.model.task import REGRESSION, is_classification, plain, with_task
from shipyard.steps.validation_report import (
    LEAKAGE_AGREEMENT,
    RANGE_FACTOR,
    SKEW_ACTIONS,
    SKEW_ALPHA,
    SKEW_MAX_ROWS,
    WARNING_RULES,
    ValidationReport,
    Violation,
    distribution,
)


def validate_frames(
    frames: dict[str, pd.DataFrame],
    schema: Schema,
    cv_folds: int = 0,
    skew_action: str = "report",
) -> ValidationReport:
    """Check each named frame against ``schema``, then the first frame against the others."""
    if skew_action not in SKEW_ACTIONS:
        raise ConfigError(
            f"unknown skew_action {skew_action!r}", hint=f"use one of {', '.join(SKEW_ACTIONS)}"
        )
    rules = WARNING_RULES - ({"train/test skew"} if skew_action == "fail" else set())
    report = ValidationReport(cv_folds=cv_folds, warning_rules=rules)
    first = next(iter(frames.values()))
    if schema.task is None and schema.target in first.columns:  # decide as validate() does
        schema, report.task_reason = with_task(schema, first[schema.target])
    for name, frame in frames.items():
        report.rows[name] = len(frame)
        _check_frame(name, frame, schema, report)
        if schema.target in frame.columns:
            report.labels[name] = distribution(frame[schema.target], schema)
    if schema.target in first.columns:
        _check_leakage(first, schema, report)
    names = list(frames)
    for other in names[1:]:
        _check_skew(frames[names[0]], frames[other], other, schema, report)
    return report


def _check_leakage(train: pd.DataFrame, schema: Schema, report: ValidationReport) -> None:
    """A feature that (nearly) equals the label is reported: it may be the answer itself,
    unavailable when the model is asked in production."""
    labels = train[schema.target]
    text = labels.astype(str)
    numeric_label = pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels)
    for name in schema.features:
        if name not in train.columns or schema.column(name).kind == DATETIME:
            continue
        series = train[name]
        agreement = float((series.astype(str) == text).mean())
        if agreement < LEAKAGE_AGREEMENT and numeric_label and schema.column(name).kind == NUMERIC:
            pair = pd.DataFrame({"f": pd.to_numeric(series, errors="coerce"), "y": labels}).dropna()
            if len(pair) > 2 and pair["f"].std() > 0 and pair["y"].std() > 0:
                agreement = abs(float(pair["f"].corr(pair["y"])))
        _add(
            report,
            agreement < LEAKAGE_AGREEMENT,
            "train",
            name,
            "possible leakage",
            f"agrees with the label {schema.target!r} ({agreement:.3f})",
            "a feature known before the label is",
        )


def _add(report: ValidationReport, ok: bool, *violation: str) -> None:
    report.checks += 1
    if not ok:
        found = Violation(*violation)
        (report.warnings if found.rule in report.warning_rules else report.violations).append(found)


def _check_categories(
    name: str, column: Column, series: pd.Series, report: ValidationReport
) -> None:
    """Values the schema's categories do not know (served as 'none of the known')."""
    text = series.dropna().astype(str)
    unknown = sorted(set(text.unique()) - set(column.categories or text.unique()))
    shown = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
    known = column.categories or []
    _add(
        report,
        not unknown,
        name,
        column.name,
        "categories",
        f"{int(text.isin(unknown).sum())} row(s) with {len(unknown)} unseen value(s): {shown}",
        f"one of {', '.join(known[:10])}{' …' if len(known) > 10 else ''} "
        "(unseen ones are served as 'none of the known')",
    )


def _check_frame(name: str, frame: pd.DataFrame, schema: Schema, report: ValidationReport) -> None:
    _add(report, len(frame) > 0, name, "*", "rows", "0 rows", "at least 1 row")
    present = set(map(str, frame.columns))
    for column in schema.columns:
        _add(
            report,
            column.name in present,
            name,
            column.name,
            "column present",
            "missing",
            f"a {column.kind} column",
        )
    unexpected = sorted(present - set(schema.names))
    _add(
        report,
        not unexpected,
        name,
        ",".join(unexpected) or "-",
        "unexpected columns",
        ", ".join(unexpected),
        "only the schema's columns",
    )
    for column in schema.columns:
        if column.name not in present:
            continue
        series = frame[column.name]
        nulls = int(series.isna().sum())
        if not column.nullable:
            _add(report, nulls == 0, name, column.name, "no nulls", f"{nulls} null(s)", "0")
        elif column.trained_with_nulls is False and name != "train":
            _add(
                report,
                nulls == 0,
                name,
                column.name,
                "nulls",
                f"{nulls} null(s) of {len(series)} rows",
                "none, as in training (the model imputes them)",
            )
        if column.kind == NUMERIC:
            _check_numeric(name, column, series, report, schema.inferred)
        elif column.kind == CATEGORICAL:
            _check_categories(name, column, series, report)
        elif column.kind == TIMESTAMP:
            _add(
                report,
                pd.api.types.is_datetime64_any_dtype(series),
                name,
                column.name,
                "dtype",
                str(series.dtype),
                "a timestamp",
            )
    if schema.target in present:
        _check_labels(name, frame[schema.target], schema, report)


def _check_labels(name: str, labels: pd.Series, schema: Schema, report: ValidationReport) -> None:
    """No null labels; a classifier's labels are its classes, and in training every class
    has enough rows for the cross-validation folds."""
    nulls = int(labels.isna().sum())
    _add(  # ingest drops unlabelled rows; a frame from elsewhere may still have them
        report,
        nulls == 0,
        name,
        schema.target,
        "label has no nulls",
        f"{nulls} null(s)",
        "every row labelled (drop unlabelled rows upstream)",
    )
    if schema.task == REGRESSION:
        numeric = pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels)
        _add(
            report,
            numeric,
            name,
            schema.target,
            "numeric label",
            str(labels.dtype),
            "numbers (task regression)",
        )
        return
    if not is_classification(schema.task or ""):
        return
    counts = pd.Series([plain(v) for v in labels.dropna()], dtype=object).value_counts()
    unknown = sorted(map(str, set(counts.index) - set(schema.classes or [])))
    _add(
        report,
        not unknown,
        name,
        schema.target,
        "label values are the classes",
        ", ".join(unknown[:10]),
        f"one of {', '.join(map(str, schema.classes or []))}",
    )
    _add(
        report,
        len(counts) >= 2,
        name,
        schema.target,
        "label has at least two classes",
        f"classes {sorted(map(str, counts.index))}",
        "two or more classes",
    )
    if name != "train" or len(counts) < 2 or not report.cv_folds:
        return
    smallest = int(counts.min())
    folds = max(2, min(report.cv_folds, smallest))
    schema.extra["cv_folds"] = folds
    _add(
        report,
        folds == report.cv_folds,
        name,
        schema.target,
        "cross-validation folds",
        f"class {counts.idxmin()!s} has {smallest} training row(s)",
        f"{report.cv_folds} folds; lowered to {folds}",
    )


def _check_numeric(
    name: str, column: Column, series: pd.Series, report: ValidationReport, inferred: bool
) -> None:
    is_numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    _add(report, is_numeric, name, column.name, "dtype", str(series.dtype), "numeric")
    if not is_numeric:
        return
    values = series.dropna().to_numpy(dtype=float)
    if values.size == 0:
        return
    _add(
        report,
        bool(np.isfinite(values).all()),
        name,
        column.name,
        "finite",
        f"{int((~np.isfinite(values)).sum())} non-finite",
        "finite numbers",
    )
    low, high = _bounds(column, inferred)
    if low is not None:
        below = values[values < low]
        _add(
            report,
            below.size == 0,
            name,
            column.name,
            "minimum",
            f"{below.size} value(s) below, e.g. {below.min() if below.size else 0:g}",
            f">= {low:g}",
        )
    if high is not None:
        above = values[values > high]
        _add(
            report,
            above.size == 0,
            name,
            column.name,
            "maximum",
            f"{above.size} value(s) above, e.g. {above.max() if above.size else 0:g}",
            f"<= {high:g}",
        )


def _bounds(column: Column, inferred: bool) -> tuple[float | None, float | None]:
    """Declared bounds as they are. Inferred ones are loose, to catch unit or sign errors
    rather than heavy tails: [0, 10 x max] where all training values were >= 0, otherwise
    the observed range widened by ten spans each side."""
    low, high = column.min, column.max
    if low is None or high is None or not inferred:
        return low, high
    if low >= 0:
        return 0.0, max(high * RANGE_FACTOR, 1.0)
    span = max(high - low, 1.0) * RANGE_FACTOR
    return low - span, high + span


def _check_skew(
    train: pd.DataFrame,
    other: pd.DataFrame,
    other_name: str,
    schema: Schema,
    report: ValidationReport,
) -> None:
    """Two-sample test per feature with a Bonferroni correction, via the drift detector.

    A threshold on an effect size (PSI) flags small random splits by chance alone; a test at a
    corrected level keeps the false-alarm rate at SKEW_ALPHA for any row count. Reusing
    DriftDetector makes validation and live drift monitoring judge shift the same way.
    """
    from shipyard.monitoring.drift import DriftDetector

    names = [
        n
        for n in schema.features
        if n not in schema.datetimes and _testable(train, n, schema) and _testable(other, n, schema)
    ]
    if not names:
        return
    columns = [_with_categories(schema.column(n), train) for n in names]
    subset = Schema(columns + [schema.column(schema.target)], schema.target)
    detector = DriftDetector.fit(train, subset, p_val=SKEW_ALPHA, max_rows=SKEW_MAX_ROWS)
    if len(other) > SKEW_MAX_ROWS:
        other = other.sample(SKEW_MAX_ROWS, random_state=42)
    result = detector.score(other)
    report.skew_threshold = result.threshold
    for name in names:
        p_value = result.p_values[name]
        report.skew[name] = p_value
        report.skew_statistics[name] = result.statistics[name]
        _add(
            report,
            p_value >= result.threshold,
            other_name,
            name,
            "train/test skew",
            f"p={p_value:.3g}",
            "p >= corrected threshold",
        )


def _testable(frame: pd.DataFrame, name: str, schema: Schema) -> bool:
    """Present with a usable value; an all-null (or, for numbers, non-numeric) column would
    only be the median the detector fills in, and the other rules report it."""
    if name not in frame.columns:
        return False
    series = frame[name]
    if schema.column(name).kind != CATEGORICAL:
        series = pd.to_numeric(series, errors="coerce")
    return bool(series.notna().any())


def _with_categories(column: Column, train: pd.DataFrame) -> Column:
    """A categorical column without declared categories takes the training ones, else the
    detector would encode every value as "unseen" and see no shift at all."""
    if column.kind != CATEGORICAL or column.categories:
        return column
    return replace(column, categories=sorted(map(str, train[column.name].dropna().unique())))
