"""The feature schema: which columns the model uses, their kinds, dtypes and allowed values.

A schema is either declared (a JSON file) or inferred from the first training run; it is
stored with every model, so validation and serving check data against what the model saw.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from shipyard.errors import SchemaError

NUMERIC, CATEGORICAL, TIMESTAMP, TARGET = "numeric", "categorical", "timestamp", "target"
KINDS = (NUMERIC, CATEGORICAL, TIMESTAMP, TARGET)


@dataclass
class Column:
    """One column: ``kind`` is numeric, categorical, timestamp or target."""

    name: str
    kind: str
    dtype: str
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None


@dataclass
class Schema:
    """Columns in order, the target's name, and whether the bounds were inferred."""

    columns: list[Column]
    target: str
    inferred: bool = False
    version: int = 1
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for column in self.columns:
            if column.kind not in KINDS:
                raise SchemaError(f"column {column.name!r} has unknown kind {column.kind!r}",
                                  hint=f"use one of {', '.join(KINDS)}")
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
    def features(self) -> list[str]:
        """Model inputs in order: every numeric and categorical column."""
        return [c.name for c in self.columns if c.kind in (NUMERIC, CATEGORICAL)]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Schema:
        try:
            columns = [Column(**c) for c in data["columns"]]
            return cls(columns=columns, target=data["target"],
                       inferred=bool(data.get("inferred", False)),
                       version=int(data.get("version", 1)), extra=data.get("extra", {}))
        except (KeyError, TypeError) as exc:
            raise SchemaError(f"malformed schema: {exc}",
                              hint="a schema has 'target' and 'columns': [{name, kind, dtype}]"
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


def infer_schema(frame: pd.DataFrame, target: str, max_categories: int = 50) -> Schema:
    """Infer a schema from training data: kinds from dtypes, bounds and categories observed."""
    if target not in frame.columns:
        raise SchemaError(f"target column {target!r} is missing",
                          hint=f"columns are: {', '.join(map(str, frame.columns))}")
    columns = []
    for name in frame.columns:
        series = frame[name]
        nullable = bool(series.isna().any())
        if name == target:
            columns.append(Column(name, TARGET, str(series.dtype), nullable))
        elif pd.api.types.is_datetime64_any_dtype(series):
            columns.append(Column(name, TIMESTAMP, str(series.dtype), nullable))
        elif pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            values = sorted(map(str, series.dropna().unique()))
            if len(values) > max_categories:
                raise SchemaError(
                    f"column {name!r} has {len(values)} distinct text values; too many for a "
                    f"categorical feature (limit {max_categories})",
                    hint="drop it, encode it upstream, or declare a schema")
            columns.append(Column(name, CATEGORICAL, "string", nullable, categories=values))
        else:
            columns.append(Column(name, NUMERIC, str(series.dtype), nullable,
                                  min=_float(series.min()), max=_float(series.max())))
    return Schema(columns=columns, target=target, inferred=True)


def _float(value) -> float | None:
    return None if pd.isna(value) else float(value)
