"""The validate step's report: findings (stops and warnings with counts and examples), the
data and split section, label distributions and skew, as Markdown and KFP metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from shipyard.data.schema import (
    CATEGORICAL,
    Schema,
)
from shipyard.model.task import REGRESSION, is_classification, plain

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
        """The report a person reads: status, task, what ingest did, the features kept and
        dropped, every stop and warning, and the train/test skew."""
        status = "PASSED" if self.ok else f"FAILED — {len(self.violations)} violation(s)"
        lines = [
            f"# Data validation: {status}",
            "",
            f"Rows: {', '.join(f'{k} {v}' for k, v in self.rows.items())}; "
            f"checks run: {self.checks}; schema {self.origin}, target `{schema.target}`.",
            "",
        ]
        lines += self._task_lines(schema)
        lines += _preparation_lines(self.preparation, self.rows, self.labels)
        lines += _feature_lines(schema)
        for title, found in (("Stops", self.violations), ("Warnings", self.warnings)):
            lines += _violation_lines(title, found)
        lines += self._skew_lines(schema)
        return "\n".join(lines) + "\n"

    def _task_lines(self, schema: Schema) -> list[str]:
        """The learning task, why, and the classes in the model's order."""
        lines = [f"**Task:** {schema.task} — {self.task_reason}."]
        if schema.classes is not None:
            positive = f"; positive class `{schema.classes[-1]}`" if schema.task == "binary" else ""
            lines += [
                f"**Classes** (model order): {', '.join(f'`{c}`' for c in schema.classes)}"
                f"{positive}."
            ]
        return [*lines, ""]

    def _skew_lines(self, schema: Schema) -> list[str]:
        """Each tested column's two-sample statistic and p-value, most skewed first."""
        if not self.skew:
            return []
        lines = [
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
        return lines + [
            f"| {c} | {'Chi²' if schema.column(c).kind == CATEGORICAL else 'KS'} | "
            f"{self.skew_statistics[c]:.4g} | {p:.3g} | "
            f"{'yes' if p < (self.skew_threshold or 0.0) else 'no'} |"
            for c, p in sorted(self.skew.items(), key=lambda i: i[1])
        ]


def _feature_lines(schema: Schema) -> list[str]:
    """Dates used as features, columns kept with a note, and the columns left out and why."""
    lines: list[str] = []
    if schema.datetimes:
        lines += [
            "**Dates and times used as features** (the model derives "
            "year, month, day, weekday, days since 1970 and, where times occur, hour): "
            + ", ".join(f"`{n}`" for n in schema.datetimes),
            "",
        ]
    kept = [c for c in schema.columns if c.kind != "ignored" and c.note]
    if kept:
        lines += [f"**Kept as a feature:** `{c.name}`: {c.note}" for c in kept] + [""]
    if schema.ignored:
        lines += ["## Columns not used as features", "", "| column | why |", "|---|---|"]
        lines += [f"| {c.name} | {c.note} |" for c in schema.ignored]
        lines.append("")
    return lines


def _violation_lines(title: str, found: list[Violation]) -> list[str]:
    """One table of stops or warnings; nothing when there are none."""
    if not found:
        return []
    lines = [f"## {title}", ""]
    lines += ["| dataset | column | rule | observed | expected |", "|---|---|---|---|---|"]
    lines += [
        f"| {v.dataset} | {v.column} | {v.rule} | {v.observed} | {v.expected} |" for v in found
    ]
    return [*lines, ""]


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


def distribution(labels: pd.Series, schema: Schema) -> str:
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


def _round(p_value: float) -> float:
    return float(f"{p_value:.4g}")
