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

import numpy as np
import pandas as pd

from shipyard.data.columns import is_bool_like, numbering_note, unusable
from shipyard.errors import SchemaError

NUMERIC, CATEGORICAL, DATETIME, TIMESTAMP, TARGET, IGNORED = (
    "numeric",
    "categorical",
    "datetime",
    "timestamp",
    "target",
    "ignored",
)
KINDS = (NUMERIC, CATEGORICAL, DATETIME, TIMESTAMP, TARGET, IGNORED)
# What a datetime feature becomes inside the model (``shipyard.data.features.model_columns``);
# "hour" only where the training values have a time of day.
DATE_PARTS = ("year", "month", "day", "weekday", "days")
TIME_PARTS = ("hour",)
BOOL_DTYPE = "bool"  # a categorical whose values are True/False (however they are spelled)


@dataclass
class Column:
    """One column: ``kind`` is numeric, categorical, datetime (a date or time feature, sent
    as text), timestamp (the time axis of a split, not a feature), target or ignored.

    An inferred schema takes every feature as ``nullable`` (the model imputes a null as in
    training; the predictor counts them); ``trained_with_nulls`` says whether training had
    any, so later nulls are reported. A datetime's ``min``/``max`` are epoch seconds."""

    name: str
    kind: str
    dtype: str
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    note: str | None = None  # why an ignored column is not a feature
    trained_with_nulls: bool | None = None
    parts: list[str] | None = None  # a datetime's derived model columns


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
    def datetimes(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == DATETIME]

    @property
    def features(self) -> list[str]:
        """Model inputs in order (what a v2 client sends): numeric, categorical and datetime
        columns."""
        return [c.name for c in self.columns if c.kind in (NUMERIC, CATEGORICAL, DATETIME)]

    @property
    def model_numeric(self) -> list[str]:
        """The numeric columns the model's preprocessing sees: numeric features, then each
        datetime feature's derived parts (``name__year`` ...)."""
        derived = [
            f"{c.name}__{part}"
            for c in self.columns
            if c.kind == DATETIME
            for part in c.parts or []
        ]
        return self.numeric + derived

    @property
    def model_columns(self) -> list[str]:
        return self.model_numeric + self.categorical

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
    max_categories: int = 100,
    ignore: list[str] | tuple[str, ...] = (),
    drop_unusable: bool = True,
    time_column: str = "timestamp",
) -> Schema:
    """Infer a schema from training data: kinds from dtypes, bounds and categories observed.

    Columns named in ``ignore``, and those that cannot be features (see :func:`unusable`),
    become ``ignored`` with the reason; with ``drop_unusable=False`` the latter are an error.
    Dates and times (as text, or typed) become datetime features, except ``time_column`` when
    it is typed: that one orders a time split and the inference log.
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
        typed_date = pd.api.types.is_datetime64_any_dtype(series)
        if typed_date and name == time_column:
            columns.append(Column(name, TIMESTAMP, str(series.dtype), nullable))
            continue
        if name not in ignore and (typed_date or looks_like_dates(series)):
            columns.append(_datetime_column(str(name), series))
            continue
        reason = (
            "listed in ignore_columns"
            if name in ignore
            else unusable(series, max_categories, str(name), frame[target])
        )
        if reason and name not in ignore and not drop_unusable:
            raise SchemaError(
                f"column {name!r} cannot be a feature: {reason}",
                hint="list it in ignore_columns, or allow dropping such columns "
                "(SHIPYARD_DROP_UNUSABLE_COLUMNS=true)",
            )
        if reason:
            columns.append(Column(name, IGNORED, str(series.dtype), nullable, note=reason))
        else:
            column = _feature_column(str(name), series, nullable)
            column.note = numbering_note(str(name), series, frame[target])
            columns.append(column)
    return Schema(columns=_keep_an_only_index(columns, frame, ignore), target=target, inferred=True)


def _feature_column(name: str, series: pd.Series, nullable: bool) -> Column:
    """A usable column as a feature: categorical (bools and text, categories observed) or
    numeric (bounds observed); every feature accepts nulls at serving time."""
    if is_bool_like(series):
        return Column(
            name,
            CATEGORICAL,
            BOOL_DTYPE,
            True,
            categories=["False", "True"],
            trained_with_nulls=nullable,
        )
    if not pd.api.types.is_numeric_dtype(series):
        values = sorted(map(str, series.dropna().unique()))
        return Column(
            name, CATEGORICAL, "string", True, categories=values, trained_with_nulls=nullable
        )
    return Column(
        name,
        NUMERIC,
        str(series.dtype),
        True,
        min=_float(series.min()),
        max=_float(series.max()),
        trained_with_nulls=nullable,
    )


ID_KEPT = (
    "ID-like (a distinct integer in every row) but kept: nothing else is left to learn from "
    "(an index, a year or an integer date orders the rows)"
)


def _keep_an_only_index(
    columns: list[Column], frame: pd.DataFrame, ignore: list[str] | tuple[str, ...]
) -> list[Column]:
    """When leaving out ID-like columns would leave no feature at all, the integer ones stay
    as numeric features: on a table of (date as an integer, value) the ordering column is
    the only signal, and a run without features could only fail."""
    if any(c.kind in (NUMERIC, CATEGORICAL, DATETIME) for c in columns):
        return columns
    kept = []
    for column in columns:
        series = frame[column.name]
        if (
            column.kind == IGNORED
            and column.name not in ignore
            and (column.note or "").startswith("ID-like")
            and pd.api.types.is_integer_dtype(series)
        ):
            column = Column(
                column.name,
                NUMERIC,
                str(series.dtype),
                True,
                min=_float(series.min()),
                max=_float(series.max()),
                trained_with_nulls=bool(series.isna().any()),
                note=ID_KEPT,
            )
        kept.append(column)
    return kept


def looks_like_dates(series: pd.Series) -> bool:
    """A text column whose values are dates or times (ISO dates, timestamps, 3/14/2015 ...)."""
    if series.dtype != object:
        return False
    sample = series.dropna().head(200)
    if sample.empty or not all(isinstance(v, str) for v in sample):
        return False
    text = sample.astype(str).str.strip()
    if not text.str.fullmatch(r"[\dTZ:+\-/. ]{6,40}|[\w ,:+\-/.]{6,40}").all():
        return False
    dated = r"\d{4}-\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}|\d{4}[/.]\d{1,2}[/.]\d{1,2}"
    if not text.str.contains(dated).all():
        return False
    from shipyard.data.features import to_epoch_seconds

    return bool(np.isfinite(to_epoch_seconds(text)).mean() >= 0.95)


def _datetime_column(name: str, series: pd.Series) -> Column:
    """A datetime feature: its bounds in epoch seconds and the parts the model derives."""
    from shipyard.data.features import to_epoch_seconds

    seconds = to_epoch_seconds(series)
    finite = seconds[np.isfinite(seconds)]
    timed = bool(finite.size) and bool(np.any(np.mod(finite, 86400) != 0))
    return Column(
        name,
        DATETIME,
        "string",
        True,
        min=float(finite.min()) if finite.size else None,
        max=float(finite.max()) if finite.size else None,
        trained_with_nulls=bool(series.isna().any()),
        parts=list(DATE_PARTS) + (list(TIME_PARTS) if timed else []),
    )


def _float(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)
