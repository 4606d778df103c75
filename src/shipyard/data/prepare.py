"""Make a table as users export it trainable, and say what was done.

Rows without a label cannot teach or judge a model: they are dropped and counted. A class with
a single row cannot be cross-validated or tested: it is dropped and named. A numeric column with
a few text tokens (``unknown``, ``n/a``, ``?``, ``-``) becomes numeric with those values null,
counted, instead of being thrown away as "too many categories". Nothing here stops a run unless
too few labelled rows remain to train on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from shipyard.errors import SchemaError

MIN_LABELLED_ROWS = 20  # below this, no split leaves a model anything to learn or be judged on
MIN_LABELLED_SHARE = 0.5  # dropping more than half the rows for null labels is not a detail
MIN_CLASS_ROWS = 2  # a class needs rows on both sides of a cross-validation fold
TOKEN_SHARE = 0.1  # at most this share of a "numeric" column may be text tokens
MAX_TOKENS = 5  # distinct text tokens a numeric column may hold


@dataclass
class Preparation:
    """What preparing the table changed: counts, for the validate report and the metadata."""

    rows_in: int = 0
    null_labels: int = 0
    dropped_classes: dict[str, int] = field(default_factory=dict)
    coerced: dict[str, dict[str, int]] = field(default_factory=dict)  # column -> token -> rows

    def metadata(self) -> dict[str, object]:
        data: dict[str, object] = {
            "rows_read": self.rows_in,
            "null_labels_dropped": self.null_labels,
        }
        if self.dropped_classes:
            data["dropped_classes"] = ", ".join(
                f"{c} ({n})" for c, n in self.dropped_classes.items()
            )
        if self.coerced:
            data["numeric_with_tokens"] = "; ".join(
                f"{c}: " + ", ".join(f"{t!r} x{n}" for t, n in tokens.items())
                for c, tokens in self.coerced.items()
            )
        return data


def prepare(
    frame: pd.DataFrame, target: str, classification: bool
) -> tuple[pd.DataFrame, Preparation]:
    """``frame`` without unlabelled rows or single-row classes, numbers with tokens coerced."""
    report = Preparation(rows_in=len(frame))
    labelled = frame[target].notna()
    report.null_labels = int((~labelled).sum())
    frame = frame[labelled]
    if len(frame) < max(MIN_LABELLED_ROWS, MIN_LABELLED_SHARE * report.rows_in):
        raise SchemaError(
            f"only {len(frame)} of {report.rows_in} rows have a label in {target!r} "
            f"({report.null_labels} null)",
            hint=f"a model needs at least {MIN_LABELLED_ROWS} labelled rows and at least half "
            "of the table labelled; is this the label column?",
        )
    if classification:
        counts = frame[target].astype(str).value_counts()
        rare = counts[counts < MIN_CLASS_ROWS]
        if len(rare) and len(counts) - len(rare) >= 2:
            report.dropped_classes = {str(c): int(n) for c, n in rare.items()}
            frame = frame[~frame[target].astype(str).isin(rare.index)]
    frame = frame.copy()
    for name in frame.columns:
        if name == target:
            continue
        tokens = numeric_tokens(frame[name])
        if tokens is not None:
            report.coerced[str(name)] = tokens
            frame[name] = to_number(frame[name])
    return frame.reset_index(drop=True), report


def to_number(series: pd.Series) -> pd.Series:
    """Numbers as float64; anything that is not one (a token, a blank) is null."""
    text = series.astype(object).mask(series.isna())
    return pd.to_numeric(
        text.map(lambda v: v.strip() if isinstance(v, str) else v), errors="coerce"
    ).astype("float64")


def numeric_tokens(series: pd.Series) -> dict[str, int] | None:
    """For a text column that holds numbers and a few text tokens: token -> rows; else None."""
    if series.dtype != object:
        return None
    values = series.dropna()
    if values.empty or not all(isinstance(v, str) for v in values.head(1000)):
        return None
    numbers = to_number(values)
    bad = values[numbers.isna()].astype(str).str.strip()
    if numbers.notna().sum() == 0 or len(bad) > TOKEN_SHARE * len(values):
        return None
    counts = bad.value_counts()
    if len(counts) > MAX_TOKENS or (len(counts) and counts.index.str.len().max() > 20):
        return None
    return {str(t): int(n) for t, n in counts.items()} if len(counts) else None
