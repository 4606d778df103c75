"""Running the predictor in KServe's ModelServer, bound to a chosen host.

kserve 0.20 binds REST to 0.0.0.0 and gRPC to [::] unconditionally; tests and local runs must
listen on 127.0.0.1 only, so :class:`ShipyardModelServer` takes a ``host``. It also answers a
malformed v2 body with 400 and a message naming the field (FastAPI would answer 422 and echo
the whole body back).
"""

from __future__ import annotations

import asyncio
import json
import re
from concurrent import futures

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from grpc import aio
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.rest.server import RESTServer

from kserve import ModelServer
from shipyard.serving import metrics


def describe_validation_error(exc: RequestValidationError) -> str:
    """One line per problem: the field's path and what is wrong, never the submitted value."""
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        if error.get("type") == "json_invalid":
            problems.append(f"malformed JSON: {error.get('ctx', {}).get('error', error['msg'])}")
        else:
            problems.append(f"{location or 'body'}: {error.get('msg', 'invalid')}")
    return "invalid inference request: " + "; ".join(problems)


async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    metrics.count_rejected(request.url.path)
    return JSONResponse(status_code=400, content={"error": describe_validation_error(exc)})


class VersionedPaths:
    """ASGI middleware for the v2 versioned paths, which kserve 0.20 answers with 501.

    ``/v2/models/{name}/versions/{version}/…`` goes to ``/v2/models/{name}/…`` when
    ``version`` is the one being served, and is a 404 naming both versions otherwise.
    """

    _PATH = re.compile(r"^/v2/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)(?P<rest>/.*)?$")

    def __init__(self, app, versions: dict[str, str]) -> None:
        self.app, self.versions = app, versions

    async def __call__(self, scope, receive, send) -> None:
        match = self._PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match:
            name, version = match["name"], match["version"]
            served = self.versions.get(name)
            if served is not None and version != served:
                body = json.dumps({"error": f"model '{name}' version '{version}' is not "
                                            f"served here; this server serves version "
                                            f"'{served}'"}).encode()
                await send({"type": "http.response.start", "status": 404,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
                return
            path = f"/v2/models/{name}{match['rest'] or ''}"
            scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, send)


class _GRPCServer:
    """kserve's v2 gRPC service (its own servicer and interceptors) on ``host:port``."""

    def __init__(self, host: str, port: int, data_plane, repository_extension, grace: int,
                 options: list[tuple[str, int]]) -> None:
        self.address = f"{host}:{port}"
        self.data_plane, self.repository_extension = data_plane, repository_extension
        self.grace, self.options, self._server = grace, options, None

    async def start(self, max_workers: int) -> None:
        self._server = aio.server(futures.ThreadPoolExecutor(max_workers=max_workers),
                                  interceptors=(LoggingInterceptor(),
                                                ExceptionToStatusInterceptor()),
                                  options=self.options)
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            InferenceServicer(self.data_plane, self.repository_extension), self._server)
        self._server.add_insecure_port(self.address)
        await self._server.start()
        await self._server.wait_for_termination()

    async def stop(self, sig: int | None = None) -> None:
        if self._server:
            await self._server.stop(grace=self.grace)


class ShipyardModelServer(ModelServer):
    """``kserve.ModelServer`` with a listen ``host`` and 400s for malformed requests."""

    def __init__(self, host: str = "127.0.0.1", routes: list[tuple[str, object]] | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.host = host
        self.routes = routes or []  # extra GET endpoints: (path, handler)

    def start(self, models) -> None:
        from kserve.model_server import app

        app.add_exception_handler(RequestValidationError, validation_error_handler)
        for path, handler in self.routes:
            app.add_api_route(path, handler, methods=["GET"])
        app.add_middleware(VersionedPaths, versions={
            m.name: str(getattr(m, "version", None)) for m in models
            if getattr(m, "version", None) is not None})
        self._register_and_check_atleast_one_model_is_ready(models)
        self._rest_server = RESTServer(
            FASTAPI_APP_IMPORT_STRING, self.dataplane, self.model_repository_extension,
            self.http_port, access_log_format=self.access_log_format, workers=1,
            grace_period=self.grace_period, event_loop=self.event_loop,
            timeout_keep_alive=self.timeout_keep_alive)
        self._rest_server.config.host = self.host
        self.servers.append(self._rest_server.start())
        if self.enable_grpc:
            self._grpc_server = _GRPCServer(self.host, self.grpc_port, self.dataplane,
                                            self.model_repository_extension, self.grace_period,
                                            [("grpc.max_send_message_length", 64 << 20),
                                             ("grpc.max_receive_message_length", 64 << 20)])
            self.servers.append(self._grpc_server.start(self.max_threads))
        self.setup_event_loop()
        self.register_signal_handler()
        asyncio.run(self._serve())


def serve_predictor(source: str, name: str, host: str, http_port: int, grpc_port: int,
                    enable_grpc: bool = True, logger_url: str | None = None,
                    logger_mode: str = "request", **server_kwargs) -> None:
    """Load the model (verified) and serve it until SIGTERM/SIGINT; with ``logger_url``,
    forward each request/response to it as KServe's logger would (the drift detector)."""
    from shipyard.serving.predictor import ShipyardPredictor

    model = ShipyardPredictor(name, source, logger_url=logger_url, logger_mode=logger_mode)
    model.load()
    ShipyardModelServer(host=host, http_port=http_port, grpc_port=grpc_port,
                        enable_grpc=enable_grpc, **server_kwargs).start([model])


def _parser(description: str):
    """kserve's own argument parser as a parent, plus the listen host."""
    import argparse

    from kserve import model_server
    from shipyard.settings import get_settings

    parser = argparse.ArgumentParser(parents=[model_server.parser], conflict_handler="resolve",
                                     description=description)
    parser.add_argument("--host", default=get_settings().serve_host,
                        help="address to listen on (0.0.0.0 in a pod)")
    return parser


def main(argv: list[str] | None = None) -> None:
    """The predictor entrypoint."""
    import os

    from shipyard.settings import get_settings

    parser = _parser("Shipyard KServe v2 predictor")
    parser.add_argument("--model_source",
                        default=os.environ.get("SHIPYARD_MODEL_SOURCE", "/mnt/models"),
                        help="models:/name@alias, models:/name/N, or a bundle folder "
                             "(KServe mounts storageUri at /mnt/models)")
    parser.add_argument("--logger_url", default=os.environ.get("SHIPYARD_LOGGER_URL"),
                        help="post each request/response there as CloudEvents (local mode; "
                             "on a cluster the InferenceService logger does this)")
    parser.add_argument("--logger_mode", choices=("all", "request", "response"),
                        default=os.environ.get("SHIPYARD_LOGGER_MODE", "request"),
                        help="which events to forward, as the InferenceService logger.mode "
                             "(the drift detector reads requests only)")
    parser.add_argument("--role", choices=("stable", "canary"), default=get_settings().role,
                        help="label on the metrics that tells stable from canary "
                             "(env SHIPYARD_ROLE)")
    parser.add_argument("--model_version", default=get_settings().model_version,
                        help="registry version of a model served from a folder: the metrics' "
                             "version label (env SHIPYARD_MODEL_VERSION)")
    args, _ = parser.parse_known_args(argv)
    os.environ["SHIPYARD_ROLE"] = args.role
    if args.model_version:
        os.environ["SHIPYARD_MODEL_VERSION"] = args.model_version
    get_settings.cache_clear()
    serve_predictor(args.model_source, args.model_name, args.host, args.http_port,
                    args.grpc_port, enable_grpc=args.enable_grpc, logger_url=args.logger_url,
                    logger_mode=args.logger_mode, workers=1, max_threads=args.max_threads)


def serve_detector(source: str, name: str, host: str, http_port: int, grpc_port: int,
                   monitor_settings=None, **server_kwargs) -> None:
    """Load the drift detector (verified) and serve it until SIGTERM/SIGINT."""
    from shipyard.serving.detector import DriftDetectorModel

    model = DriftDetectorModel(name, source, monitor_settings)
    model.load()

    async def latest() -> JSONResponse:
        monitor = model.monitor
        return JSONResponse({
            "model": name, "windows_scored": monitor.scored,
            "drift_windows": monitor.drift_windows, "detector_errors": monitor.errors,
            "rows_dropped": monitor.dropped, "rows_buffered": monitor.buffered,
            "latest": monitor.latest.to_dict() if monitor.latest else None})

    ShipyardModelServer(host=host, http_port=http_port, grpc_port=grpc_port,
                        routes=[(f"/v1/drift/{name}", latest)], **server_kwargs).start([model])


def drift_main(argv: list[str] | None = None) -> None:
    """The drift detector entrypoint."""
    import os

    from shipyard.serving.drift_window import MonitorSettings

    parser = _parser("Shipyard drift detector (alibi-detect) for KServe's request logger")
    parser.add_argument("--detector_source",
                        default=os.environ.get("SHIPYARD_DETECTOR_SOURCE", "/mnt/detector"),
                        help="models:/name@alias, models:/name/N, or a saved detector folder")
    parser.add_argument("--window_size", type=int, default=500)
    parser.add_argument("--max_age_seconds", type=float, default=60.0)
    parser.add_argument("--max_buffered_rows", type=int, default=20_000)
    parser.add_argument("--nice", type=int, default=0,
                        help="lower this process's CPU priority (local mode: the predictor on "
                             "the same machine comes first; in a pod, CPU limits do this)")
    args, _ = parser.parse_known_args(argv)
    if args.nice:
        os.nice(args.nice)
    serve_detector(args.detector_source, args.model_name, args.host, args.http_port,
                   args.grpc_port, MonitorSettings(args.window_size, args.max_age_seconds,
                                                   args.max_buffered_rows),
                   enable_grpc=False, workers=1)


if __name__ == "__main__":
    main()
