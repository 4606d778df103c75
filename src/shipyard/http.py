"""The one HTTP client helper for every call Shipyard makes itself (metrics and Prometheus for
the rollout gates, MLflow's health, the trigger, webhooks, the local servers): a timeout always,
JSON in and out, and a failure that is one :class:`ServiceUnavailable` naming what and where.

A server that answers with a non-2xx status raises :class:`ErrorAnswer` (a
``ServiceUnavailable`` too) carrying the status and the first bytes of the body, for callers
that tell a refusal from an outage."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any

from shipyard.errors import ServiceUnavailable

BODY_QUOTED = 200  # bytes of an error answer kept in the message


class ErrorAnswer(ServiceUnavailable):
    """``url`` answered ``status`` (not 2xx); ``body`` is the start of what it said."""

    def __init__(self, what: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{what} at {url} answered HTTP {status}: {body}")
        self.url, self.status, self.body = url, status, body


def reason(exc: BaseException, timeout: float) -> str:
    """Why a request failed, in a few words (``no answer within 5 s``, ``connection refused``)."""
    cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(cause, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror.lower()
    return str(cause)


def request(
    url: str,
    body: Any = None,
    *,
    method: str | None = None,
    token: str | None = None,
    timeout: float = 10.0,
    what: str = "the server",
) -> bytes:
    """The answer's body; ``body`` (any JSON value) is sent as JSON, ``token`` as a bearer
    token. :class:`ErrorAnswer` for a non-2xx status, :class:`ServiceUnavailable` when the
    server cannot be reached or stays silent for ``timeout`` seconds."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    prepared = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(prepared, timeout=timeout) as response:
            answer: bytes = response.read()
            return answer
    except urllib.error.HTTPError as exc:
        quoted = exc.read()[:BODY_QUOTED].decode(errors="replace")
        raise ErrorAnswer(what, url, exc.code, quoted) from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise ServiceUnavailable(f"cannot reach {what} at {url}: {reason(exc, timeout)}") from exc


def get_json(url: str, *, token: str | None = None, timeout: float = 10.0, what: str = "") -> Any:
    """``GET url`` as JSON (see :func:`request`)."""
    return json.loads(request(url, token=token, timeout=timeout, what=what or "the server"))


def post_json(
    url: str,
    body: Any,
    *,
    method: str = "POST",
    token: str | None = None,
    timeout: float = 10.0,
    what: str = "",
) -> Any:
    """``POST`` (or ``method``) ``body`` as JSON, the answer as JSON (see :func:`request`)."""
    answer = request(
        url, body, method=method, token=token, timeout=timeout, what=what or "the server"
    )
    return json.loads(answer) if answer.strip() else None


def get_text(url: str, *, timeout: float = 10.0, what: str = "") -> str:
    """``GET url`` as text (Prometheus' exposition format, a health page)."""
    return request(url, timeout=timeout, what=what or "the server").decode()


def status(url: str, timeout: float = 2.0) -> int | None:
    """The status ``GET url`` answers, or None when nothing answers (a readiness poll)."""
    try:
        request(url, timeout=timeout)
    except ErrorAnswer as exc:
        return exc.status
    except ServiceUnavailable:
        return None
    return 200
