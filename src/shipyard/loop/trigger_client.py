"""Asking a running ``shipyard trigger`` server for a run (``shipyard trigger run --url``) and
for its recent decisions (``GET /decisions``, bearer token too)."""

from __future__ import annotations

from shipyard.errors import ConfigError
from shipyard.http import ErrorAnswer, get_json, post_json
from shipyard.settings import Settings


def ask(url: str, model: str, reason: str, settings: Settings) -> str:
    """POST /run/MODEL with the bearer token; the server's decision in words."""
    if settings.trigger_token is None:
        raise ConfigError("set SHIPYARD_TRIGGER_TOKEN to ask the trigger server")
    try:
        answer = post_json(
            f"{url.rstrip('/')}/run/{model}",
            {"reason": reason},
            token=settings.trigger_token.get_secret_value(),
            what="the trigger server",
        )
    except ErrorAnswer as exc:  # it refused (401, 400, 404): our request, not an outage
        raise ConfigError(exc.message) from exc
    decision = answer["decisions"][0]
    return f"{decision['decision']}: {decision['reason']}"


def decisions(url: str, token: str, timeout: float = 10.0) -> dict:
    """``GET /decisions``: ``{"decisions": [...], "outcomes": {model: outcome}}``."""
    answer: dict = get_json(
        f"{url.rstrip('/')}/decisions", token=token, timeout=timeout, what="the trigger server"
    )
    return answer
