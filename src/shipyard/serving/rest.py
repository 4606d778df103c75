"""kserve's REST server with client faults answered as one bounded line.

kserve 0.20's handlers log every 4xx with a full traceback and answer with ``str(exc)``, which
quotes whatever the client sent (a 10 MB input name comes back in a 10 MB 400). Here every
4xx/503 is one log line and a JSON ``{"error": …}`` of at most a few hundred characters; a
body beyond ``max_request_bytes`` is a 413 before it is read; the model-repository paths are
guarded (``shipyard.serving.repository``); unexpected errors are still 500 with a traceback
in the log, but the client gets only the exception's type.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from kserve.errors import InvalidInput
from kserve.logging import logger
from kserve.protocol.rest.server import RESTServer
from pydantic import SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipyard.serving import metrics, workers
from shipyard.serving.decoding import bounded, bounded_message, describe_errors
from shipyard.serving.faults import CLIENT_FAULTS
from shipyard.serving.repository import DENIED_MESSAGE, DISABLED_MESSAGE, Verdict, authorize


async def send_json(
    send: Send, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    """A complete JSON error response from ASGI middleware."""
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class BodyLimit:
    """ASGI middleware: a request body larger than ``max_bytes`` is a 413, decided from
    ``Content-Length`` before reading and by counting chunked bodies while reading."""

    def __init__(self, app: ASGIApp, max_bytes: int, count: Count | None = None) -> None:
        self.app, self.max_bytes, self.count = app, max_bytes, count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(scope, receive, send, more=True)
        chunks: list[bytes] = []
        size, disconnected = 0, False
        while True:
            message = await receive()
            if message["type"] != "http.request":
                disconnected = True  # the client went away: let the app see it as it is
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await self._refuse(
                    scope, receive, send, more=message.get("more_body", False)
                )
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if disconnected:
            return await self.app(scope, receive, send)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, more: bool) -> None:
        """413 after discarding the rest of the body (up to 4× the limit; a client that is
        still sending would otherwise see a broken pipe instead of the answer)."""
        discarded = 0
        while more and discarded <= 4 * self.max_bytes:
            message = await receive()
            discarded += len(message.get("body", b""))
            more = message["type"] == "http.request" and message.get("more_body", False)
        reason = f"request body larger than {self.max_bytes} bytes (SHIPYARD_MAX_REQUEST_BYTES)"
        logger.warning(
            "413 %s %s: %s", scope.get("method"), bounded(scope.get("path"), 120), reason
        )
        count_refusal(self.count, scope.get("path", ""), 413)
        await send_json(send, 413, reason, ((b"connection", b"close"),))


class RepositoryGuard:
    """ASGI middleware: ``/v2/repository/…`` only with the bearer token (404 when disabled,
    401 without the right token)."""

    PATH = re.compile(r"^/+v2/+repository(/|$)")

    def __init__(self, app: ASGIApp, token: SecretStr | None) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.PATH.match(scope.get("path", "")):
            verdict = authorize(self.token, _header(scope, b"authorization"))
            if verdict is not Verdict.ALLOWED:
                status = 404 if verdict is Verdict.DISABLED else 401
                message = DISABLED_MESSAGE if status == 404 else DENIED_MESSAGE
                logger.warning(
                    "%d %s %s: %s",
                    status,
                    scope.get("method"),
                    bounded(scope.get("path"), 120),
                    message,
                )
                extra = ((b"www-authenticate", b"Bearer"),) if status == 401 else ()
                return await send_json(send, status, message, extra)
        await self.app(scope, receive, send)


def _route(request: Request) -> str:
    """The matched route's template (bounded label values), not the client's path."""
    route = request.scope.get("route")
    return getattr(route, "path", "unmatched")


Count = Callable[[str | None, int], None]  # (model name, status): ``count_refused``
_INFER_PATH = re.compile(
    r"^/+v2/+models/+(?P<v2>[^/]+)(?:/+versions/+[^/]+)?/+infer/*$"
    r"|^/+v1/+models/+(?P<v1>[^/:]+):predict$"
)


def inference_model(path: str) -> str | None:
    """The model an inference path (v2 ``…/infer``, v1 ``…:predict``) names, else None."""
    match = _INFER_PATH.match(path)
    return (match["v2"] or match["v1"]) if match else None


def count_refusal(count: Count | None, path: str, status: int) -> None:
    """Count a 4xx on an inference path that never reached the model."""
    name = inference_model(path)
    if count is not None and name is not None and 400 <= status < 500:
        count(name, status)


def client_error(status: int, count: Count | None = None) -> Callable:
    """A handler answering ``status`` with the bounded message, logged as one line; with
    ``count``, a refusal on an inference path is counted in the request metrics (except
    ``InvalidInput``: decoding and the model count those where they raise them, but for a
    ``RefusedInput`` not ``counted`` yet)."""

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        message = bounded_message(getattr(exc, "reason", None) or str(exc) or type(exc).__name__)
        logger.warning(
            "%d %s %s: %s", status, request.method, bounded(request.url.path, 120), message
        )
        if not isinstance(exc, InvalidInput) or getattr(exc, "counted", True) is False:
            count_refusal(count, request.url.path, status)
        return JSONResponse(status_code=status, content={"error": message})

    return handler


def validation_error(count: Count | None = None) -> Callable:
    """FastAPI would answer 422 echoing the whole body; a 400 naming the fields instead."""

    async def handler(request: Request, exc: RequestValidationError) -> JSONResponse:
        metrics.count_rejected(_route(request))
        count_refusal(count, request.url.path, 400)
        return await client_error(400)(request, InvalidInput(describe_errors(exc.errors())))

    return handler


def http_error(count: Count | None = None) -> Callable:
    """Starlette's own 4xx (unknown path, wrong method, unparsable body) in the same
    ``{"error": …}`` shape, one log line each."""

    async def handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code >= 500:
            return await internal_error(request, exc)
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if detail == "There was an error parsing the body":  # FastAPI's words for e.g. deep JSON
            detail = "the request body could not be parsed (malformed or too deeply nested JSON)"
        count_refusal(count, request.url.path, exc.status_code)
        response = await client_error(exc.status_code)(request, InvalidInput(detail))
        response.headers.update(exc.headers or {})
        return response

    return handler


def nested_too_deep(count: Count | None = None) -> Callable:
    """A route that parsed a client's JSON with the standard library (Starlette's
    ``Request.json()``) recursed too deep on nested arrays or objects: the client's fault, a
    400. Routes should parse with ``decoding.parse_json``, which refuses this without
    recursing; this is the net for one that does not."""

    async def handler(request: Request, exc: RecursionError) -> JSONResponse:
        count_refusal(count, request.url.path, 400)
        reason = "malformed JSON: the request body is nested too deeply"
        return await client_error(400)(request, InvalidInput(reason))

    return handler


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug of ours: the traceback goes to the log, the client gets the exception's type."""
    logger.error("500 %s %s", request.method, bounded(request.url.path, 120), exc_info=exc)
    return JSONResponse(
        status_code=500, content={"error": f"internal error ({type(exc).__name__})"}
    )


class HardenedRESTServer(RESTServer):
    """``RESTServer`` with Shipyard's middleware and handlers installed on kserve's app."""

    def __init__(
        self,
        *args: Any,
        max_request_bytes: int,
        repository_token: SecretStr | None,
        middleware: Sequence[tuple[Callable[..., ASGIApp], dict[str, Any]]] = (),
        count: Count | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.max_request_bytes, self.repository_token = max_request_bytes, repository_token
        self.count = count  # refusals on inference paths, into the request metrics
        self.extra_middleware = list(middleware)

    def _register_endpoints(self, app: FastAPI) -> None:
        """kserve's endpoints, after a model-metadata route that keeps each tensor's
        ``parameters`` (nullable, categories, classes): kserve's response model drops them,
        and they are what lets a client build a request from the metadata alone."""
        dataplane = self.dataplane

        async def model_metadata(model_name: str) -> JSONResponse:
            return JSONResponse(await dataplane.model_metadata(model_name))

        app.add_api_route("/v2/models/{model_name}", model_metadata, methods=["GET"])
        if workers.shared_metrics():  # before kserve's /metrics: every worker's, summed
            app.add_api_route("/metrics", shared_metrics, methods=["GET"])
        super()._register_endpoints(app)

    async def start(self, sockets: list[socket.socket] | None = None) -> None:
        """kserve's ``start``, on ``sockets`` already bound (shared by forked workers)."""
        self.create_application()
        await self._server.serve(sockets=sockets)

    def _add_middlewares(self, app: FastAPI) -> None:
        super()._add_middlewares(app)
        app.add_middleware(RepositoryGuard, token=self.repository_token)
        # a body over the limit is refused before anything reads it …
        app.add_middleware(BodyLimit, max_bytes=self.max_request_bytes, count=self.count)
        # … and outside that, the extra middleware (versioned paths, the sidecar's
        # IngestGuard), so a caller without a token is refused before its body is read
        for cls, options in self.extra_middleware:
            app.add_middleware(cls, **options)

    def _add_exception_handlers(self, app: FastAPI) -> None:
        super()._add_exception_handlers(app)
        # starlette types every handler as taking Exception, not the class it is registered for
        app.add_exception_handler(RequestValidationError, validation_error(self.count))
        app.add_exception_handler(StarletteHTTPException, http_error(self.count))
        app.add_exception_handler(RecursionError, nested_too_deep(self.count))
        for cls, status in CLIENT_FAULTS:
            app.add_exception_handler(cls, client_error(status, self.count))
        app.add_exception_handler(Exception, internal_error)


async def shared_metrics(request: Request) -> Response:
    """``/metrics`` summed over every worker (prometheus_client's multiprocess collector)."""
    from prometheus_client import CollectorRegistry, exposition, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    encoder, content_type = exposition.choose_encoder(request.headers.get("accept", ""))
    return Response(content=encoder(registry), headers={"content-type": content_type})
