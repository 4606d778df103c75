"""The validate step: check train/test data against the schema and against each other.

Every rule runs and every finding is collected, so one report lists all that is wrong
(column, rule, observed value, expectation) instead of the first problem only. A finding stops
the run only where the model or its serving contract would break (a missing column, an
incompatible type, no usable label); everything else a schema observed rather than promised
(ranges, categories, nulls, skew between random splits, possible leakage) is a warning with
counts and examples. ``skew_action="fail"`` makes skew a stop.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from shipyard.data.schema import (
    CATEGORICAL,
    DATETIME,
    NUMERIC,
    TIMESTAMP,
    Column,
    Schema,
    infer_schema,
)
from shipyard.errors import ConfigError, SchemaError, ValidationFailed
from shipyard.model.task import AUTO, REGRESSION, is_classification, plain, with_task
from shipyard.settings import Settings

# Family-wise false-alarm rate of the train/test skew check: a random split of any size is
# called skewed with probability at most this (per-feature tests at SKEW_ALPHA / features).
SKEW_ALPHA = 0.01
SKEW_MAX_ROWS = 5000  # rows per side the skew tests see: DriftDetector.fit's reference cap
RANGE_FACTOR = 10.0  # how loose inferred numeric bounds are (see _bounds)
# Rules that report without stopping: the schema observed these, it did not promise them.
WARNING_RULES = frozenset(
    {
        "unexpected columns",
        "no nulls",
        "nulls",
        "minimum",
        "maximum",
        "categories",
        "train/test skew",
        "possible leakage",
        "cross-validation folds",
    }
)
SKEW_ACTIONS = ("report", "fail")
LEAKAGE_AGREEMENT = 0.99  # a feature equal to the label on this share of rows


@dataclass(frozen=True)
class Violation:
    dataset: str
    column: str
    rule: str
    observed: str
    expected: str

    def __str__(self) -> str:
        return (
            f"{self.dataset}.{self.column}: {self.rule} — observed {self.observed}, "
            f"expected {self.expected}"
        )


@dataclass
class ValidationReport:
    violations: list[Violation] = field(default_factory=list)
    checks: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    skew: dict[str, float] = field(default_factory=dict)  # column -> skew test p-value
    skew_statistics: dict[str, float] = field(default_factory=dict)  # KS distance or Chi²
    skew_threshold: float | None = None  # Bonferroni-corrected per-column p-value threshold
    origin: str = "given"
    task: str = ""
    task_reason: str = ""
    cv_folds: int = 0  # cross-validation folds asked for; lowered to the smallest class
    warnings: list[Violation] = field(default_factory=list)
    warning_rules: frozenset[str] = WARNING_RULES
    preparation: dict[str, object] = field(default_factory=dict)  # what ingest did
    labels: dict[str, str] = field(default_factory=dict)  # split -> label distribution

    @property
    def ok(self) -> bool:
        return not self.violations

    def metrics(self) -> dict[str, float]:
        data = {
            "checks": float(self.checks),
            "violations": float(len(self.violations)),
            "warnings": float(len(self.warnings)),
        }
        data.update({f"{name}_rows": float(n) for name, n in self.rows.items()})
        if self.skew:
            data["min_skew_p_value"] = _round(min(self.skew.values()))
            data.update({f"skew_p_value_{c}": _round(p) for c, p in self.skew.items()})
        return data

    def markdown(self, schema: Schema) -> str:
        status = "PASSED" if self.ok else f"FAILED — {len(self.violations)} violation(s)"
        lines = [
            f"# Data validation: {status}",
            "",
            f"Rows: {', '.join(f'{k} {v}' for k, v in self.rows.items())}; "
            f"checks run: {self.checks}; schema {self.origin}, target `{schema.target}`.",
            "",
        ]
        lines += [f"**Task:** {schema.task} — {self.task_reason}."]
        if schema.classes is not None:
            positive = f"; positive class `{schema.classes[-1]}`" if schema.task == "binary" else ""
            lines += [
                f"**Classes** (model order): {', '.join(f'`{c}`' for c in schema.classes)}"
                f"{positive}."
            ]
        lines.append("")
        lines += _preparation_lines(self.preparation, self.rows, self.labels)
        if schema.datetimes:
            lines += [
                "**Dates and times used as features** (the model derives "
                "year, month, day, weekday, days since 1970 and, where times occur, hour): "
                + ", ".join(f"`{n}`" for n in schema.datetimes),
                "",
            ]
        if schema.ignored:
            lines += ["## Columns not used as features", "", "| column | why |", "|---|---|"]
            lines += [f"| {c.name} | {c.note} |" for c in schema.ignored]
            lines.append("")
        for title, found in (("Stops", self.violations), ("Warnings", self.warnings)):
            if not found:
                continue
            lines += [f"## {title}", ""]
            lines += ["| dataset | column | rule | observed | expected |", "|---|---|---|---|---|"]
            lines += [
                f"| {v.dataset} | {v.column} | {v.rule} | {v.observed} | {v.expected} |"
                for v in found
            ]
            lines.append("")
        if self.skew:
            lines += [
                f"## Train/test skew (KS / Chi² with Bonferroni, family-wise α={SKEW_ALPHA})",
                "",
                f"Each feature's train and test values are compared with a two-sample "
                f"test (Kolmogorov-Smirnov for numeric, Chi² for categorical columns; "
                f"at most {SKEW_MAX_ROWS} random rows a side). "
                f"A column is skewed when its p-value is below α / {len(self.skew)} "
                f"tested columns = {self.skew_threshold:.3g}, so a random split is "
                f"flagged by chance at most {SKEW_ALPHA:.0%} of the time, whatever the "
                f"row count. Columns all null on either side are not tested; most "
                f"skewed first.",
                "",
                "| column | test | statistic | p-value | skewed |",
                "|---|---|---|---|---|",
            ]
            lines += [
                f"| {c} | {'Chi²' if schema.column(c).kind == CATEGORICAL else 'KS'} | "
                f"{self.skew_statistics[c]:.4g} | {p:.3g} | "
                f"{'yes' if p < (self.skew_threshold or 0.0) else 'no'} |"
                for c, p in sorted(self.skew.items(), key=lambda i: i[1])
            ]
        return "\n".join(lines) + "\n"


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
            report.labels[name] = _distribution(frame[schema.target], schema)
    if schema.target in first.columns:
        _check_leakage(first, schema, report)
    names = list(frames)
    for other in names[1:]:
        _check_skew(frames[names[0]], frames[other], other, schema, report)
    return report


def _preparation_lines(
    preparation: dict[str, object], rows: dict[str, int], labels: dict[str, str]
) -> list[str]:
    """What ingest did to the table and how it split it, as the report's first section."""
    lines = ["## Data and split", ""]
    shown = {
        "rows_read": "rows read",
        "null_labels_dropped": "rows without a label, dropped",
        "dropped_classes": "classes with a single row, dropped",
        "numeric_with_tokens": "numbers with text tokens, read as null",
        "split_method": "split",
        "train_only_classes": "classes too small for the test set, kept in train",
    }
    lines += [
        f"- {text}: {_plain(preparation[key])}" for key, text in shown.items() if key in preparation
    ]
    lines += [f"- {name}: {n} rows; label {labels.get(name, '')}" for name, n in rows.items()]
    return lines + [""]


def _plain(value: object) -> object:
    """KFP metadata holds numbers as floats: 600.0 rows is 600 rows."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _distribution(labels: pd.Series, schema: Schema) -> str:
    """A label's distribution in a few words: class counts, or the range of a number."""
    values = labels.dropna()
    if schema.task == REGRESSION or not is_classification(schema.task or ""):
        numbers = pd.to_numeric(values, errors="coerce").dropna()
        if numbers.empty:
            return "no numbers"
        return (
            f"mean {numbers.mean():.4g}, std {numbers.std():.4g}, "
            f"range {numbers.min():.4g} to {numbers.max():.4g}"
        )
    counts = pd.Series([plain(v) for v in values], dtype=object).value_counts()
    parts = [f"{c}: {n} ({n / max(len(values), 1):.1%})" for c, n in counts.head(12).items()]
    return ", ".join(parts) + (f", … {len(counts) - 12} more" if len(counts) > 12 else "")


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
                f"{int(text.isin(unknown).sum())} row(s) with {len(unknown)} unseen "
                f"value(s): {shown}",
                f"one of {', '.join(known[:10])}{' …' if len(known) > 10 else ''} "
                "(unseen ones are served as 'none of the known')",
            )
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


def _round(p_value: float) -> float:
    return float(f"{p_value:.4g}")


def resolve_schema(
    train: pd.DataFrame,
    target: str,
    schema_uri: str = "",
    settings: Settings | None = None,
    ignore: list[str] | None = None,
) -> tuple[Schema, str]:
    """The schema to check against and where it came from.

    A declared ``schema_uri`` (local path or s3://) wins; otherwise the current champion's
    schema (stored with the model), so new data is checked against what the model saw;
    otherwise, on the first run, the schema is inferred from the training data.
    """
    if schema_uri:
        return _read_schema(schema_uri, settings), f"declared ({schema_uri})"
    from shipyard.registry.client import champion_schema

    stored = champion_schema(settings)
    if stored is not None:
        schema, version = stored
        return schema, f"stored with the champion model (v{version})"
    drop = settings.drop_unusable_columns if settings else True
    return (
        infer_schema(train, target, ignore=ignore or [], drop_unusable=drop),
        "inferred from this training data",
    )


def _read_schema(uri: str, settings: Settings | None) -> Schema:
    if uri.startswith("s3://"):
        import tempfile
        from pathlib import Path

        from shipyard import storage

        with tempfile.TemporaryDirectory() as tmp:
            return Schema.load(storage.download(uri, Path(tmp) / "schema.json", settings))
    return Schema.load(uri.removeprefix("file://"))


def validate(
    train_path: str,
    test_path: str,
    target: str,
    schema_out: str,
    report_out: str,
    schema_uri: str = "",
    settings: Settings | None = None,
    task: str = AUTO,
    positive_class: str = "",
    ignore_columns: str = "",
    cv_folds: int = 3,
    skew_action: str = "report",
    preparation: dict[str, object] | None = None,
) -> ValidationReport:
    """Check train and test; decide the task; write the schema used and a Markdown report;
    raise on violations.

    The report is written before raising, so a failed run still shows what was wrong.
    """
    train, test = pd.read_parquet(train_path), pd.read_parquet(test_path)
    ignore = [c.strip() for c in ignore_columns.split(",") if c.strip()]
    schema, origin = resolve_schema(train, target, schema_uri, settings, ignore)
    if schema.target != target:
        raise SchemaError(
            f"the schema's target is {schema.target!r}, the pipeline's is {target!r}",
            hint="set the target parameter, or declare a schema",
        )
    if target not in train.columns:
        raise SchemaError(
            f"target column {target!r} is missing",
            hint=f"columns are: {', '.join(map(str, train.columns))}",
        )
    schema, reason = with_task(schema, train[target], task, positive_class)
    report = validate_frames({"train": train, "test": test}, schema, cv_folds, skew_action)
    report.origin, report.task, report.task_reason = origin, schema.task or "", reason
    report.preparation = dict(preparation or {})
    schema.save(schema_out)
    with open(report_out, "w") as handle:
        handle.write(report.markdown(schema))
    if not report.ok:
        raise ValidationFailed(report.violations, report_path=report_out)
    return report
