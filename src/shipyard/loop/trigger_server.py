"""The HTTP face of ``shipyard trigger`` (its own Deployment in the manifests): Starlette
under uvicorn.

``POST /alertmanager`` (Alertmanager's webhook, bearer token), ``POST /mlflow`` (MLflow's
registry webhook, HMAC-signed; a delivery id seen before is answered without a second run),
``POST /run/{model}`` (a person, bearer token), ``GET /decisions`` (the recent ones, bearer
token); ``GET /healthz`` and ``GET /metrics`` anonymous.

Every write path is checked in this order, each step before anything more is read: who sends
it (the token, or MLflow's signature headers and timestamp: 401), how large it says it is
(``Content-Length`` above ``trigger_max_body_bytes``: 413), then the body, read chunk by chunk
up to the limit (a chunked body too), then its JSON and every field the trigger uses (400
naming the field). A refusal before the body is read closes the connection, so an unread body
is never drained. A connection must deliver a whole request within
``trigger_read_timeout_seconds`` or it is closed. Every refusal is counted in
``shipyard_trigger_refused_total{route, reason}`` and logged.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from shipyard.errors import ConfigError
from shipyard.loop.trigger import (
    MAX_REASON,
    RETRAIN_ALERTS,
    Decision,
    Deliveries,
    Trigger,
    check_model_name,
    mlflow_headers,
    mlflow_signature_ok,
)
from shipyard.settings import Settings

logger = logging.getLogger("shipyard.trigger")
REFUSED = Counter(
    "shipyard_trigger_refused",
    "Requests the trigger refused or answered without acting, by route and reason",
    ("route", "reason"),
)  # unauthenticated | too_large | malformed | disconnected | duplicate
TIMED_OUT = Counter(
    "shipyard_trigger_read_timeouts",
    "Connections closed for not delivering a whole request within the read timeout",
)
MAX_HEADER_BYTES = 16 * 1024


class Refused(Exception):
    """A request answered with ``status`` and a short ``message`` naming what is wrong."""

    def __init__(self, status: int, message: str, reason: str = "malformed") -> None:
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason


def _json(status: int, payload: dict, close: bool = False) -> Response:
    headers = {"Connection": "close"} if close else None
    # ASCII JSON: whatever a client put into a reason is escaped, never an encoding error
    return Response(json.dumps(payload), status, headers, media_type="application/json")


def _token_ok(settings: Settings, request: Request) -> bool:
    token = settings.trigger_token
    sent = request.headers.get("authorization", "").encode("latin-1")
    return token is not None and hmac.compare_digest(
        sent, f"Bearer {token.get_secret_value()}".encode()
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) past ``limit`` bytes before or while it is read."""
    length = request.headers.get("content-length", "0")
    if not length.isdigit():  # the HTTP parser refuses most; be sure
        raise Refused(400, "header Content-Length: not a number of bytes")
    if int(length) > limit:
        raise Refused(413, f"body: {length[:20]} bytes, at most {limit}", "too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"body: more than {limit} bytes", "too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def _guarded(
    route: str, handler: Callable[[Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` with every refusal as a counted 4xx naming what was wrong."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except Refused as refused:
            REFUSED.labels(route, refused.reason).inc()
            logger.info("%s refused (%d): %s", route, refused.status, refused.message)
            # an unread body is not drained: the connection closes after the answer
            return _json(refused.status, {"error": refused.message}, close=True)
        except ConfigError as exc:  # a model name that is not one
            REFUSED.labels(route, "malformed").inc()
            logger.info("%s refused (400): %s", route, exc.message)
            return _json(400, {"error": exc.message}, close=True)
        except ClientDisconnect:
            REFUSED.labels(route, "disconnected").inc()
            logger.info("%s: the client went away before its body was read", route)
            return _json(400, {"error": "body: the connection closed early"}, close=True)

    return endpoint


class _TriggerRoutes:
    """The trigger's endpoints over one :class:`Trigger`: a method per route."""

    def __init__(self, trigger: Trigger) -> None:
        self.trigger, self.settings = trigger, trigger.settings
        self.deliveries = Deliveries()

    async def read_body(self, request: Request) -> bytes:
        return await _read_body(request, self.settings.trigger_max_body_bytes)

    def bearer(self, handler: Callable[[Request], Awaitable[Response]]) -> Any:
        """``handler`` behind the bearer token (401 without it)."""

        async def checked(request: Request) -> Response:
            if not _token_ok(self.settings, request):
                raise Refused(401, "missing or wrong bearer token", "unauthenticated")
            return await handler(request)

        return checked

    async def alertmanager(self, request: Request) -> Response:
        payload = parse_object(await self.read_body(request))
        check_alertmanager(payload)
        return await _decided(self.trigger.from_alertmanager, payload)

    async def mlflow(self, request: Request) -> Response:
        """MLflow's signed webhook; a delivery id seen before is answered without a run."""
        secret = self.settings.trigger_mlflow_secret
        headers = dict(request.headers)
        found = mlflow_headers(headers)
        if secret is None or found is None:
            raise Refused(401, "missing or wrong MLflow signature", "unauthenticated")
        body = await self.read_body(request)
        if not mlflow_signature_ok(secret.get_secret_value(), headers, body):
            raise Refused(401, "missing or wrong MLflow signature", "unauthenticated")
        payload = parse_object(body)
        check_mlflow(payload)
        if not self.deliveries.first_time(found[0]):
            REFUSED.labels("/mlflow", "duplicate").inc()
            logger.info("MLflow delivery %s seen before: no second run", found[0][:80])
            return _json(200, {"decisions": [], "duplicate": found[0][:200]})
        return await _decided(self.trigger.from_mlflow, payload)

    async def run(self, request: Request) -> Response:
        model = check_model_name(request.path_params["model"])
        payload = parse_object(await self.read_body(request), empty_ok=True)
        reason = payload.get("reason") or "asked by a person"
        if not isinstance(reason, str) or len(reason) > MAX_REASON:
            raise Refused(400, f"reason: expected a string of at most {MAX_REASON} characters")
        return await _decided(lambda _: [self.trigger.request(model, "manual", reason)], payload)

    async def decisions(self, request: Request) -> Response:
        return _json(
            200,
            {
                "decisions": [d.__dict__ for d in list(self.trigger.decisions)],
                "outcomes": dict(self.trigger.outcomes),
            },
        )


async def _decided(act: Callable[[dict], list[Decision]], payload: dict) -> Response:
    """``act`` on ``payload`` off the event loop; its decisions as the answer."""
    decisions = await run_in_threadpool(act, payload)
    return _json(200, {"decisions": [d.__dict__ for d in decisions]})


async def _healthz(request: Request) -> Response:
    return _json(200, {"ok": True})


async def _metrics(request: Request) -> Response:
    return Response(generate_latest(), 200, media_type=CONTENT_TYPE_LATEST)


def make_app(trigger: Trigger) -> Starlette:
    """The trigger's routes, over ``trigger``'s decisions."""
    routes = _TriggerRoutes(trigger)
    return Starlette(
        routes=[
            Route("/healthz", _healthz, methods=["GET"]),
            Route("/metrics", _metrics, methods=["GET"]),
            Route(
                "/decisions",
                _guarded("/decisions", routes.bearer(routes.decisions)),
                methods=["GET"],
            ),
            Route(
                "/alertmanager",
                _guarded("/alertmanager", routes.bearer(routes.alertmanager)),
                methods=["POST"],
            ),
            Route("/mlflow", _guarded("/mlflow", routes.mlflow), methods=["POST"]),
            Route(
                "/run/{model:path}", _guarded("/run", routes.bearer(routes.run)), methods=["POST"]
            ),
        ]
    )


def parse_object(body: bytes, empty_ok: bool = False) -> dict:
    """The body as a JSON object, or a 400 saying why not."""
    if not body.strip():
        if empty_ok:
            return {}
        raise Refused(400, "body: empty, expected a JSON object")
    try:
        payload = json.loads(body)
    except RecursionError:
        raise Refused(400, "body: JSON nested too deeply") from None
    except ValueError as exc:  # UnicodeDecodeError too
        raise Refused(400, f"body: malformed JSON ({str(exc)[:120]})") from None
    if not isinstance(payload, dict):
        raise Refused(400, f"body: expected a JSON object, got {type(payload).__name__}")
    return payload


def check_alertmanager(payload: dict) -> None:
    """Alertmanager's webhook body, as far as the trigger reads it (400 naming the field)."""
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise Refused(400, "alerts: expected a list of alerts")
    for i, alert in enumerate(alerts):
        where = f"alerts[{i}]"
        if not isinstance(alert, dict):
            raise Refused(400, f"{where}: expected an object")
        if not isinstance(alert.get("status", ""), str):
            raise Refused(400, f"{where}.status: expected a string")
        labels = alert.get("labels", {})
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise Refused(400, f"{where}.labels: expected an object of strings")
        fingerprint = alert.get("fingerprint", "")
        if not isinstance(fingerprint, str) or len(fingerprint) > 200:
            raise Refused(400, f"{where}.fingerprint: expected a string of at most 200")
        if alert.get("status") == "firing" and labels.get("alertname") in RETRAIN_ALERTS:
            if labels.get("model"):
                check_model_name(labels["model"], f"{where}.labels.model")


def check_mlflow(payload: dict) -> None:
    """An MLflow registry webhook body, as far as the trigger reads it."""
    for key in ("entity", "action"):
        if not isinstance(payload.get(key, ""), str):
            raise Refused(400, f"{key}: expected a string")
    data = payload.get("data", {})
    if not isinstance(data, dict):
        raise Refused(400, "data: expected an object")
    if not isinstance(data.get("alias", ""), str):
        raise Refused(400, "data.alias: expected a string")
    if not isinstance(data.get("version", ""), str | int) or isinstance(data.get("version"), bool):
        raise Refused(400, "data.version: expected a string or an integer")
    if data.get("name"):
        check_model_name(data["name"], "data.name")


class ReadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol (headers bounded at ``MAX_HEADER_BYTES``) with a read deadline:
    a connection must deliver a whole request within ``read_timeout`` seconds of opening or of
    its previous answer, or it is closed (counted). uvicorn alone times out only idle
    keep-alive connections, not one that opens and sends nothing or sends slowly."""

    read_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.read_timeout, self._expired)

    def _disarm(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            assert self._deadline is not None
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            TIMED_OUT.inc()
            logger.info(
                "closed a connection that sent no whole request in %.0f s", self.read_timeout
            )
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        cycle = self.cycle
        if cycle is not None and not cycle.more_body and not cycle.response_complete:
            self._disarm()  # the request is in: the answer is the app's to give

    def send_400_response(self, msg: str) -> None:
        """The parser refused what followed a request's headers (a bad chunk, say): its 400 is
        the answer, and the app, already started on those headers, must not answer too."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.response_started:  # half an answer is out: no 400 can follow it
                self.transport.close()
                return
            cycle.disconnected = True  # the app's reads end, its answer is dropped
            cycle.message_event.set()
        super().send_400_response(msg)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def make_server(trigger: Trigger, host: str, port: int) -> Any:
    """A ``uvicorn.Server`` for the trigger on ``host:port`` (port 0: any free one; read
    ``bound_port(server)`` once started)."""
    import uvicorn

    settings = trigger.settings

    class Protocol(ReadDeadlineProtocol):
        read_timeout = settings.trigger_read_timeout_seconds

    config = uvicorn.Config(
        make_app(trigger),
        host=host,
        port=port,
        http=Protocol,
        loop="asyncio",
        lifespan="off",
        backlog=settings.trigger_backlog,
        limit_concurrency=settings.trigger_max_connections,
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        log_level="info",
        access_log=True,
        server_header=False,
    )
    return uvicorn.Server(config)


def bound_port(server: Any) -> int:
    """The port a started ``uvicorn.Server`` listens on."""
    return int(server.servers[0].sockets[0].getsockname()[1])


def serve(trigger: Trigger, host: str, port: int, settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT; with ``trigger_schedule_hours``, also retrain on schedule.
    At the end, the queued notifications get a few seconds to go out (the rest are counted)."""
    from shipyard.processes import check_ports

    check_ports(host, {"trigger": port})
    server = make_server(trigger, host, port)
    if settings.trigger_schedule_hours:
        period = settings.trigger_schedule_hours * 3600

        def tick() -> None:
            stop = threading.Event()
            while not stop.wait(period):
                trigger.request(
                    settings.model_name, "schedule", f"every {settings.trigger_schedule_hours:g} h"
                )

        threading.Thread(target=tick, daemon=True, name="retrain-schedule").start()
    try:
        server.run()
    finally:
        trigger.notifications.close(timeout=2 * settings.notify_timeout_seconds)
