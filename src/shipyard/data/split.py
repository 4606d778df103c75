"""Train/test splits: stratified on the label, or by time (the newest rows are the test set).

Plain numpy rather than scikit-learn's ``train_test_split``: the ingest task would otherwise
import scikit-learn (5-7 s per kfp.local task here) for a shuffle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shipyard.errors import ConfigError, SchemaError


def split_frame(
    frame: pd.DataFrame,
    target: str,
    test_fraction: float = 0.2,
    method: str = "stratified",
    time_column: str | None = None,
    seed: int = 42,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``frame`` into train and test; ``method`` is ``stratified`` or ``time``."""
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be within (0, 1), got {test_fraction}")
    if target not in frame.columns:
        raise SchemaError(
            f"target column {target!r} is missing",
            hint=f"columns are: {', '.join(map(str, frame.columns))}",
        )
    if method == "time":
        if not time_column or time_column not in frame.columns:
            raise ConfigError(f"time split needs a time column; {time_column!r} is not in the data")
        ordered = frame.sort_values(time_column, kind="stable")
        cut = int(round(len(ordered) * (1 - test_fraction)))
        return ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(drop=True)
    if method != "stratified":
        raise ConfigError(f"unknown split method {method!r}", hint="use 'stratified' or 'time'")
    rng = np.random.default_rng(seed)
    test_index: list[int] = []
    for _, positions in frame.groupby(target, sort=True).indices.items():
        shuffled = rng.permutation(positions)
        test_index.extend(shuffled[: int(round(len(shuffled) * test_fraction))].tolist())
    mask = np.zeros(len(frame), dtype=bool)
    mask[test_index] = True
    return frame[~mask].reset_index(drop=True), frame[mask].reset_index(drop=True)
