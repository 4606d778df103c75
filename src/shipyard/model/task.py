"""The learning task and the labels: which task a label column asks for, its classes in a
fixed order, and the mapping between the user's labels and the model's class indices.

Every model is fitted on class indices ``0..k-1`` (XGBoost requires them), and the classes
are stored with the model in the user's own type, so ``predict`` answers ``"yes"``, ``3`` or
``True`` as the training table did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shipyard.errors import SchemaError

if TYPE_CHECKING:
    from shipyard.data.schema import Schema

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"
TASKS = (BINARY, MULTICLASS, REGRESSION)
AUTO = "auto"
MAX_CLASSES = 20  # integer labels with more distinct values than this are a regression target


def is_classification(task: str) -> bool:
    return task in (BINARY, MULTICLASS)


def plain(value: Any) -> Any:
    """A label as a JSON-able Python value: numpy scalars unwrapped, integral floats as int."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def detect_task(labels: pd.Series, requested: str = AUTO) -> tuple[str, str]:
    """The task for ``labels`` and why: ``requested`` if it fits, else an error naming the fix."""
    name = labels.name
    values = labels.dropna()
    distinct = sorted({plain(v) for v in values}, key=_order)
    shown = ", ".join(map(repr, distinct[:8])) + (" …" if len(distinct) > 8 else "")
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    integral = numeric and bool(np.all(np.mod(values.to_numpy(float), 1) == 0))
    if requested not in (AUTO, *TASKS):
        raise SchemaError(
            f"unknown task {requested!r}", hint=f"use auto or one of {', '.join(TASKS)}"
        )
    if requested == REGRESSION:
        if not numeric:
            raise SchemaError(
                f"task regression needs a numeric label; {name!r} holds "
                f"{values.dtype} values ({shown})",
                hint="use task=auto, binary or multiclass",
            )
        return REGRESSION, "requested"
    if requested in (BINARY, MULTICLASS):
        wanted_two = requested == BINARY
        if (len(distinct) == 2) != wanted_two:
            raise SchemaError(
                f"task {requested} does not fit label {name!r}: it has {len(distinct)} distinct "
                f"value(s) ({shown})",
                hint="use task=" + (MULTICLASS if len(distinct) > 2 else BINARY)
                if len(distinct) >= 2
                else "a classifier needs at least two classes",
            )
        return requested, "requested"
    if numeric and not integral:
        return REGRESSION, f"numeric label with fractional values ({len(distinct)} distinct)"
    if numeric and len(distinct) > MAX_CLASSES:
        return REGRESSION, (
            f"integer label with {len(distinct)} distinct values (more than {MAX_CLASSES})"
        )
    kind = "integer" if numeric else "bool" if pd.api.types.is_bool_dtype(values) else "text"
    task = BINARY if len(distinct) <= 2 else MULTICLASS
    return task, f"{kind} label with {len(distinct)} distinct value(s): {shown}"


def class_order(labels: pd.Series, task: str, positive_class: str = "") -> list[Any]:
    """The classes in the model's order: sorted; binary puts the positive class last —
    ``positive_class`` (matched as text) or else the minority class."""
    counts = pd.Series([plain(v) for v in labels.dropna()]).value_counts()
    classes = sorted(counts.index.tolist(), key=_order)
    if task != BINARY or len(classes) != 2:
        return classes
    if positive_class:
        matches = [c for c in classes if str(c) == positive_class]
        if not matches:
            raise SchemaError(
                f"positive_class {positive_class!r} is not a value of the label",
                hint=f"its values are: {', '.join(map(str, classes))}",
            )
        positive = matches[0]
    else:  # the minority class; on a tie the larger value (1, True, 'yes' over 'no')
        positive = min(classes, key=lambda c: (counts[c], -classes.index(c)))
    return [c for c in classes if c != positive] + [positive]


def encode_labels(labels: pd.Series, classes: list[Any]) -> np.ndarray:
    """Class indices for ``labels``; a label outside ``classes`` is an error naming it."""
    index = {c: i for i, c in enumerate(classes)}
    codes = np.array([index.get(plain(v), -1) for v in labels], dtype=np.int64)
    if (codes < 0).any():
        unknown = sorted({str(plain(v)) for v, c in zip(labels, codes, strict=True) if c < 0})
        raise SchemaError(
            f"label {labels.name!r} has value(s) the model's classes do not hold: "
            f"{', '.join(unknown[:5])}",
            hint=f"the classes are: {', '.join(map(str, classes))}",
        )
    return codes


def class_array(classes: list[Any]) -> np.ndarray:
    """``classes`` as a numpy array of their own type: int64, bool, or object for text."""
    if all(isinstance(c, bool) for c in classes):
        return np.array(classes, dtype=bool)
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return np.array(classes, dtype=np.int64)
    return np.array([str(c) for c in classes], dtype=object)


def label_datatype(classes: list[Any] | None) -> str:
    """The v2 datatype of ``predict``: BOOL, INT64 or BYTES; FP64 for regression."""
    if classes is None:
        return "FP64"
    return {np.dtype(bool): "BOOL", np.dtype(np.int64): "INT64"}.get(
        class_array(classes).dtype, "BYTES"
    )


def _order(value: Any) -> tuple[int, Any]:
    """Sort numbers before text, each in its own order (mixed label types stay sortable)."""
    return (0, value) if isinstance(value, int | float) else (1, str(value))


def with_task(
    schema: Schema, labels: pd.Series, requested: str = AUTO, positive_class: str = ""
) -> tuple[Schema, str]:
    """``schema`` with its task and classes decided from ``labels`` where it has none yet (a
    schema stored with a champion keeps the champion's), and the reason for the report."""
    import dataclasses

    if schema.task is not None and (schema.classes is not None or schema.task == REGRESSION):
        if requested not in (AUTO, schema.task):
            raise SchemaError(
                f"task {requested} differs from the schema's {schema.task}",
                hint="use task=auto, or declare a new schema",
            )
        return schema, f"{schema.task}, as the schema records"
    task, reason = detect_task(labels, requested)
    classes = None if task == REGRESSION else class_order(labels, task, positive_class)
    return dataclasses.replace(schema, task=task, classes=classes), reason
