"""Decoding a client's v2 request without letting its mistakes become 500s.

kserve 0.20 decodes requests itself (``DataPlane.decode``, ``InferRequest.from_bytes`` and
``from_grpc``) and raises whatever Python raises on bad bytes: ``ValueError`` for an
``Inference-Header-Content-Length`` that is not a number, ``KeyError`` for a JSON part without
``inputs``, ``struct.error`` for a BYTES tensor whose length prefixes run past its buffer, and
the response encoder's ``TypeError`` for a request parameter beyond 64 bits. Its REST and gRPC
layers turn anything but ``InvalidInput`` into a 500 / INTERNAL. Everything here raises
``InvalidInput`` with a bounded message naming the part of the request that is wrong.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import orjson
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferRequest
from kserve.utils.numpy_codec import to_np_dtype
from pydantic import BaseModel, ConfigDict, ValidationError

if TYPE_CHECKING:
    from kserve.protocol.rest.v2_datamodels import InferenceRequest

MAX_QUOTED = 200  # characters of anything the client sent that a message may quote
INT_MIN, UINT_MAX = -(1 << 63), (1 << 64) - 1  # what JSON encoders (orjson) and tensors hold
HEADER = "Inference-Header-Content-Length"
MAX_JSON_DEPTH = 1024  # orjson's own limit: deeper nesting is refused without recursing


def bounded(text: object, limit: int = MAX_QUOTED) -> str:
    """``text`` on one line, cut to ``limit`` characters: client data is quoted, never echoed."""
    line = " ".join(str(text).split())
    if len(line) <= limit:
        return line
    return f"{line[:limit]}… [{len(line) - limit} more characters]"


_LONG_QUOTE = re.compile(r"'([^']{50})[^']{20,}'")  # a quote of more than 70 characters


def bounded_message(text: object) -> str:
    """An error message for a client and the log: one line, every long quoted part (an
    input's 10 MB name) cut to its start, so the rest of the message still reads; then
    bounded as a whole."""
    line = str(text)
    if len(line) > 2 * MAX_QUOTED:
        line = _LONG_QUOTE.sub(lambda m: f"'{m[1]}…' ({len(m[0]) - 2} characters)", line)
    return bounded(line, 2 * MAX_QUOTED)


def describe_errors(errors: Iterable[Mapping]) -> str:
    """pydantic's errors as one line: each field's path and what is wrong, never the value."""
    problems = []
    for error in list(errors)[:5]:
        location = ".".join(bounded(p, 40) for p in error.get("loc", ()) if p != "body")
        if error.get("type") == "json_invalid":
            detail = error.get("ctx", {}).get("error", error.get("msg", ""))
            problems.append(f"malformed JSON: {bounded(detail, 80)}")
        else:
            problems.append(f"{location or 'body'}: {bounded(error.get('msg', 'invalid'), 80)}")
    return bounded("invalid inference request: " + "; ".join(problems), 2 * MAX_QUOTED)


class _BinaryInput(BaseModel):
    """One input in the JSON part of a binary-extension request (``data`` may be absent)."""

    model_config = ConfigDict(extra="allow")
    name: str
    shape: list[int]
    datatype: str
    parameters: dict | None = None
    data: list | None = None


class _BinaryHeader(BaseModel):
    model_config = ConfigDict(extra="allow")
    inputs: list[_BinaryInput]


def header_length(value: str, body_length: int) -> int:
    """The JSON part's length from the binary extension's header, checked against the body."""
    text = value.strip()
    if not text.isdigit() or not 0 < int(text) <= body_length:
        raise InvalidInput(
            f"header '{HEADER}' must be the byte length of the JSON part, a "
            f"whole number from 1 to {body_length} (the body's length); got "
            f"'{bounded(value, 40)}'"
        )
    return int(text)


def check_binary_body(body: bytes, json_length: int) -> None:
    """The JSON part is a v2 request and the binary parts after it match its inputs."""
    try:
        header = _BinaryHeader.model_validate_json(body[:json_length])
    except ValidationError as exc:
        raise InvalidInput(describe_errors(exc.errors())) from None
    offset = json_length
    for item in header.inputs:
        if item.data is not None:
            continue
        size = (item.parameters or {}).get("binary_data_size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidInput(
                f"input '{bounded(item.name)}' has neither 'data' nor a "
                "non-negative integer parameters.binary_data_size"
            )
        if offset + size > len(body):
            raise InvalidInput(
                f"input '{bounded(item.name)}': binary_data_size {size} runs "
                f"past the end of the body ({len(body) - offset} bytes left)"
            )
        check_raw_tensor(item.name, item.datatype, item.shape, body[offset : offset + size])
        offset += size
    if offset != len(body):
        raise InvalidInput(
            f"the body has {len(body) - offset} bytes after the last binary "
            "input; binary_data_size and the header must add up to the body"
        )


def check_raw_tensor(name: str, datatype: str, shape: list[int], raw: bytes) -> None:
    """A raw tensor (REST binary part or gRPC raw_input_contents) fits its datatype and shape:
    fixed-size types by byte count, BYTES by walking its 4-byte length prefixes."""
    dtype = to_np_dtype(datatype)
    if dtype is None:
        raise InvalidInput(f"input '{bounded(name)}': unknown datatype '{bounded(datatype, 40)}'")
    if any(d < 0 for d in shape):
        raise InvalidInput(
            f"input '{bounded(name)}': shape {bounded(shape, 80)} must be a "
            "list of non-negative sizes"
        )
    count = int(np.prod(shape, dtype=object)) if shape else 1
    if datatype != "BYTES":
        itemsize = np.dtype(dtype).itemsize
        if len(raw) != count * itemsize:
            raise InvalidInput(
                f"input '{bounded(name)}': {len(raw)} bytes of raw data do not "
                f"fit datatype {datatype} and shape {bounded(shape, 80)} "
                f"({count} × {itemsize} bytes)"
            )
        return
    offset, found = 0, 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidInput(
                f"input '{bounded(name)}': BYTES element {found} has a "
                f"truncated 4-byte length prefix at byte {offset}"
            )
        (length,) = struct.unpack_from("<I", raw, offset)
        if offset + 4 + length > len(raw):
            raise InvalidInput(
                f"input '{bounded(name)}': BYTES element {found} claims "
                f"{length} bytes but {len(raw) - offset - 4} remain"
            )
        offset, found = offset + 4 + length, found + 1
    if found != count:
        raise InvalidInput(
            f"input '{bounded(name)}': {found} BYTES elements do not fit shape "
            f"{bounded(shape, 80)} ({count} elements)"
        )


def check_request(request: InferRequest) -> None:
    """What kserve decoded is something a tensor and a response can hold (its own code
    fails later, with a 500): text that is UTF-8, parameters, and integers in JSON data of
    integer datatypes."""
    check_text(request)
    check_parameters(request)
    for item in request.inputs or []:
        if str(item.datatype).startswith(("INT", "UINT")) and item._raw_data is None:
            low = INT_MIN
            high = UINT_MAX if item.datatype.startswith("UINT") else (1 << 63) - 1
            bad = _integer_outside(item.data, low, high, 0)
            if bad is not None:
                raise InvalidInput(
                    f"input '{bounded(item.name)}': {bounded(bad, 40)} cannot "
                    f"be a {item.datatype} (outside the 64-bit range)"
                )


def _integer_outside(data: object, low: int, high: int, depth: int) -> object | None:
    """The first integer in (nested lists of) ``data`` outside ``[low, high]``, or None."""
    if isinstance(data, list):
        if depth > 32:
            raise InvalidInput("tensor data nested more than 32 levels deep")
        for item in data:
            if type(item) is int:
                if not low <= item <= high:
                    return item
            elif isinstance(item, list):
                bad = _integer_outside(item, low, high, depth + 1)
                if bad is not None:
                    return bad
        return None
    if type(data) is int and not low <= data <= high:
        return data
    return None


def check_parameters(request: InferRequest) -> None:
    """Request, input and output parameters are JSON the response can echo: integers within
    64 bits (orjson refuses larger ones), no deeper than a few levels."""
    places = [("request", request.parameters)]
    places += [(f"input '{bounded(i.name)}'", i.parameters) for i in request.inputs or []]
    places += [(f"output '{bounded(o.name)}'", o.parameters) for o in request.request_outputs or []]
    for where, parameters in places:
        if isinstance(parameters, dict):
            for key, value in parameters.items():
                _check_utf8(f"{where}: a parameter name", key)
                _check_value(f"{where} parameter '{bounded(key, 80)}'", value, 0)


def check_text(request: InferRequest) -> None:
    """The id and the tensors' names and datatypes can be written as UTF-8.

    JSON may escape a lone surrogate (``"\\ud800"``) and FastAPI's parser keeps it, but no
    response can carry it: echoed as the id or quoted in an error it was a 500. (Parameters
    are checked with their values, by :func:`check_parameters`.)"""
    fields = [("request id", request.id)]
    for kind, tensors in (("input", request.inputs), ("output", request.request_outputs)):
        for tensor in tensors or []:
            fields += [(f"{kind} name", tensor.name)]
            fields += [(f"{kind} datatype", getattr(tensor, "datatype", None))]
    for where, value in fields:
        _check_utf8(where, value)


def _check_utf8(where: str, value: object) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(
                f"{where}: text that is not valid Unicode (a lone surrogate escape)"
            ) from None


def _check_value(where: str, value: object, depth: int) -> None:
    _check_utf8(where, value)
    if isinstance(value, int) and not isinstance(value, bool):
        if not INT_MIN <= value <= UINT_MAX:
            raise InvalidInput(f"{where}: integer {bounded(value, 40)} is outside the 64-bit range")
    elif isinstance(value, dict | list):
        if depth >= 4:
            raise InvalidInput(f"{where}: nested more than 4 levels deep")
        if isinstance(value, dict):
            for key in value:
                _check_utf8(f"{where}: a key", key)
        for item in value.values() if isinstance(value, dict) else value:
            _check_value(where, item, depth + 1)


def parse_json_request(body: bytes) -> InferenceRequest:
    """A body without the binary header is JSON, as Triton treats it (tritonclient sends no
    Content-Type in JSON mode)."""
    from kserve.protocol.rest.v2_datamodels import InferenceRequest

    try:
        return InferenceRequest.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidInput(describe_errors(exc.errors())) from None


class RefusedInput(InvalidInput):
    """``InvalidInput`` raised while decoding, before the model; ``counted`` once it is in
    the request metrics (else the REST layer, which knows the path's model, counts it)."""

    def __init__(self, reason: str, counted: bool) -> None:
        super().__init__(reason)
        self.counted = counted


def describe_decode_error(exc: BaseException) -> str:
    """A bounded one-liner for an exception kserve's decoding raised on a client's bytes."""
    if "depth limit exceeded" in str(getattr(exc, "reason", None) or exc):  # orjson's words
        return f"malformed JSON: the request body is nested more than {MAX_JSON_DEPTH} levels deep"
    if isinstance(exc, InvalidInput):
        return bounded(exc.reason, 2 * MAX_QUOTED)
    if isinstance(exc, KeyError):
        return f"malformed inference request: missing field {bounded(exc, 80)}"
    if isinstance(exc, orjson.JSONDecodeError):
        return f"malformed JSON: {bounded(exc, 120)}"
    return f"malformed inference request: {type(exc).__name__}: {bounded(exc, 160)}"


def parse_json(body: bytes | bytearray | memoryview | str, what: str = "request body") -> object:
    """A JSON body from a client, for any route of the predictor or the drift sidecar.

    orjson parses without recursing and refuses nesting deeper than ``MAX_JSON_DEPTH``
    levels, where the standard library's ``json`` raises ``RecursionError`` (a 500) and
    Starlette's ``Request.json()`` uses it. Every failure is ``InvalidInput`` (a 400) naming
    ``what`` and the problem, never quoting more than a few characters of the body."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise InvalidInput(
                f"malformed JSON: the {what} is nested more than {MAX_JSON_DEPTH} levels deep"
            ) from None
        raise InvalidInput(f"malformed JSON in the {what}: {bounded(exc, 120)}") from None
