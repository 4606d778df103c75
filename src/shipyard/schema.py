"""The feature schema: which columns the model uses, their kinds, dtypes and allowed values,
and the learning task with its classes.

A schema is either declared (a JSON file) or inferred from the first training run; it is
stored with every model, so validation and serving check data against what the model saw.
Columns that cannot be features (an ID per row, all nulls, too many distinct texts) are kept
in the schema as ``ignored`` with the reason, so the report and later runs say why.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from shipyard.errors import SchemaError

NUMERIC, CATEGORICAL, TIMESTAMP, TARGET, IGNORED = (
    "numeric",
    "categorical",
    "timestamp",
    "target",
    "ignored",
)
KINDS = (NUMERIC, CATEGORICAL, TIMESTAMP, TARGET, IGNORED)
BOOL_DTYPE = "bool"  # a categorical whose values are True/False (however they are spelled)
ID_MIN_ROWS = 20  # below this many rows, distinct values per row say nothing about IDs


@dataclass
class Column:
    """One column: ``kind`` is numeric, categorical, timestamp, target or ignored."""

    name: str
    kind: str
    dtype: str
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    note: str | None = None  # why an ignored column is not a feature


@dataclass
class Schema:
    """Columns in order, the target and the task, and whether the bounds were inferred.

    ``classes`` are the label values in the model's order (binary: the positive class last);
    they keep the user's own type (int, str or bool) through JSON.
    """

    columns: list[Column]
    target: str
    inferred: bool = False
    version: int = 1
    extra: dict = field(default_factory=dict)
    task: str | None = None
    classes: list[Any] | None = None

    def __post_init__(self) -> None:
        for column in self.columns:
            if column.kind not in KINDS:
                raise SchemaError(
                    f"column {column.name!r} has unknown kind {column.kind!r}",
                    hint=f"use one of {', '.join(KINDS)}",
                )
        if self.target not in self.names:
            raise SchemaError(f"schema has no column for its target {self.target!r}")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def numeric(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == NUMERIC]

    @property
    def categorical(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == CATEGORICAL]

    @property
    def ignored(self) -> list[Column]:
        return [c for c in self.columns if c.kind == IGNORED]

    @property
    def features(self) -> list[str]:
        """Model inputs in order: every numeric and categorical column."""
        return [c.name for c in self.columns if c.kind in (NUMERIC, CATEGORICAL)]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Schema:
        try:
            columns = [Column(**c) for c in data["columns"]]
            return cls(
                columns=columns,
                target=data["target"],
                inferred=bool(data.get("inferred", False)),
                version=int(data.get("version", 1)),
                extra=data.get("extra", {}),
                task=data.get("task"),
                classes=data.get("classes"),
            )
        except (KeyError, TypeError) as exc:
            raise SchemaError(
                f"malformed schema: {exc}",
                hint="a schema has 'target' and 'columns': [{name, kind, dtype}]",
            ) from exc

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Schema:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise SchemaError(f"cannot read schema {path}: {exc}") from exc


def infer_schema(
    frame: pd.DataFrame,
    target: str,
    max_categories: int = 50,
    ignore: list[str] | tuple[str, ...] = (),
    drop_unusable: bool = True,
) -> Schema:
    """Infer a schema from training data: kinds from dtypes, bounds and categories observed.

    Columns named in ``ignore``, and those that cannot be features (see :func:`unusable`),
    become ``ignored`` with the reason; with ``drop_unusable=False`` the latter are an error.
    Dates held as text are refused: Shipyard derives no features from them.
    """
    if target not in frame.columns:
        raise SchemaError(
            f"target column {target!r} is missing",
            hint=f"columns are: {', '.join(map(str, frame.columns))}",
        )
    unknown = sorted(set(ignore) - set(map(str, frame.columns)))
    if unknown:
        raise SchemaError(f"ignore_columns names column(s) not in the data: {', '.join(unknown)}")
    columns = []
    for name in frame.columns:
        series = frame[name]
        nullable = bool(series.isna().any())
        if name == target:
            columns.append(Column(name, TARGET, str(series.dtype), nullable))
            continue
        if pd.api.types.is_datetime64_any_dtype(series):
            columns.append(Column(name, TIMESTAMP, str(series.dtype), nullable))
            continue
        reason = "listed in ignore_columns" if name in ignore else unusable(series, max_categories)
        if reason and name not in ignore and not drop_unusable:
            raise SchemaError(
                f"column {name!r} cannot be a feature: {reason}",
                hint="list it in ignore_columns, or allow dropping such columns "
                "(SHIPYARD_DROP_UNUSABLE_COLUMNS=true)",
            )
        if reason:
            columns.append(Column(name, IGNORED, str(series.dtype), nullable, note=reason))
        elif is_bool_like(series):
            columns.append(
                Column(name, CATEGORICAL, BOOL_DTYPE, nullable, categories=["False", "True"])
            )
        elif not pd.api.types.is_numeric_dtype(series):
            _refuse_dates(name, series)
            values = sorted(map(str, series.dropna().unique()))
            columns.append(Column(name, CATEGORICAL, "string", nullable, categories=values))
        else:
            columns.append(
                Column(
                    name,
                    NUMERIC,
                    str(series.dtype),
                    nullable,
                    min=_float(series.min()),
                    max=_float(series.max()),
                )
            )
    return Schema(columns=columns, target=target, inferred=True)


def unusable(series: pd.Series, max_categories: int = 50) -> str | None:
    """Why a column cannot be a feature, or None: all null, an ID (a distinct integer or text
    per row), or more distinct texts than a categorical feature can hold."""
    values = series.dropna()
    if values.empty:
        return "all values are null"
    if is_bool_like(series):
        return None
    text = not pd.api.types.is_numeric_dtype(series)
    distinct = values.nunique()
    if (
        (text or pd.api.types.is_integer_dtype(series))
        and len(values) >= ID_MIN_ROWS
        and distinct == len(series)
    ):
        return "ID-like: a distinct value in every row"
    if text and distinct > max_categories:
        return (
            f"{distinct} distinct text values; too many for a categorical feature "
            f"(limit {max_categories})"
        )
    return None


def is_bool_like(series: pd.Series) -> bool:
    """A bool column, also with nulls (pandas then holds it as objects)."""
    if pd.api.types.is_bool_dtype(series):
        return True
    values = series.dropna()
    return series.dtype == object and not values.empty and all(isinstance(v, bool) for v in values)


def _refuse_dates(name: str, series: pd.Series) -> None:
    sample = series.dropna().astype(str).head(200)
    if sample.empty or not sample.str.contains(r"\d{1,4}[-/:.]\d{1,2}").all():
        return
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    if parsed.notna().mean() >= 0.95:
        raise SchemaError(
            f"column {name!r} holds dates or times as text (e.g. {sample.iloc[0]!r}); "
            "Shipyard derives no features from them",
            hint="derive numeric features upstream (hour, day of week, days since an event), "
            "pass it as the time_column to split by time, or list it in ignore_columns",
        )


def _float(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)
