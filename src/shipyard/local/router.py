"""A small local traffic splitter: the stand-in for Knative/Istio's weighted routes when the
stable and canary predictors run as local processes (``shipyard rollout --local``).

Requests go to the stable or the canary upstream by smooth weighted round-robin (nginx's
algorithm), so any run of 100 requests matches the weights to within one. ``/router/traffic``
(GET, PUT) reads and moves the split; a PUT never interrupts requests already under way.
Each answer carries ``x-shipyard-routed-to: stable|canary``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import ConfigError, RolloutFailed
from shipyard.processes import free_port, start_server, wait_for_http
from shipyard.rollout.inference_service import check_percent

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from shipyard.local.servers import LocalPredictor

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
    "upgrade",
    "proxy-connection",
    "te",
    "trailer",
}


@dataclass
class Upstream:
    version: str
    url: str


@dataclass
class Split:
    stable: Upstream
    canary: Upstream | None = None
    canary_percent: int = 0

    @classmethod
    def from_dict(cls, data: dict) -> Split:
        try:
            canary = Upstream(**data["canary"]) if data.get("canary") else None
            split = cls(Upstream(**data["stable"]), canary, int(data.get("canary_percent", 0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"bad traffic split {data}: {exc}") from None
        check_percent(split.canary_percent)
        if split.canary is None and split.canary_percent:
            raise ConfigError("canary_percent > 0 needs a canary upstream")
        return split


class WeightedPicker:
    """Smooth weighted round-robin over (stable, canary)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.set(100, 0)

    def set(self, stable: int, canary: int) -> None:
        with self._lock:
            self._weights = {"stable": stable, "canary": canary}
            self._current = {"stable": 0, "canary": 0}

    def pick(self) -> str:
        with self._lock:
            total = sum(self._weights.values())
            for name, weight in self._weights.items():
                self._current[name] += weight
            chosen = max(self._current, key=self._current.__getitem__)
            self._current[chosen] -= total
            return chosen


def create_app(split: Split) -> Starlette:
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    state = {"split": split}
    picker = WeightedPicker()
    picker.set(100 - split.canary_percent, split.canary_percent)
    client = httpx.AsyncClient(timeout=60.0, limits=httpx.Limits(max_keepalive_connections=64))

    async def traffic(request: Request) -> Response:
        if request.method == "PUT":
            try:
                new = Split.from_dict(json.loads(await request.body()))
            except (ConfigError, json.JSONDecodeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            state["split"] = new
            picker.set(100 - new.canary_percent, new.canary_percent)
        return JSONResponse(asdict(state["split"]))

    async def proxy(request: Request) -> Response:
        current = state["split"]
        role = picker.pick() if current.canary else "stable"
        upstream = current.canary if role == "canary" and current.canary else current.stable
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            answer = await client.request(
                request.method,
                upstream.url + request.url.path,
                params=request.query_params,
                headers=headers,
                content=await request.body(),
            )
        except httpx.HTTPError as exc:
            return JSONResponse(
                {"error": f"{role} upstream {upstream.url} failed: {exc}"},
                status_code=502,
                headers={"x-shipyard-routed-to": role},
            )
        out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        out["x-shipyard-routed-to"] = role
        return Response(answer.content, status_code=answer.status_code, headers=out)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]
    return Starlette(
        routes=[
            Route("/router/traffic", traffic, methods=["GET", "PUT"]),
            Route("/{path:path}", proxy, methods=methods),
        ],
        lifespan=lifespan,
    )


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stable-version", required=True)
    parser.add_argument("--stable-url", required=True)
    parser.add_argument("--canary-version")
    parser.add_argument("--canary-url")
    parser.add_argument("--canary-percent", type=int, default=0)
    args = parser.parse_args(argv)
    canary = Upstream(args.canary_version, args.canary_url.rstrip("/")) if args.canary_url else None
    split = Split.from_dict(
        asdict(
            Split(
                Upstream(args.stable_version, args.stable_url.rstrip("/")),
                canary,
                args.canary_percent,
            )
        )
    )
    uvicorn.run(create_app(split), host=args.host, port=args.port, log_level="warning")


def start_router(
    stable_version: str,
    stable_url: str,
    log: Path,
    host: str = "127.0.0.1",
    port: int | None = None,
    timeout: float = 30.0,
    canary: Upstream | None = None,
    canary_percent: int = 0,
) -> LocalPredictor:
    """Start the router as a local process (stopped by PID), all traffic on stable unless a
    canary and its percent are given: the split holds from the first request on."""
    import sys

    from shipyard.local.servers import LocalPredictor

    port = port or free_port(host)
    command = [
        sys.executable,
        "-m",
        "shipyard.local.router",
        "--host",
        host,
        "--port",
        str(port),
        "--stable-version",
        stable_version,
        "--stable-url",
        stable_url,
        *(
            [
                "--canary-version",
                canary.version,
                "--canary-url",
                canary.url,
                "--canary-percent",
                str(canary_percent),
            ]
            if canary
            else []
        ),
    ]
    base_url = f"http://{host}:{port}"
    process = start_server(command, log, f"{base_url}/router/traffic", "local router", timeout)
    return LocalPredictor(process, base_url, "router", log)


class LocalTraffic:
    """:class:`~shipyard.rollout.controller.Traffic` over the local router's admin API.
    ``upstreams`` maps each version to its predictor's base URL."""

    def __init__(self, router_url: str, model_name: str, upstreams: dict[str, str]) -> None:
        self.router_url, self.model_name, self.upstreams = router_url, model_name, upstreams

    def split(self) -> Split:
        return Split.from_dict(self._call("GET"))

    def stable_version(self) -> str | None:
        return self.split().stable.version

    def route(self, canary: str, percent: int) -> None:
        current = self.split()
        self._put(Split(current.stable, Upstream(canary, self._url(canary)), percent))

    def wait_ready(self, canary: str, timeout: float) -> None:
        url = f"{self._url(canary)}/v2/models/{self.model_name}/ready"
        if not wait_for_http(url, timeout, interval=0.5):
            raise RolloutFailed(f"canary {canary} was not ready within {timeout:.0f} s ({url})")

    def promote(self, canary: str) -> None:
        self._put(Split(Upstream(canary, self._url(canary))))

    def rollback(self, canary: str) -> None:
        self._put(Split(self.split().stable))

    def _url(self, version: str) -> str:
        if version not in self.upstreams:
            raise ConfigError(f"no local predictor for version {version}")
        return self.upstreams[version]

    def _put(self, split: Split) -> None:
        self._call("PUT", asdict(split))

    def _call(self, method: str, body: dict | None = None) -> dict:
        from shipyard.http import get_json, post_json

        url, what = f"{self.router_url}/router/traffic", "the local router"
        if body is None:
            answer: dict = get_json(url, what=what)
        else:
            answer = post_json(url, body, method=method, what=what)
        return answer


if __name__ == "__main__":
    main()
