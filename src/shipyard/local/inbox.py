"""The demo's chat channel: a small HTTP receiver on 127.0.0.1 that keeps what is posted to
it (Shipyard's and Alertmanager's Slack-shaped notifications)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Inbox:
    """An HTTP receiver on 127.0.0.1 keeping every JSON body posted to it (with its path and
    lower-cased headers): the chat channel of the demo (Slack-shaped notifications from
    Shipyard and from Alertmanager), and the incoming-webhook endpoint tests post to."""

    def __init__(self, echo: bool = False) -> None:
        self.messages: list[dict[str, Any]] = []
        self.started = time.monotonic()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    payload = json.loads(body or b"{}")
                except ValueError:
                    payload = {"raw": body[:500].decode(errors="replace")}
                headers = {k.lower(): v for k, v in self.headers.items()}
                inbox.messages.append(
                    {
                        "path": self.path,
                        "payload": payload,
                        "headers": headers,
                        "at": time.monotonic() - inbox.started,
                    }
                )
                if echo:
                    print(f"  [{self.path.strip('/')}] {inbox.text(payload)}", flush=True)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

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
        self.server.shutdown()
        self.server.server_close()
