"""Asking a running ``shipyard trigger`` server for a run (``shipyard trigger run --url``) and
for its recent decisions (``GET /decisions``, bearer token too)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from shipyard.errors import ConfigError, ServiceUnavailable
from shipyard.settings import Settings


def ask(url: str, model: str, reason: str, settings: Settings) -> str:
    """POST /run/MODEL with the bearer token; the server's decision in words."""
    if settings.trigger_token is None:
        raise ConfigError("set SHIPYARD_TRIGGER_TOKEN to ask the trigger server")
    request = urllib.request.Request(
        f"{url.rstrip('/')}/run/{model}",
        data=json.dumps({"reason": reason}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {settings.trigger_token.get_secret_value()}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            decision = json.loads(response.read())["decisions"][0]
    except urllib.error.HTTPError as exc:
        raise ConfigError(
            f"the trigger server at {url} answered {exc.code}: "
            f"{exc.read()[:200].decode(errors='replace')}"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ServiceUnavailable(f"cannot reach the trigger server at {url}: {exc}") from exc
    return f"{decision['decision']}: {decision['reason']}"


def decisions(url: str, token: str, timeout: float = 10.0) -> dict:
    """``GET /decisions``: ``{"decisions": [...], "outcomes": {model: outcome}}``."""
    request = urllib.request.Request(
        f"{url.rstrip('/')}/decisions", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer: dict = json.loads(response.read())
    return answer
