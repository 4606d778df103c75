"""The HTTP face of ``shipyard trigger`` (its own Deployment in the manifests).

``POST /alertmanager`` (Alertmanager's webhook, bearer token), ``POST /mlflow`` (MLflow's
registry webhook, HMAC-signed), ``POST /run/{model}`` (a person, bearer token); ``GET /healthz``,
``GET /decisions`` (the recent ones), ``GET /metrics``. Anything unauthenticated is a 401 and
never starts a run; a malformed body is a 400.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shipyard.settings import Settings
from shipyard.trigger import Decision, Trigger, mlflow_signature_ok

MAX_BODY = 1 << 20


def make_server(trigger: Trigger, host: str, port: int) -> ThreadingHTTPServer:
    settings = trigger.settings

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path == "/healthz":
                return self._send(200, {"ok": True})
            if self.path == "/decisions":
                return self._send(
                    200,
                    {
                        "decisions": [d.__dict__ for d in trigger.decisions],
                        "outcomes": trigger.outcomes,
                    },
                )
            if self.path == "/metrics":
                body = generate_latest()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            return self._send(404, {"error": f"no route {self.path[:100]}"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self._send(413, {"error": "body too large"})
            body = self.rfile.read(length)
            if self.path == "/mlflow":
                secret = settings.trigger_mlflow_secret
                if secret is None or not mlflow_signature_ok(
                    secret.get_secret_value(), dict(self.headers), body
                ):
                    return self._send(401, {"error": "missing or wrong MLflow signature"})
                return self._decided(lambda p: trigger.from_mlflow(p), body)
            if not self._token_ok():
                return self._send(401, {"error": "missing or wrong bearer token"})
            if self.path == "/alertmanager":
                return self._decided(lambda p: trigger.from_alertmanager(p), body)
            if self.path.startswith("/run/") and len(self.path) > 5:
                model = self.path[5:]
                return self._decided(
                    lambda p: [
                        trigger.request(model, "manual", p.get("reason") or "asked by a person")
                    ],
                    body or b"{}",
                )
            return self._send(404, {"error": f"no route {self.path[:100]}"})

        def _token_ok(self) -> bool:
            token = settings.trigger_token
            sent = self.headers.get("Authorization", "")
            return token is not None and hmac.compare_digest(
                sent, f"Bearer {token.get_secret_value()}"
            )

        def _decided(self, act: Callable[[dict], list[Decision]], body: bytes) -> None:
            try:
                payload = json.loads(body or b"{}")
                if not isinstance(payload, dict):
                    raise ValueError("the body is not a JSON object")
            except ValueError as exc:
                return self._send(400, {"error": f"malformed JSON: {str(exc)[:200]}"})
            decisions: list[Decision] = act(payload)
            return self._send(200, {"decisions": [d.__dict__ for d in decisions]})

        def _send(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args: Any) -> None:  # one line per request, logged
            import logging

            logging.getLogger("shipyard.trigger").info("%s %s", self.address_string(), fmt % args)

    return ThreadingHTTPServer((host, port), Handler)


def serve(trigger: Trigger, host: str, port: int, settings: Settings) -> None:
    """Serve until interrupted; with ``trigger_schedule_hours``, also retrain on schedule."""
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
    server.serve_forever()
