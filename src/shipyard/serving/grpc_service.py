"""kserve's v2 gRPC service on a chosen host, with the same hardening as REST.

kserve 0.20 decodes ``raw_input_contents`` late (a bad BYTES length prefix is INTERNAL),
serves the repository calls to anyone, logs every INVALID_ARGUMENT with a traceback and
returns ``ex.reason`` unbounded, and lets gRPC share a busy port (``SO_REUSEPORT``). Here:
decoding through ``HardenedDataPlane.decode_grpc``, the repository calls behind the bearer
token, one bounded log line per client fault, and ``grpc.so_reuseport`` off.
"""

from __future__ import annotations

from concurrent import futures
from typing import Any

from grpc import aio
from grpc_interceptor.exceptions import GrpcException, Unauthenticated, Unimplemented
from kserve.errors import InferenceError, ModelNotFound, ModelNotReady
from kserve.logging import logger
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.infer_type import InferResponse
from kserve.utils.utils import to_headers
from pydantic import SecretStr

from shipyard.serving.dataplane import HardenedDataPlane
from shipyard.serving.decoding import bounded_message
from shipyard.serving.faults import CLIENT_FAULTS, GRPC_CODES
from shipyard.serving.repository import (
    DENIED_MESSAGE,
    DISABLED_MESSAGE,
    ServedModelsRepository,
    Verdict,
    authorize,
)


class OneLineErrors(ExceptionToStatusInterceptor):
    """Client faults: one log line and a bounded status message; anything else as kserve."""

    async def handle_exception(
        self,
        ex: Exception,
        request_or_iterator: Any,
        context: aio.ServicerContext,
        method_name: str,
    ) -> Any:
        for cls, status in CLIENT_FAULTS:
            code = GRPC_CODES[status]
            if isinstance(ex, cls) and not isinstance(ex, InferenceError):
                message = bounded_message(
                    getattr(ex, "reason", None) or str(ex) or type(ex).__name__
                )
                logger.warning("%s %s: %s", code.name, method_name, message)
                await context.abort(code, message)
        if isinstance(ex, GrpcException):
            logger.warning("%s %s: %s", ex.status_code.name, method_name, ex.details)
        await super().handle_exception(ex, request_or_iterator, context, method_name)


class HardenedServicer(InferenceServicer):
    """kserve's servicer with decoding checked, readiness honoured and the repository calls
    guarded by the token (metadata ``authorization: Bearer …``)."""

    def __init__(
        self,
        data_plane: HardenedDataPlane,
        repository: ServedModelsRepository,
        token: SecretStr | None,
    ) -> None:
        super().__init__(data_plane, repository)
        self.token = token

    def _authorize(self, context: aio.ServicerContext) -> None:
        metadata = {key.lower(): value for key, value in context.invocation_metadata() or ()}
        header = metadata.get("authorization")  # bytes only for "-bin" keys
        verdict = authorize(self.token, header if isinstance(header, str) else None)
        if verdict is Verdict.DISABLED:
            raise Unimplemented(DISABLED_MESSAGE)
        if verdict is Verdict.DENIED:
            raise Unauthenticated(DENIED_MESSAGE)

    async def RepositoryModelLoad(  # noqa: N802 (gRPC's name)
        self, request: pb.RepositoryModelLoadRequest, context: aio.ServicerContext
    ) -> pb.RepositoryModelLoadResponse:
        self._authorize(context)  # kserve's own answers INTERNAL: its extension returns None
        await self._mode_repository_extension.load(request.model_name)
        return pb.RepositoryModelLoadResponse(model_name=request.model_name, isLoaded=True)

    async def RepositoryModelUnload(  # noqa: N802
        self, request: pb.RepositoryModelUnloadRequest, context: aio.ServicerContext
    ) -> pb.RepositoryModelUnloadResponse:
        self._authorize(context)
        await self._mode_repository_extension.unload(request.model_name)
        return pb.RepositoryModelUnloadResponse(model_name=request.model_name, isUnloaded=True)

    async def ModelMetadata(  # noqa: N802
        self, request: pb.ModelMetadataRequest, context: aio.ServicerContext
    ) -> pb.ModelMetadataResponse:
        """kserve builds the proto from each tensor's dict, ``parameters`` included, which
        ``TensorMetadata`` has no field for: INTERNAL for every model. Here name, datatype and
        shape (the REST metadata keeps the parameters), and the version served."""
        metadata = await self._data_plane.model_metadata(request.name)
        model = self._data_plane.get_model_from_registry(request.name)
        version = getattr(model, "version", None)
        return pb.ModelMetadataResponse(
            name=metadata["name"],
            versions=[str(version)] if version is not None else [],
            platform=metadata.get("platform") or "",
            inputs=_tensors(metadata.get("inputs") or []),
            outputs=_tensors(metadata.get("outputs") or []),
        )

    async def ModelInfer(  # noqa: N802
        self, request: pb.ModelInferRequest, context: aio.ServicerContext
    ) -> pb.ModelInferResponse:
        try:
            ready = await self._data_plane.model_ready(request.model_name, True)
        except ModelNotFound:
            self._data_plane.count_refused(request.model_name, 404)
            raise
        if not ready:
            raise ModelNotReady(request.model_name)
        infer_request = self._data_plane.decode_grpc(request)
        response, _ = await self._data_plane.infer(
            request=infer_request, headers=to_headers(context), model_name=request.model_name
        )
        if isinstance(response, pb.ModelInferResponse):
            return response
        if isinstance(response, InferResponse):
            return response.to_grpc()
        return pb.ModelInferResponse(
            id=response["id"], model_name=response["model_name"], outputs=response["outputs"]
        )


def _tensors(items: list[dict]) -> list[pb.ModelMetadataResponse.TensorMetadata]:
    return [
        pb.ModelMetadataResponse.TensorMetadata(
            name=str(t["name"]),
            datatype=str(t["datatype"]),
            shape=[int(d) for d in t.get("shape") or []],
        )
        for t in items
    ]


class GRPCServer:
    """The v2 gRPC service on ``host:port``; ``max_receive`` bounds a request's size."""

    def __init__(
        self,
        host: str,
        port: int,
        data_plane: HardenedDataPlane,
        repository: ServedModelsRepository,
        grace: int,
        max_receive: int,
        token: SecretStr | None,
    ) -> None:
        self.address = f"{host}:{port}"
        self.data_plane, self.repository, self.token = data_plane, repository, token
        self.grace = grace
        self._server: aio.Server | None = None
        self.options = [
            ("grpc.max_send_message_length", 64 << 20),
            ("grpc.max_receive_message_length", max_receive),
            ("grpc.so_reuseport", 0),
        ]  # a busy port is an error, not shared

    async def start(self, max_workers: int) -> None:
        server = aio.server(
            futures.ThreadPoolExecutor(max_workers=max_workers),
            interceptors=(LoggingInterceptor(), OneLineErrors()),
            options=self.options,
        )
        self._server = server
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            HardenedServicer(self.data_plane, self.repository, self.token), server
        )
        server.add_insecure_port(self.address)
        await server.start()
        await server.wait_for_termination()

    async def stop(self, sig: int | None = None) -> None:
        if self._server:
            await self._server.stop(grace=self.grace)
