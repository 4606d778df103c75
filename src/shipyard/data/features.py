"""One encoding of each feature, used by training, evaluation, registration and serving.

The model never sees raw values: every path first turns a column into its canonical form here,
so a row means the same thing wherever it comes from (a Parquet file, a CSV, a v2 request):

- numeric: float64; null is NaN (the model's imputer fills it with the training median);
- categorical: ``str``; null is NaN (imputed with the training mode); a category the model
  never saw encodes as all zeros (one-hot ``handle_unknown="ignore"``);
- bool (a categorical with dtype ``bool``): ``"True"``/``"False"`` however it is spelled
  (BOOL, ``true``/``false``, ``1``/``0``); any other value is refused;
- datetime: epoch seconds as float64 (UTC; text in ISO or common formats, typed timestamps,
  or numbers already in seconds); null or unreadable is NaN. Inside the model a datetime
  becomes its parts (:func:`model_columns`: year, month, day, weekday, days since the epoch,
  hour), so a v2 client sends the raw text and the registered model derives the same parts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.schema import BOOL_DTYPE, CATEGORICAL, DATETIME, Column, Schema

_TRUE = frozenset({"true", "1", "t", "yes"})
_FALSE = frozenset({"false", "0", "f", "no"})


def is_missing(value: Any) -> bool:
    """None, NaN or pandas' NA: what every source uses for a null."""
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def canonical_values(values: Iterable, column: Column) -> np.ndarray:
    """``values`` of ``column`` in canonical form (see the module docstring).

    Raises ``ValueError`` naming the value where a bool column gets something that is not one.
    """
    if column.kind == DATETIME:
        return to_epoch_seconds(values)
    if column.kind != CATEGORICAL:
        return _numeric(values)
    if column.dtype == BOOL_DTYPE:
        return np.array([np.nan if is_missing(v) else _bool_text(v) for v in values], dtype=object)
    return np.array(
        [
            np.nan
            if is_missing(v)
            else (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
            for v in values
        ],
        dtype=object,
    )


def canonical_frame(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The model's columns of ``frame`` (:func:`canonical_columns`), in order."""
    return pd.DataFrame(canonical_columns(frame, schema), index=frame.index)


def _numeric(values: Iterable) -> np.ndarray:
    if isinstance(values, pd.Series):
        if values.dtype == object:  # numbers with text tokens ("unknown", "?"): null
            return pd.to_numeric(values, errors="coerce").to_numpy(np.float64, na_value=np.nan)
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    array = np.asarray(values)
    if array.dtype == object:
        array = np.array([np.nan if is_missing(v) else v for v in array], dtype=object)
    return array.astype(np.float64)


_EPOCH = np.datetime64("1970-01-01T00:00:00", "ns")


def to_epoch_seconds(values: Iterable, strict: bool = False) -> np.ndarray:
    """Dates or times as UTC epoch seconds (float64, NaN for null or unreadable); numbers are
    taken as seconds already. ``strict``: a text that is not a date raises ValueError."""
    series = (
        values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object))
    )
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if not pd.api.types.is_datetime64_any_dtype(series):
        series = _parse_dates(series, strict)
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    stamps = series.to_numpy(dtype="datetime64[ns]")
    seconds = (stamps - _EPOCH).astype("timedelta64[ns]").astype(np.int64) / 1e9
    return np.where(np.isnat(stamps), np.nan, seconds)


def iso_text(seconds: float) -> str:
    """Epoch seconds as the ISO text a client sends (to the nanosecond: parsed back equal)."""
    return pd.Timestamp(int(round(seconds * 1e9)), unit="ns").isoformat()


def _parse_dates(series: pd.Series, strict: bool) -> pd.Series:
    text = series.astype(object).map(
        lambda v: (
            np.nan
            if is_missing(v)
            else v
            if isinstance(v, int | float)
            else (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)).strip()
        )
    )
    numbers = text.map(lambda v: isinstance(v, int | float) and not is_missing(v))
    text = text.where(~numbers, np.nan)
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    retry = parsed.isna() & text.notna()
    if retry.any():
        parsed[retry] = pd.to_datetime(text[retry], errors="coerce", utc=True, format="mixed")
    bad = parsed.isna() & text.notna()
    if strict and bad.any():
        raise ValueError(f"{str(text[bad].iloc[0])[:40]!r} is not a date or time")
    return parsed


def model_columns(columns: dict[str, np.ndarray], schema: Schema) -> dict[str, np.ndarray]:
    """Canonical inputs (feature -> values) as the model's columns: a datetime feature's epoch
    seconds become its parts; every other feature passes through."""
    if not schema.datetimes:
        return columns
    out = {name: columns[name] for name in schema.numeric}
    for name in schema.datetimes:
        seconds = np.asarray(columns[name], dtype=np.float64)
        known = np.isfinite(seconds)
        stamps = pd.DatetimeIndex(np.floor(np.where(known, seconds, 0)).astype("datetime64[s]"))
        for part in schema.column(name).parts or []:
            value = _DATE_PART[part](stamps, seconds)
            out[f"{name}__{part}"] = np.where(known, np.asarray(value, dtype=np.float64), np.nan)
    out.update({name: columns[name] for name in schema.categorical})
    return out


_DATE_PART: dict[str, Callable[[pd.DatetimeIndex, np.ndarray], Any]] = {
    "year": lambda s, _: s.year,
    "month": lambda s, _: s.month,
    "day": lambda s, _: s.day,
    "weekday": lambda s, _: s.weekday,
    "hour": lambda s, _: s.hour,
    "days": lambda _, seconds: seconds / 86400.0,
}


def _bool_text(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if text.strip().lower() in _TRUE:
        return "True"
    if text.strip().lower() in _FALSE:
        return "False"
    raise ValueError(f"{text[:40]!r} is not a bool (true/false)")


def canonical_inputs(frame: pd.DataFrame, schema: Schema) -> dict[str, np.ndarray]:
    """The schema's features of ``frame`` as canonical columns: what the v2 decoder yields."""
    return {name: canonical_values(frame[name], schema.column(name)) for name in schema.features}


def canonical_columns(frame: pd.DataFrame, schema: Schema) -> dict[str, np.ndarray]:
    """The model's columns of ``frame``: canonical inputs with datetimes as their parts."""
    return model_columns(canonical_inputs(frame, schema), schema)
