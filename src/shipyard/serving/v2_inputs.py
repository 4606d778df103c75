"""Turn an Open Inference Protocol (v2) request into a feature frame, strictly.

Every client mistake becomes kserve's ``InvalidInput`` (HTTP 400, gRPC INVALID_ARGUMENT) with
a message naming the input and the problem; nothing a client sends can cause a 500 here.
Two layouts are accepted: one input per feature column (BYTES for categoricals, BOOL or BYTES
for bool columns, a numeric datatype for numerics), or, for all-numeric models, one 2-D tensor
in signature order. Values become the canonical feature encoding of ``shipyard.data.features``,
the same one training used, so a row means the same thing here as in the registered model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from kserve.errors import InvalidInput

from shipyard.data.features import canonical_values, iso_text, to_epoch_seconds
from shipyard.data.schema import BOOL_DTYPE, CATEGORICAL, DATETIME, Schema

if TYPE_CHECKING:
    from kserve.protocol.infer_type import InferInput, InferRequest

NUMERIC_DATATYPES = frozenset(
    {
        "BOOL",
        "UINT8",
        "UINT16",
        "UINT32",
        "UINT64",
        "INT8",
        "INT16",
        "INT32",
        "INT64",
        "FP16",
        "FP32",
        "FP64",
    }
)
INTEGER_DATATYPES = {
    name: np.iinfo(name.lower())
    for name in ("UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64")
}
MAX_ADVERTISED_CATEGORIES = 50


@dataclass(frozen=True)
class InputSpec:
    name: str
    datatype: str
    shape: list[int]
    nullable: bool = False
    categories: list[str] | None = None

    def as_metadata(self) -> dict:
        """The v2 metadata tensor, with ``parameters`` telling a client what to send."""
        parameters: dict = {"nullable": self.nullable}
        if self.categories is not None:
            parameters["categories"] = self.categories
        return {
            "name": self.name,
            "datatype": self.datatype,
            "shape": self.shape,
            "parameters": parameters,
        }


def input_specs(schema: Schema) -> list[InputSpec]:
    """What the model's metadata advertises: one input per feature (a nullable bool column
    also takes BYTES, where null can be said)."""
    specs = []
    for name in schema.features:
        column = schema.column(name)
        if column.kind == DATETIME:  # text: an ISO date or time, parsed as in training
            specs.append(InputSpec(name, "BYTES", [-1], column.nullable))
            continue
        if column.kind != CATEGORICAL:
            specs.append(InputSpec(name, "FP64", [-1], column.nullable))
            continue
        known = column.categories or []
        shown = known if len(known) <= MAX_ADVERTISED_CATEGORIES else None
        datatype = "BOOL" if column.dtype == BOOL_DTYPE else "BYTES"
        specs.append(InputSpec(name, datatype, [-1], column.nullable, shown))
    return specs


def _column(infer_input: InferInput) -> np.ndarray:
    """The input's values as a flat array, checking the shape against the data."""
    name, shape = infer_input.name, list(infer_input.shape or [])
    if not shape or any((not isinstance(d, int | np.integer)) or d < 0 for d in shape):
        raise InvalidInput(f"input '{name}': shape {shape} must be a list of non-negative sizes")
    _check_json_values(infer_input)
    try:
        values = infer_input.as_numpy()
    except InvalidInput:
        raise
    except (ValueError, TypeError) as exc:
        detail = str(exc).split("\n")[0]
        expected = int(np.prod(shape))
        raise InvalidInput(
            f"input '{name}': data does not fit datatype {infer_input.datatype} "
            f"and shape {shape} ({expected} values): {detail}"
        ) from None
    return values


def _check_json_values(infer_input: InferInput) -> None:
    """JSON data must fit its datatype: whole numbers within an integer type's range, numbers
    for floats, true/false for BOOL, strings (or null) for BYTES — numpy would otherwise wrap
    INT8 300 to 44 or turn an object into text. The common case is decided from the set of
    value types and the extremes (C loops); only a request that fails is walked value by
    value, to name the first value that does not fit."""
    data = infer_input.data
    if not isinstance(data, list):
        return  # binary data: its bytes are the values, already of the datatype
    name, datatype = infer_input.name, infer_input.datatype
    values = data
    types = set(map(type, values))
    if list in types:
        values = list(_flat(data))
        types = set(map(type, values))
    info = INTEGER_DATATYPES.get(datatype)
    if types <= _JSON_TYPES.get(datatype, {int} if info else _NUMBERS) and (
        info is None or not values or info.min <= min(values) and max(values) <= info.max
    ):
        return
    bad = next(value for value in values if not _fits(value, datatype))
    raise InvalidInput(
        f"input '{_short(name)}': value {_short(repr(bad))} does not fit datatype {datatype}"
    )


_NUMBERS: set[type] = {int, float, type(None)}
_JSON_TYPES: dict[str, set[type]] = {"BYTES": {str, bytes, type(None)}, "BOOL": {bool}}


def _fits(value: Any, datatype: str) -> bool:
    if datatype == "BYTES":
        return value is None or isinstance(value, str | bytes)
    if datatype == "BOOL":
        return isinstance(value, bool)
    if datatype in INTEGER_DATATYPES:
        info = INTEGER_DATATYPES[datatype]
        return (
            isinstance(value, int) and not isinstance(value, bool) and info.min <= value <= info.max
        )
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _flat(data: list) -> Iterator[Any]:
    for item in data:
        if isinstance(item, list):
            yield from _flat(item)
        else:
            yield item


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def to_frame(request: InferRequest, schema: Schema) -> pd.DataFrame:
    """The request's rows as a DataFrame with the schema's feature columns, validated."""
    return pd.DataFrame(to_columns(request, schema), columns=schema.features)


def to_columns(request: InferRequest, schema: Schema) -> dict[str, np.ndarray]:
    """The request's feature columns (float64, or object for categoricals), validated."""
    inputs = list(request.inputs or [])
    if not inputs:
        raise InvalidInput("the request has no inputs")
    features = schema.features
    if len(inputs) == 1 and inputs[0].name not in features and len(features) > 1:
        return _from_tensor(inputs[0], schema)
    names = [i.name for i in inputs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInput(f"input '{duplicates[0]}' is given more than once")
    unknown = [n for n in names if n not in features]
    if unknown:
        raise InvalidInput(
            f"unknown input '{unknown[0]}'; the model's inputs are: {', '.join(features)}"
        )
    missing = [f for f in features if f not in names]
    if missing:
        raise InvalidInput(
            f"missing input '{missing[0]}'"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    columns: dict[str, np.ndarray] = {}
    for infer_input in inputs:
        columns[infer_input.name] = _feature_column(infer_input, schema)
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{n} has {k}" for n, k in lengths.items())
        raise InvalidInput(f"inputs have different row counts: {shown}")
    return columns


def _feature_column(infer_input: InferInput, schema: Schema) -> np.ndarray:
    name, datatype = infer_input.name, infer_input.datatype
    column = schema.column(name)
    shape = list(infer_input.shape or [])
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise InvalidInput(f"input '{name}': shape {shape} must be [rows] or [rows, 1]")
    if column.kind == DATETIME:
        if datatype != "BYTES":
            raise InvalidInput(
                f"input '{name}' has datatype {datatype}; expected BYTES (a date or time as "
                "text, e.g. 2024-03-14 or 2024-03-14T09:30:00)"
            )
        values = _column(infer_input).reshape(-1)
        if not column.nullable and any(v is None for v in values):
            raise InvalidInput(f"input '{name}' has nulls; this feature takes no null")
        try:
            return to_epoch_seconds(values, strict=True)
        except ValueError as exc:
            raise InvalidInput(f"input '{name}': {exc}") from None
    if column.kind == CATEGORICAL:
        allowed = ("BOOL", "BYTES") if column.dtype == BOOL_DTYPE else ("BYTES",)
        if datatype not in allowed:
            raise InvalidInput(
                f"input '{name}' has datatype {datatype}; expected "
                f"{' or '.join(allowed)} (a categorical feature)"
            )
        values = _column(infer_input).reshape(-1)
        if not column.nullable and any(v is None for v in values):
            raise InvalidInput(f"input '{name}' has nulls; this feature takes no null")
        try:
            return canonical_values(values, column)
        except ValueError as exc:
            raise InvalidInput(f"input '{name}': {exc}") from None
    if datatype not in NUMERIC_DATATYPES:
        raise InvalidInput(
            f"input '{name}' has datatype {datatype}; expected a numeric "
            "datatype such as FP32, FP64 or INT64"
        )
    values = _column(infer_input).reshape(-1).astype(np.float64)
    _check_finite(name, values, column.nullable)
    return values


def _from_tensor(infer_input: InferInput, schema: Schema) -> dict[str, np.ndarray]:
    name, datatype, features = infer_input.name, infer_input.datatype, schema.features
    if schema.categorical or schema.datetimes:
        raise InvalidInput(
            f"input '{name}' is not a feature of this model; a single tensor is "
            f"accepted only by all-numeric models. Inputs: {', '.join(features)}"
        )
    if datatype not in NUMERIC_DATATYPES:
        raise InvalidInput(f"input '{name}' has datatype {datatype}; expected FP32 or FP64")
    shape = list(infer_input.shape or [])
    if len(shape) != 2 or shape[1] != len(features):
        raise InvalidInput(
            f"input '{name}': shape {shape} must be [rows, {len(features)}] "
            f"(the features in order: {', '.join(features)})"
        )
    values = _column(infer_input).astype(np.float64).reshape(shape)
    for j, feature in enumerate(features):
        _check_finite(f"{name}[:, {j}] ({feature})", values[:, j], schema.column(feature).nullable)
    return {feature: values[:, j] for j, feature in enumerate(features)}


def _check_finite(name: str, values: np.ndarray, nullable: bool) -> None:
    bad = np.isinf(values) if nullable else ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise InvalidInput(
            f"input '{name}' has non-finite values at rows {rows}"
            + ("" if nullable else "; this feature takes finite numbers only")
        )


def request_body(
    frame: pd.DataFrame, schema: Schema, request_id: str = "sample", bools_as: str = "BOOL"
) -> dict:
    """A v2 JSON request with one input per feature, as the model's metadata asks for it;
    bool columns as BOOL, or as BYTES (``"true"``/``"false"``) with ``bools_as="BYTES"`` or
    where a value is null (BOOL cannot say null)."""
    from shipyard.data.features import canonical_values, is_missing

    inputs = []
    for spec in input_specs(schema):
        column = schema.column(spec.name)
        values = canonical_values(frame[spec.name], column)
        missing = [is_missing(v) for v in values]
        datatype = spec.datatype
        data: list[str | None] | list[bool] | list[float | None]
        if datatype == "BOOL" and (bools_as == "BYTES" or any(missing)):
            datatype = "BYTES"
            data = [None if m else str(v).lower() for v, m in zip(values, missing, strict=True)]
        elif datatype == "BOOL":
            data = [v == "True" for v in values]
        elif column.kind == DATETIME:
            data = [None if m else iso_text(v) for v, m in zip(values, missing, strict=True)]
        elif datatype == "BYTES":
            data = [None if m else str(v) for v, m in zip(values, missing, strict=True)]
        else:
            data = [None if m else float(v) for v, m in zip(values, missing, strict=True)]
        inputs.append(
            {"name": spec.name, "shape": [len(frame)], "datatype": datatype, "data": data}
        )
    return {"id": request_id, "inputs": inputs}
