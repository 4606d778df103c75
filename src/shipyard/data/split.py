"""Train/test splits that give every row a fair chance of landing in the test set.

- ``stratified``: classification labels by class; a class too small to give the test set a
  share keeps all its rows in train (reported). Regression labels by quantile bins of the label
  (never by exact value, which would keep every rare value out of the test set).
- ``random``: a plain shuffle.
- ``group``: all rows of one ``group_column`` value on the same side (entities never leak).
- ``time``: the newest rows are the test set.

Plain numpy rather than scikit-learn's ``train_test_split``: the ingest task would otherwise
import scikit-learn (5-7 s per kfp.local task here) for a shuffle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shipyard.errors import ConfigError, SchemaError

METHODS = ("stratified", "random", "group", "time")
MIN_TRAIN_PER_CLASS = 2  # a class keeps at least this many rows in train (cross-validation)
QUANTILE_BINS = 10  # strata of a regression label


@dataclass
class SplitReport:
    """What the split did, for the validate report: sizes and the strata kept out of test."""

    method: str
    train_rows: int = 0
    test_rows: int = 0
    train_only: dict[str, int] = field(default_factory=dict)  # class -> rows, none in test

    def metadata(self) -> dict[str, object]:
        data: dict[str, object] = {"split_method": self.method}
        if self.train_only:
            data["train_only_classes"] = ", ".join(f"{c} ({n})" for c, n in self.train_only.items())
        return data


def split_frame(
    frame: pd.DataFrame,
    target: str,
    test_fraction: float = 0.2,
    method: str = "stratified",
    time_column: str | None = None,
    seed: int = 42,
    classification: bool | None = None,
    group_column: str = "",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``frame`` into train and test (see the module docstring for ``method``)."""
    train, test, _ = split_with_report(
        frame, target, test_fraction, method, time_column, seed, classification, group_column
    )
    return train, test


def split_with_report(
    frame: pd.DataFrame,
    target: str,
    test_fraction: float = 0.2,
    method: str = "stratified",
    time_column: str | None = None,
    seed: int = 42,
    classification: bool | None = None,
    group_column: str = "",
) -> tuple[pd.DataFrame, pd.DataFrame, SplitReport]:
    """:func:`split_frame` and what it did. ``classification`` None: decided from the label
    (numbers with fractions or many values are a regression label)."""
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be within (0, 1), got {test_fraction}")
    if target not in frame.columns:
        raise SchemaError(
            f"target column {target!r} is missing",
            hint=f"columns are: {', '.join(map(str, frame.columns))}",
        )
    if method not in METHODS:
        raise ConfigError(
            f"unknown split method {method!r}", hint=f"use one of {', '.join(METHODS)}"
        )
    report = SplitReport(method)
    rng = np.random.default_rng(seed)
    if method == "time":
        if not time_column or time_column not in frame.columns:
            raise ConfigError(f"time split needs a time column; {time_column!r} is not in the data")
        order = np.argsort(frame[time_column].to_numpy(), kind="stable")
        mask = np.zeros(len(frame), dtype=bool)
        mask[order[int(round(len(frame) * (1 - test_fraction))) :]] = True
    elif method == "group":
        mask = _group_mask(frame, group_column, test_fraction, rng)
    elif method == "random":
        mask = np.zeros(len(frame), dtype=bool)
        mask[rng.permutation(len(frame))[: int(round(len(frame) * test_fraction))]] = True
    else:
        labels = frame[target]
        if classification is None:
            classification = not _regression_like(labels)
        strata = labels.astype(object).where(labels.notna(), "<null>")
        if not classification:
            strata = _quantile_bins(labels)
        mask = _stratified_mask(strata, test_fraction, rng, classification, report)
    train, test = frame[~mask].reset_index(drop=True), frame[mask].reset_index(drop=True)
    report.train_rows, report.test_rows = len(train), len(test)
    return train, test, report


def _stratified_mask(
    strata: pd.Series,
    fraction: float,
    rng: np.random.Generator,
    classification: bool,
    report: SplitReport,
) -> np.ndarray:
    """Each stratum gives the test set its share, rounded so that the total is the share
    asked for (largest remainders); a class that would keep fewer than MIN_TRAIN_PER_CLASS
    training rows stays in train whole."""
    groups = pd.Series(np.arange(len(strata))).groupby(strata.to_numpy(), sort=True).indices
    keys = list(groups)
    sizes = np.array([len(groups[k]) for k in keys])
    eligible = sizes >= MIN_TRAIN_PER_CLASS + 1 if classification else sizes > 0
    exact = sizes * fraction * eligible
    counts = np.floor(exact).astype(int)
    wanted = int(round(sizes[eligible].sum() * fraction))
    order = np.argsort(-(exact - counts), kind="stable")
    for i in order[: max(wanted - counts.sum(), 0)]:
        counts[i] += 1
    if classification:
        counts = np.minimum(counts, np.maximum(sizes - MIN_TRAIN_PER_CLASS, 0))
    mask = np.zeros(len(strata), dtype=bool)
    for key, size, count, ok in zip(keys, sizes, counts, eligible, strict=True):
        if classification and not ok:
            report.train_only[str(key)] = int(size)
        mask[rng.permutation(groups[key])[:count]] = True
    return mask


def _group_mask(
    frame: pd.DataFrame, column: str, fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """Whole groups to the test set, in random order, until it holds the share asked for."""
    if not column or column not in frame.columns:
        raise ConfigError(
            f"group split needs a group column; {column!r} is not in the data",
            hint="set group_column to the column naming the entity (customer, patient, ...)",
        )
    codes, uniques = pd.factorize(
        frame[column].astype(object).where(frame[column].notna(), "<null>")
    )
    if len(uniques) < 2:
        raise ConfigError(f"group split needs at least two groups; {column!r} has {len(uniques)}")
    sizes = np.bincount(codes)
    wanted = len(frame) * fraction
    chosen = np.zeros(len(uniques), dtype=bool)
    total = 0
    for group in rng.permutation(len(uniques)):
        if total >= wanted or chosen.sum() == len(uniques) - 1:
            break
        if total + sizes[group] - wanted > wanted - total:  # overshoots more than it helps
            continue
        chosen[group], total = True, total + sizes[group]
    return chosen[codes]


def _regression_like(labels: pd.Series) -> bool:
    from shipyard.model.task import REGRESSION, detect_task

    values = labels.dropna()
    if values.empty:
        return False
    try:
        return detect_task(values)[0] == REGRESSION
    except SchemaError:
        return False


def _quantile_bins(labels: pd.Series) -> pd.Series:
    """Strata of a numeric label: QUANTILE_BINS quantile bins (ties merge bins); nulls apart."""
    numeric = pd.to_numeric(labels, errors="coerce")
    bins = pd.qcut(
        numeric.rank(method="first"),
        q=min(QUANTILE_BINS, max(numeric.notna().sum(), 1)),
        labels=False,
    )
    return bins.astype(object).where(bins.notna(), "<null>")
