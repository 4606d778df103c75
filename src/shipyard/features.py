"""One encoding of each feature, used by training, evaluation, registration and serving.

The model never sees raw values: every path first turns a column into its canonical form here,
so a row means the same thing wherever it comes from (a Parquet file, a CSV, a v2 request):

- numeric: float64; null is NaN (the model's imputer fills it with the training median);
- categorical: ``str``; null is NaN (imputed with the training mode); a category the model
  never saw encodes as all zeros (one-hot ``handle_unknown="ignore"``);
- bool (a categorical with dtype ``bool``): ``"True"``/``"False"`` however it is spelled
  (BOOL, ``true``/``false``, ``1``/``0``); any other value is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from shipyard.schema import BOOL_DTYPE, CATEGORICAL, Column, Schema

_TRUE = frozenset({"true", "1", "t", "yes"})
_FALSE = frozenset({"false", "0", "f", "no"})


def is_missing(value: Any) -> bool:
    """None, NaN or pandas' NA: what every source uses for a null."""
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def canonical_values(values: Iterable, column: Column) -> np.ndarray:
    """``values`` of ``column`` in canonical form (see the module docstring).

    Raises ``ValueError`` naming the value where a bool column gets something that is not one.
    """
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
    """The schema's feature columns of ``frame``, in order and in canonical form."""
    return pd.DataFrame(canonical_columns(frame, schema), index=frame.index)


def _numeric(values: Iterable) -> np.ndarray:
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    array = np.asarray(values)
    if array.dtype == object:
        array = np.array([np.nan if is_missing(v) else v for v in array], dtype=object)
    return array.astype(np.float64)


def _bool_text(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if text.strip().lower() in _TRUE:
        return "True"
    if text.strip().lower() in _FALSE:
        return "False"
    raise ValueError(f"{text[:40]!r} is not a bool (true/false)")


def canonical_columns(frame: pd.DataFrame, schema: Schema) -> dict[str, np.ndarray]:
    """The schema's features of ``frame`` as canonical columns: what the v2 decoder yields."""
    return {name: canonical_values(frame[name], schema.column(name)) for name in schema.features}
