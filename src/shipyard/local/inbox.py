"""The demo's chat channel: a small HTTP receiver on 127.0.0.1 that keeps what is posted to
it (Shipyard's and Alertmanager's Slack-shaped notifications).

It is built as the project's other servers are (Starlette under uvicorn), and it is a write
path like any other: as with a Slack incoming webhook, the URL holds a secret (a post to any
other path is a 404), a body is bounded (413), and it keeps at most ``max_messages``; an older
message dropped to make room is counted in ``dropped`` and logged.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from typing import Any

MAX_BODY_BYTES = 1 << 20  # a Slack message is at most 40k characters; alerts groups a few KB
MAX_MESSAGES = 10_000

logger = logging.getLogger(__name__)


class Inbox:
    """An HTTP receiver on 127.0.0.1 keeping every JSON body posted under its ``url`` (with
    its path below ``url`` and lower-cased headers): the chat channel of the demo
    (Slack-shaped notifications from Shipyard and from Alertmanager), and the incoming-webhook
    endpoint tests post to."""

    def __init__(self, echo: bool = False, max_messages: int = MAX_MESSAGES) -> None:
        import uvicorn

        self.messages: list[dict[str, Any]] = []
        self.started, self.echo, self.max_messages = time.monotonic(), echo, max_messages
        self.dropped = 0  # older messages let go to keep at most max_messages
        self.prefix = f"/{secrets.token_urlsafe(16)}"
        config = uvicorn.Config(
            self._app(),
            host="127.0.0.1",
            port=0,
            loop="asyncio",
            lifespan="off",
            log_level="warning",
            access_log=False,
            server_header=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="inbox")
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and self.thread.is_alive():
            if time.monotonic() > deadline:
                raise TimeoutError("the inbox did not start within 10 s")
            time.sleep(0.005)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}{self.prefix}"

    def _app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import PlainTextResponse, Response
        from starlette.routing import Route

        async def receive(request: Request) -> Response:
            path = request.url.path
            if not path.startswith(self.prefix):
                return PlainTextResponse("not found", status_code=404)
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    logger.warning("inbox: a body over %d bytes refused (413)", MAX_BODY_BYTES)
                    return PlainTextResponse("body too large", status_code=413)
            self._keep(path[len(self.prefix) :] or "/", body, dict(request.headers))
            return Response(status_code=200)

        return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])

    def _keep(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = {"raw": body[:500].decode(errors="replace")}
        if len(self.messages) >= self.max_messages:
            del self.messages[0]
            self.dropped += 1
            logger.warning("inbox: full (%d), the oldest message dropped", self.max_messages)
        self.messages.append(
            {
                "path": path,
                "payload": payload,
                "headers": {k.lower(): v for k, v in headers.items()},
                "at": time.monotonic() - self.started,
            }
        )
        if self.echo:
            print(f"  [{path.strip('/')}] {self.text(payload)}", flush=True)

    @property
    def received(self) -> list[tuple[dict[str, str], Any]]:
        """(headers, payload) of every post, in order."""
        return [(m["headers"], m["payload"]) for m in self.messages]

    @staticmethod
    def text(payload: dict) -> str:
        """The first line of a Slack-shaped message (Shipyard's or Alertmanager's)."""
        if payload.get("attachments"):
            first = payload["attachments"][0] or {}
            line = first.get("title") or first.get("text") or ""
        else:
            line = payload.get("text") or json.dumps(payload)
        return (str(line).strip().splitlines() or [""])[0][:160]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
