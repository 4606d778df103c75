"""Who may write to the drift sidecar, and its own routes (the latest verdict, ground truth).

Every write path has an owner (:class:`IngestGuard`, ASGI middleware in front of them all):

- rows (every POST but the labels route) come only from the predictor: with the
  ``SHIPYARD_INGEST_TOKEN`` bearer token (the local forwarder sends it), or — where
  ``SHIPYARD_INGEST_TRUST_LOOPBACK`` is on, on a cluster — from 127.0.0.1/::1, i.e. KServe's
  logger agent in the same pod, which cannot send a token; anything else is a 401;
- ground truth (``/v1/labels/{name}``) only with the ``SHIPYARD_LABEL_TOKEN`` bearer token
  (401 without it; 404 while no token is set), checked before the body is read;
- when the inference log's buffer is full, rows are refused with 503 + Retry-After (and
  counted), never kept growing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse
from kserve.errors import InvalidInput

from shipyard.monitoring.inference_log import DropReport
from shipyard.monitoring.live_performance import LabelResult
from shipyard.settings import Settings

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

from shipyard.monitoring.detector import (
    LABELS_ROUTE,
    LOOPBACK,
    REFUSED,
    RETRY_AFTER_SECONDS,
    DriftDetectorModel,
    bearer_matches,
)


class IngestGuard:
    """ASGI middleware in front of the sidecar's write paths (see the module's docstring):
    who may write, and whether there is room, decided before a body is parsed."""

    def __init__(self, app: ASGIApp, model: DriftDetectorModel) -> None:
        self.app, self.model = app, model
        self.refusals = DropReport("sidecar writes refused")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        settings = self.model.settings
        authorization = _header(scope, b"authorization")
        if LABELS_ROUTE.match(scope.get("path", "")):
            if settings.label_token is None:
                return await self._refuse(
                    send,
                    "labels",
                    "disabled",
                    404,
                    "labels are off on this sidecar: set SHIPYARD_LABEL_TOKEN (a Secret)",
                )
            if not bearer_matches(settings.label_token, authorization):
                return await self._refuse(
                    send,
                    "labels",
                    "unauthorized",
                    401,
                    "labels need 'Authorization: Bearer <label token>'",
                )
            return await self.app(scope, receive, send)
        client = scope.get("client") or ("", 0)
        trusted = settings.ingest_trust_loopback and client[0] in LOOPBACK
        if not (trusted or bearer_matches(settings.ingest_token, authorization)):
            return await self._refuse(
                send,
                "rows",
                "unauthorized",
                401,
                "rows are taken from the predictor only: 'Authorization: Bearer <ingest token>'",
            )
        if self.model.log is not None and not self.model.log.room_for_rows():
            return await self._refuse(
                send,
                "rows",
                "busy",
                503,
                "the inference log's buffer is full (storage slow?); retry later",
            )
        await self.app(scope, receive, send)

    async def _refuse(self, send: Send, route: str, reason: str, status: int, message: str) -> None:
        from shipyard.serving.rest import send_json

        REFUSED.labels(route, reason).inc()
        self.refusals.add(f"{route} {reason} ({status})", 1)
        headers: tuple[tuple[bytes, bytes], ...] = ()
        if status == 401:
            headers = ((b"www-authenticate", b"Bearer"),)
        elif status in (429, 503):
            headers = ((b"retry-after", str(RETRY_AFTER_SECONDS).encode()),)
        await send_json(send, status, message, headers)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def sidecar_routes(model: DriftDetectorModel) -> list[tuple[str, Any, list[str]]]:
    """The sidecar's own routes: the latest verdict (GET) and ground truth (POST)."""
    name = model.name

    async def latest() -> JSONResponse:
        monitor, _ = model.loaded()
        return JSONResponse(
            {
                "model": name,
                "version": model.version,
                "backend": monitor.detector.backend_name,
                "windows_scored": monitor.scored,
                "drift_windows": monitor.drift_windows,
                "detector_errors": monitor.errors,
                "rows_dropped": monitor.dropped,
                "rows_buffered": monitor.buffered,
                "latest": monitor.latest.to_dict() if monitor.latest else None,
                # the classifier's label-free estimate over its latest window (CBPE)
                "estimated": model.estimate.latest if model.estimate else None,
                # mean |contribution| shares against training's (feature-importance drift)
                "attribution": model.attribution.status()
                if model.attribution
                else {"enabled": False, "reason": model.attribution_off},
            }
        )

    async def labels(request: Request) -> JSONResponse:
        """Ground truth for earlier requests: ``{"labels": [{"id", "row", "label"}, …]}``
        (``"correct": true`` on the post or an item replaces an earlier label)."""
        return receive_labels(model, await _bounded_body(request, model.settings))

    return [(f"/v1/drift/{name}", latest, ["GET"]), (f"/v1/labels/{name}", labels, ["POST"])]


class _TooLarge(Exception):
    pass


async def _bounded_body(request: Request, settings: Settings) -> bytes | _TooLarge:
    limit = settings.labels_max_request_bytes
    declared = request.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > limit:
        return _TooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return _TooLarge()
    return bytes(body)


class _LabelsRefused(Exception):
    """A label post answered with ``status`` and ``message`` (counted under ``reason`` if set)."""

    def __init__(
        self,
        status: int,
        message: str,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.reason, self.headers = status, message, reason, headers


def receive_labels(model: DriftDetectorModel, body: bytes | _TooLarge) -> JSONResponse:
    """Check, keep and measure one label post; 4xx naming what was refused, the rest kept."""
    from shipyard.serving.decoding import bounded

    try:
        items, correct = _label_items(model.settings, body)
        _, live = model.loaded()
        if model.log is not None and not model.log.room_for_labels(len(items)):
            raise _LabelsRefused(
                503,
                "the sidecar is still writing earlier labels; retry later",
                "busy",
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
    except _LabelsRefused as refused:
        if refused.reason:
            REFUSED.labels("labels", refused.reason).inc()
        return JSONResponse(
            {"error": bounded(refused.message, 400)}, refused.status, headers=refused.headers
        )
    result = live.add_labels(items, correct)
    model.keep_labels(result.accepted)
    return _labels_answer(result, len(items), live.metrics())


def _label_items(settings: Settings, body: bytes | _TooLarge) -> tuple[list, bool]:
    """The post's label objects and its ``correct`` flag, or a 4xx naming what is wrong."""
    from shipyard.serving.decoding import parse_json

    if isinstance(body, _TooLarge):
        raise _LabelsRefused(
            413,
            f"label post larger than {settings.labels_max_request_bytes} bytes "
            "(SHIPYARD_LABELS_MAX_REQUEST_BYTES): send fewer labels per post",
            "too_large",
        )
    try:
        parsed = parse_json(body, "labels body")
    except InvalidInput as exc:
        raise _LabelsRefused(400, f"invalid labels: {exc.reason}") from None
    items = parsed.get("labels") if isinstance(parsed, dict) else parsed
    correct = parsed.get("correct", False) if isinstance(parsed, dict) else False
    if not isinstance(items, list):
        raise _LabelsRefused(
            400, "invalid labels: 'labels' must be a list of {id, row, label} objects"
        )
    if not isinstance(correct, bool):
        raise _LabelsRefused(400, "invalid labels: 'correct' must be true or false")
    if len(items) > settings.labels_max_per_request:
        raise _LabelsRefused(
            413,
            f"{len(items)} labels in one post; at most {settings.labels_max_per_request} "
            "(SHIPYARD_LABELS_MAX_PER_REQUEST)",
            "too_large",
        )
    return items, correct


def _labels_answer(result: LabelResult, posted: int, metrics: dict) -> JSONResponse:
    """What was kept and the live metrics; 409 when every refusal is a duplicate, else 400
    naming the first refused label, when any was refused."""
    from shipyard.serving.decoding import bounded

    answer: dict[str, Any] = {
        "accepted": len(result.accepted),
        "rejected": len(result.rejected),
        "counts": result.counts,
        "metrics": metrics,
    }
    if not result.rejected:
        return JSONResponse(answer)
    first = result.rejected[0]
    where = f"labels[{first.index}]" + (f".{first.field}" if first.field else "")
    status = 409 if all(r.outcome == "duplicate" for r in result.rejected) else 400
    message = (
        f"{len(result.rejected)} of {posted} labels refused, {len(result.accepted)} kept; "
        f"{where} {first.reason}"
    )
    answer["refused"] = [r.to_dict() for r in result.rejected[:20]]
    return JSONResponse({"error": bounded(message, 400), **answer}, status)
