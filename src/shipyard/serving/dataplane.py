"""kserve's ``DataPlane`` with the request decoding made safe and readiness made honest.

Both the REST route and the gRPC servicer decode through here, so a client's malformed bytes
become ``InvalidInput`` (400 / INVALID_ARGUMENT) in one place. kserve's ``ready()`` answers
True whatever is loaded; here the server is ready only while every model it was started with
is registered and ready, so an unloaded model shows on ``/v2/health/ready`` as well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kserve.constants.constants import INFERENCE_CONTENT_LENGTH_HEADER
from kserve.errors import InvalidInput
from kserve.model_repository import ModelRepository
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.infer_type import InferRequest

from shipyard.serving import metrics
from shipyard.serving.decoding import (
    RefusedInput,
    bounded,
    check_binary_body,
    check_raw_tensor,
    check_request,
    describe_decode_error,
    header_length,
    parse_json_request,
)

if TYPE_CHECKING:
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb


class HardenedDataPlane(DataPlane):
    """``DataPlane`` whose decode raises only ``InvalidInput`` and whose readiness is real."""

    def __init__(
        self,
        model_registry: ModelRepository,
        *,
        role: str = "",
        request_metrics: bool = True,
        repository_enabled: bool = False,
    ) -> None:
        super().__init__(model_registry)
        self.served: set[str] = set()  # names the server was started with
        self.role = role  # the metrics' role label for a request naming no model served here
        self.request_metrics = request_metrics  # off on the drift sidecar: not a predictor
        self.repository_enabled = repository_enabled  # advertised in the server metadata

    def metadata(self) -> dict:
        """kserve lists ``model_repository_extension`` always; here only while it is on."""
        metadata = dict(super().metadata())
        if not self.repository_enabled:
            metadata["extensions"] = [
                e for e in metadata.get("extensions", []) if e != "model_repository_extension"
            ]
        return metadata

    def count_refused(self, model_name: str | None, status: int) -> None:
        """A request refused before it reached the model, in ``…_requests_total`` with the
        model's own labels (``model="(unknown)"`` for a name not served here)."""
        if not self.request_metrics:
            return
        model = self._model_registry.get_model(model_name) if model_name in self.served else None
        own = getattr(model, "_metric_labels", None)
        labels = (
            own()
            if callable(own)
            else {
                "model": model_name if model_name in self.served else metrics.UNKNOWN_MODEL,
                "version": str(getattr(model, "version", None) or ""),
                "role": self.role,
            }
        )
        metrics.count_request(labels, status)

    def decode(
        self,
        body: bytes | dict,
        headers: dict[str, str] | None,
        protocol_version: str = "v1",
        model_name: str | None = None,
    ) -> tuple[dict | InferRequest, dict[str, Any]]:
        try:
            request, attributes = super().decode(body, headers, protocol_version, model_name)
            if isinstance(request, InferRequest):
                check_request(request)
        except Exception as exc:  # a client's bytes: never a 500
            metrics.count_rejected("/v2/models/{model_name}/infer")
            if model_name is not None:  # kserve's v1 route passes none: rest.py counts those
                self.count_refused(model_name, 400)
            raise RefusedInput(describe_decode_error(exc), counted=model_name is not None) from None
        return request, attributes

    def decode_inference_request(
        self, body: bytes | dict, headers: dict[str, str] | None, model_name: str
    ) -> InferRequest:
        if not isinstance(body, bytes):
            return super().decode_inference_request(body, headers, model_name)
        value = (headers or {}).get(INFERENCE_CONTENT_LENGTH_HEADER)
        if value is None:  # no binary part: JSON, whatever the Content-Type said
            return InferRequest.from_inference_request(parse_json_request(body), model_name)
        json_length = header_length(value, len(body))
        check_binary_body(body, json_length)
        return InferRequest.from_bytes(body, json_length, model_name)

    def decode_grpc(self, request: pb.ModelInferRequest) -> InferRequest:
        try:
            return self._decode_grpc(request)
        except InvalidInput:
            metrics.count_rejected("grpc:ModelInfer")
            self.count_refused(request.model_name, 400)
            raise

    def _decode_grpc(self, request: pb.ModelInferRequest) -> InferRequest:
        """``InferRequest.from_grpc`` with the raw tensors checked first (kserve decodes them
        later, in the model, where a bad BYTES length prefix is a ``struct.error``)."""
        raw = request.raw_input_contents
        if raw:
            if len(raw) != len(request.inputs):
                raise InvalidInput(
                    f"{len(request.inputs)} inputs but {len(raw)} "
                    "raw_input_contents; give one raw tensor per input"
                )
            for tensor, content in zip(request.inputs, raw, strict=True):
                if tensor.HasField("contents"):
                    raise InvalidInput(
                        f"input '{bounded(tensor.name)}' has both contents and raw_input_contents"
                    )
                check_raw_tensor(tensor.name, tensor.datatype, list(tensor.shape), content)
        try:
            decoded = InferRequest.from_grpc(request)
        except Exception as exc:
            raise InvalidInput(describe_decode_error(exc)) from None
        check_request(decoded)
        return decoded

    async def ready(self) -> bool:
        if not await super().ready():
            return False
        for name in self.served:
            if not await self._model_registry.is_model_ready(name):
                return False
        return True

    async def model_ready(
        self, model_name: str, disable_predictor_health_check: bool = False
    ) -> bool:
        if model_name in self.served and self._model_registry.get_model(model_name) is None:
            return False  # served here, but unloaded: not ready rather than "not found"
        return await super().model_ready(model_name, disable_predictor_health_check)
