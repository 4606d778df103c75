"""Rows that prove served answers equal registered ones: holdout rows plus edge rows.

Edge rows put, in turn, a null in every nullable feature, an unseen value in every text
categorical, each known category and each bool value in its column, and each numeric bound.
They are stored with the model (``probes.json``) and scored again at registration through the
serving path and at every load of the predictor.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shipyard.data.features import iso_text
from shipyard.data.schema import BOOL_DTYPE, CATEGORICAL, DATETIME, Schema

UNSEEN = "__unseen__"
MAX_SAMPLE = 40
MAX_CATEGORIES = 30  # known categories tried per column (each is one row)


def probe_rows(schema: Schema, sample: pd.DataFrame, max_sample: int = MAX_SAMPLE) -> pd.DataFrame:
    """``sample``'s first rows and edge rows, indexed by what each row tests."""
    base = sample[schema.features].head(max_sample).astype(object)
    if base.empty:
        raise ValueError("probe rows need at least one sample row")
    # as records, not row by row: the register step probes every holdout row (iterrows took
    # 20 s for 200k rows)
    rows: list[dict] = base.to_dict("records")
    names = [f"holdout row {i}" for i in range(len(rows))]
    for name in schema.features:
        column = schema.column(name)
        values: list[tuple[str, object]] = []
        if column.nullable:
            values.append(("null", None))
        if column.kind == CATEGORICAL:
            known = (
                [v == "True" for v in column.categories or []]
                if column.dtype == BOOL_DTYPE
                else list(column.categories or [])
            )
            values += [(f"= {v!r}", v) for v in known[:MAX_CATEGORIES]]
            if column.dtype != BOOL_DTYPE:
                values.append(("unseen category", UNSEEN))
        elif column.kind == DATETIME:
            values += [
                (f"= {iso_text(b)}", iso_text(b)) for b in (column.min, column.max) if b is not None
            ]
        else:
            values += [(f"= {b:g}", b) for b in (column.min, column.max) if b is not None]
        for label, value in values:
            probe = base.iloc[len(names) % len(base)].to_dict()
            probe[name] = value
            rows.append(probe)
            names.append(f"{name} {label}")
    return pd.DataFrame(rows, index=names, columns=schema.features)


def largest_difference(expected: np.ndarray, got: np.ndarray) -> tuple[float, int]:
    """The largest absolute difference between two score arrays, and its row."""
    if expected.shape != got.shape:
        return float("inf"), 0
    diff = np.abs(np.asarray(expected, np.float64) - np.asarray(got, np.float64))
    per_row = diff.reshape(len(diff), -1).max(axis=1) if diff.size else np.zeros(0)
    nan = np.isnan(expected).reshape(len(diff), -1).any(axis=1) != np.isnan(got).reshape(
        len(diff), -1
    ).any(axis=1)
    per_row = np.where(nan, np.inf, np.nan_to_num(per_row, nan=0.0))
    if per_row.size == 0:
        return 0.0, 0
    row = int(per_row.argmax())
    return float(per_row[row]), row
