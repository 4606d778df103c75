"""Which kserve errors are a client's mistake (or a model not ready yet), and what each
answers: one table for REST (the HTTP status) and gRPC (the matching status code)."""

from __future__ import annotations

from grpc import StatusCode
from kserve.errors import (
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    ServerNotLive,
    ServerNotReady,
    UnsupportedProtocol,
)

CLIENT_FAULTS: tuple[tuple[type[Exception], int], ...] = (
    (InvalidInput, 400),
    (ModelNotFound, 404),
    (NotImplementedError, 501),
    (UnsupportedProtocol, 501),
    (ModelNotReady, 503),
    (ServerNotReady, 503),
    (ServerNotLive, 503),
)
GRPC_CODES = {
    400: StatusCode.INVALID_ARGUMENT,
    404: StatusCode.NOT_FOUND,
    501: StatusCode.UNIMPLEMENTED,
    503: StatusCode.UNAVAILABLE,
}
