"""Running the predictor in KServe's ModelServer, bound to a chosen host, hardened.

kserve 0.20 binds REST to 0.0.0.0 and gRPC to [::] unconditionally; tests and local runs must
listen on 127.0.0.1 only, so :class:`ShipyardModelServer` takes a ``host``. What a client
sends can neither cause a 5xx nor take the model offline: request decoding and readiness are
``dataplane.HardenedDataPlane``'s, the REST handlers and middleware ``rest``'s, the gRPC
service ``grpc_service``'s, and load/unload need a token (``repository``). Both ports are
checked before anything starts, so a busy port is one line, not a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from starlette.types import ASGIApp, Receive, Scope, Send

from kserve import ModelServer
from shipyard.errors import ShipyardError, exit_code, one_line
from shipyard.processes import check_ports
from shipyard.serving import workers
from shipyard.serving.dataplane import HardenedDataPlane
from shipyard.serving.decoding import bounded
from shipyard.serving.grpc_service import GRPCServer
from shipyard.serving.repository import ServedModelsRepository, Verdict, authorize
from shipyard.serving.rest import Count, HardenedRESTServer, count_refusal
from shipyard.settings import Settings, get_settings

if TYPE_CHECKING:
    import argparse


logger = logging.getLogger(__name__)


class VersionedPaths:
    """ASGI middleware for the v2 versioned paths, which kserve 0.20 answers with 501.

    ``/v2/models/{name}/versions/{version}/…`` goes to ``/v2/models/{name}/…`` when
    ``version`` is the one being served, and is a 404 naming both versions otherwise.
    """

    _PATH = re.compile(r"^/v2/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)(?P<rest>/.*)?$")

    def __init__(self, app: ASGIApp, versions: dict[str, str], count: Count | None = None) -> None:
        self.app, self.versions, self.count = app, versions, count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = self._PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match:
            name, version = match["name"], match["version"]
            served = self.versions.get(name)
            if served is not None and version != served:
                body = json.dumps(
                    {
                        "error": f"model '{bounded(name)}' version "
                        f"'{bounded(version)}' is not served here; this "
                        f"server serves version '{served}'"
                    }
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 404,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                count_refusal(self.count, scope.get("path", ""), 404)
                return
            path = f"/v2/models/{name}{match['rest'] or ''}"
            scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, send)


class ShipyardModelServer(ModelServer):
    """``kserve.ModelServer`` with a listen ``host``, hardened request handling, and the
    model-repository extension behind ``settings.model_repository_token``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        routes: list[tuple[str, Callable[..., Any], list[str]]] | None = None,
        settings: Settings | None = None,
        request_metrics: bool = True,
        middleware: list[tuple[Callable[..., ASGIApp], dict[str, Any]]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.host = host
        self.routes = routes or []  # extra endpoints: (path, handler, methods)
        self.middleware = middleware or []  # extra ASGI middleware (outside VersionedPaths)
        self.settings = settings or get_settings()
        self.dataplane = HardenedDataPlane(
            self.registered_models,
            role=self.settings.role,
            request_metrics=request_metrics,  # a predictor's; the drift sidecar has none
            repository_enabled=authorize(self.settings.model_repository_token, None)
            is not Verdict.DISABLED,
        )
        self.model_repository_extension = ServedModelsRepository(self.registered_models)
        self.grpc_server: GRPCServer | None = None
        self.worker_pids: list[int] = []  # the forked REST workers (``workers``)

    def check_ports(self) -> None:
        """``ServiceUnavailable`` naming the port if either one is taken."""
        check_ports(
            self.host,
            {"HTTP": self.http_port, "gRPC": self.grpc_port if self.enable_grpc else None},
        )

    def register_ready(self, models: list[Any]) -> dict[str, Any]:
        """Register each ready model through kserve's public ``register_model`` and start
        it (and its engine); the ready ones by name. ``NoModelReady`` if none is."""
        from kserve.errors import NoModelReady

        for model in models:
            if model.ready:
                self.register_model(model)
                model.enable_latency_logging = self.enable_latency_logging
            model.start()
            if model.engine:
                self.servers.append(model.start_engine())
        served = {m.name: m for m in models if m.ready}
        if models and not served:
            raise NoModelReady(models)
        return served

    def start(self, models: list[Any]) -> None:
        """Serve ``models`` on ``host``. Composed of kserve's public parts (``register_model``,
        ``setup_event_loop``, ``register_signal_handler``, ``stop``) and our own REST and
        gRPC servers, not a copy of ``ModelServer.start`` (which hard-codes 0.0.0.0/[::] and
        kserve's unhardened handlers)."""
        from kserve.model_server import app

        self.check_ports()
        for path, handler, methods in self.routes:
            app.add_api_route(path, handler, methods=methods)
        served = self.register_ready(models)
        self.dataplane.served = set(served)
        self.model_repository_extension.served = served
        versions = {
            m.name: str(getattr(m, "version", None))
            for m in models
            if getattr(m, "version", None) is not None
        }
        sockets = None
        if self.workers > 1:  # the others share this socket: forked before any loop or gRPC
            sockets = [workers.listening_socket(self.host, self.http_port)]
            self.worker_pids = workers.fork(
                self.workers - 1, lambda: self._serve_worker(versions, sockets, models)
            )
        self.servers.append(self._rest(versions).start(sockets))
        if self.enable_grpc:
            self.grpc_server = GRPCServer(
                self.host,
                self.grpc_port,
                self.dataplane,
                self.model_repository_extension,
                self.grace_period,
                self.settings.max_request_bytes,
                self.settings.model_repository_token,
            )
            self.servers.append(self.grpc_server.start(self.max_threads))
        self.setup_event_loop()
        self.register_signal_handler()
        asyncio.run(_gather(self.servers))

    def _serve_worker(
        self, versions: dict[str, str], sockets: list[Any], models: list[Any]
    ) -> None:
        """A forked worker: REST only, on the shared socket, until its stop signal."""
        for model in models:
            forwarder = getattr(model, "forwarder", None)
            if forwarder is not None:
                forwarder.start()  # the parent's posting thread is not in this process
        self.setup_event_loop()
        asyncio.run(self._rest(versions).start(sockets))

    def _rest(self, versions: dict[str, str]) -> HardenedRESTServer:
        """The hardened REST server on ``host``, with the versioned paths and extra middleware."""
        rest = HardenedRESTServer(
            FASTAPI_APP_IMPORT_STRING,
            self.dataplane,
            self.model_repository_extension,
            self.http_port,
            access_log_format=self.access_log_format,
            workers=1,
            grace_period=self.grace_period,
            event_loop=self.event_loop,
            timeout_keep_alive=self.timeout_keep_alive,
            max_request_bytes=self.settings.max_request_bytes,
            repository_token=self.settings.model_repository_token,
            middleware=[
                (VersionedPaths, {"versions": versions, "count": self.dataplane.count_refused}),
                *self.middleware,
            ],
            count=self.dataplane.count_refused,
        )
        rest.config.host = self.host
        return rest

    def stop(self, sig: int) -> None:
        """Stop our gRPC server, then kserve's own shutdown (clients, unloading models);
        uvicorn stops the REST server on the signal itself."""
        workers.stop(self.worker_pids, sig)
        if self.grpc_server is not None:
            asyncio.create_task(self.grpc_server.stop(sig))
        super().stop(sig)


async def _gather(servers: list[Any]) -> None:
    await asyncio.gather(*servers)


def serve_predictor(
    source: str,
    name: str,
    host: str,
    http_port: int,
    grpc_port: int,
    enable_grpc: bool = True,
    logger_url: str | None = None,
    settings: Settings | None = None,
    **server_kwargs: Any,
) -> None:
    """Load the model (verified) and serve it until SIGTERM/SIGINT; with ``logger_url``,
    forward each request/response to it as KServe's logger would (the drift detector)."""
    from shipyard.serving.predictor import ShipyardPredictor

    settings = settings or get_settings()
    if logger_url:
        settings = settings.model_copy(update={"logger_url": logger_url})
    server = ShipyardModelServer(
        host=host,
        http_port=http_port,
        grpc_port=grpc_port,
        enable_grpc=enable_grpc,
        settings=settings,
        workers=worker_count(settings),
        **server_kwargs,
    )
    server.check_ports()  # before the model loads: a busy port fails in a second, not ten
    model = ShipyardPredictor(name, source, settings)
    model.load()
    server.start([model])


def worker_count(settings: Settings) -> int:
    """``workers.count`` where the metrics can be shared between processes, else one (with
    a warning: ``workers.prepare`` must run before ``prometheus_client`` is imported); one
    where the model-repository extension is on (a load or unload would reach one worker)."""
    wanted = workers.count(settings.serving_workers)
    if wanted > 1 and settings.model_repository_token is not None:
        logger.info("serving with 1 worker: the model repository's load/unload is per process")
        return 1
    if wanted > 1 and not workers.shared_metrics():
        logger.warning(
            "serving with 1 worker, not %d: the metrics cannot be shared (start through "
            "`shipyard serve` or `shipyard-predictor`)",
            wanted,
        )
        return 1
    return wanted


def parser_for(description: str) -> argparse.ArgumentParser:
    """kserve's own argument parser as a parent, plus the listen host."""
    import argparse

    from kserve import model_server
    from shipyard.settings import get_settings

    parser = argparse.ArgumentParser(
        parents=[model_server.parser], conflict_handler="resolve", description=description
    )
    parser.add_argument(
        "--host", default=get_settings().serve_host, help="address to listen on (0.0.0.0 in a pod)"
    )
    return parser


def _settings_from(args: argparse.Namespace, names: tuple[str, ...]) -> Settings:
    """The process settings with the command line's values for ``names`` on top."""
    return get_settings().model_copy(
        update={n: getattr(args, n) for n in names if getattr(args, n) is not None}
    )


def main(argv: list[str] | None = None) -> None:
    """The predictor entrypoint (``shipyard-predictor``); each flag overrides its
    ``SHIPYARD_*`` setting."""
    defaults = get_settings()
    parser = parser_for("Shipyard KServe v2 predictor")
    parser.add_argument(
        "--model_source",
        default=defaults.model_source,
        help="models:/name@alias, models:/name/N, or a bundle folder "
        "(KServe mounts storageUri at /mnt/models)",
    )
    parser.add_argument(
        "--logger_url",
        default=defaults.logger_url,
        help="post each request/response there as CloudEvents (local mode; "
        "on a cluster the InferenceService logger does this)",
    )
    parser.add_argument(
        "--logger_mode",
        choices=("all", "request", "response"),
        default=defaults.logger_mode,
        help="which events to forward, as the InferenceService logger.mode "
        "(the drift detector reads requests only)",
    )
    parser.add_argument(
        "--role",
        choices=("stable", "canary"),
        default=defaults.role,
        help="label on the metrics that tells stable from canary (SHIPYARD_ROLE)",
    )
    parser.add_argument(
        "--model_version",
        default=defaults.model_version,
        help="registry version of a model served from a folder: the metrics' "
        "version label (SHIPYARD_MODEL_VERSION)",
    )
    args, _ = parser.parse_known_args(argv)
    settings = _settings_from(
        args, ("model_source", "logger_url", "logger_mode", "role", "model_version")
    )
    with one_line_errors():
        serve_predictor(
            settings.model_source,
            args.model_name,
            args.host,
            args.http_port,
            args.grpc_port,
            enable_grpc=args.enable_grpc,
            settings=settings,
            max_threads=args.max_threads,
        )


class one_line_errors:  # noqa: N801 (a context manager used like a function)
    """Entrypoints end a ``ShipyardError`` with one line on stderr and its documented exit
    code (``shipyard.errors``: 3 for a busy port or an unreachable service)."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if isinstance(exc, ShipyardError):
            print(f"shipyard: error: {one_line(exc)}", file=sys.stderr, flush=True)
            sys.exit(exit_code(exc))
        return False
