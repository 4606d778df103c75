"""Which columns can be features: IDs, all-null columns and free text are left out, with the
reason the report gives. Kept apart from the schema itself because the rules are judgement
calls measured on real tables (``docs/corpus.md``), not the schema's contract."""

from __future__ import annotations

import re

import pandas as pd

ID_MIN_ROWS = 20  # below this many rows, distinct values per row say nothing about IDs
# A text column is a categorical feature up to max_categories values, and up to
# MAX_CATEGORIES_REPEATED where its values repeat (states, cities, product codes in a large
# table); beyond that it is free text or a key.
MAX_CATEGORIES_REPEATED = 1000
REPEATED_SHARE = 0.05
# A distinct integer per row is an ID when its name says so, or when its values number the
# rows (they span at most this many times their count) and it does not predict the label.
IDENTIFIER_WORDS = frozenset(
    "id ids uuid guid key index idx rownames rowname row rowid no nr num number code serial "
    "record obs case unnamed".split()
)
NUMBERING_SPREAD = 1.5
PREDICTS_P_VALUE = 1e-3  # association with the label that a numbering shows only by its order
ID_LIKE = "ID-like: a distinct value in every row"


def unusable(
    series: pd.Series, max_categories: int = 100, name: str = "", label: pd.Series | None = None
) -> str | None:
    """Why a column cannot be a feature, or None: all null, an ID (a distinct text per row, or
    a distinct integer per row that :func:`integer_feature` does not keep), or more distinct
    texts than a categorical feature can hold."""
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
        and (text or not integer_feature(name, values, label))
    ):
        return ID_LIKE
    if (
        text
        and distinct > max_categories
        and (distinct > MAX_CATEGORIES_REPEATED or distinct > REPEATED_SHARE * len(values))
    ):
        return (
            f"{distinct} distinct text values in {len(values)} rows: free text or a key, too "
            f"many for a categorical feature (limit {max_categories}, or "
            f"{MAX_CATEGORIES_REPEATED} where each value repeats about "
            f"{1 / REPEATED_SHARE:.0f} times)"
        )
    return None


def integer_feature(name: str, values: pd.Series, label: pd.Series | None) -> bool:
    """Whether a distinct integer per row is a feature rather than an ID.

    Its name decides first (``customer_id``, ``rownames``, ``Unnamed: 0``). Otherwise values
    spread as a measurement's are (a population, a price in cents) are a feature, and a
    numbering of the rows (``rank``, ``year`` of a yearly table) is one only where it
    predicts the label: a row number carries nothing, a ranking or a year often a lot."""
    if identifier_name(name):
        return False
    if values.max() - values.min() + 1 > NUMBERING_SPREAD * len(values):
        return True
    return label is not None and association(values, label) < PREDICTS_P_VALUE


def identifier_name(name: str) -> bool:
    """A column name that says identifier: one of its words (snake, kebab or camel case)
    is ``id``, ``key``, ``index``, ``rownames`` and the like."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return any(word in IDENTIFIER_WORDS for word in re.split(r"[^a-z0-9]+", spaced.lower()))


def association(values: pd.Series, label: pd.Series) -> float:
    """p-value of a monotone association between a numeric column and the label: Spearman's
    for a numeric label, Kruskal-Wallis across the classes of a text label."""
    from scipy import stats

    both = pd.DataFrame({"x": values, "y": label}).dropna()
    if len(both) < ID_MIN_ROWS or both["y"].nunique() < 2:
        return 1.0
    if pd.api.types.is_numeric_dtype(both["y"]) and both["y"].nunique() > 2:
        return float(stats.spearmanr(both["x"], both["y"]).pvalue)
    groups = [group["x"].to_numpy() for _, group in both.groupby("y")]
    return float(stats.kruskal(*groups).pvalue)


def numbering_note(name: str, series: pd.Series, label: pd.Series) -> str | None:
    """Why a numbering of the rows stays a feature, for the report; None for other columns."""
    values = series.dropna()
    if (
        not pd.api.types.is_integer_dtype(series)
        or len(values) < ID_MIN_ROWS
        or values.nunique() != len(series)
        or values.max() - values.min() + 1 > NUMBERING_SPREAD * len(values)
    ):
        return None
    return (
        f"a distinct integer per row that numbers the rows, kept: it predicts the label "
        f"(p = {association(values, label):.1g}); if it only numbers the rows of a file "
        f"sorted by the label, list it in ignore_columns"
    )


def is_bool_like(series: pd.Series) -> bool:
    """A bool column, also with nulls (pandas then holds it as objects)."""
    if pd.api.types.is_bool_dtype(series):
        return True
    values = series.dropna()
    return series.dtype == object and not values.empty and all(isinstance(v, bool) for v in values)
