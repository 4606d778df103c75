"""The drift detector sidecar as a ``kserve.Model``.

It takes what KServe's InferenceService ``logger`` posts — a CloudEvent per request
(``ce-type: org.kubeflow.serving.inference.request``) and per response (``…response``), sent to
``/v1/models/{name}:predict`` — and plain v2 infer payloads on ``/v2/models/{name}/infer``.
Request rows are decoded with the model's schema and queued for the
:class:`~shipyard.serving.drift_window.DriftMonitor`; the answer returns at once, so the
predictor (which never waits for it anyway) is not slowed. Anything else is a 400, counted.
"""

from __future__ import annotations

from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from kserve.protocol.rest.v2_datamodels import InferenceRequest
from prometheus_client import Counter
from pydantic import ValidationError

from kserve import Model
from shipyard.drift import DriftDetector
from shipyard.model_ref import ModelRef
from shipyard.serving.drift_window import DriftMonitor, MonitorSettings
from shipyard.serving.v2_inputs import to_frame
from shipyard.settings import Settings

REQUEST_EVENT = "org.kubeflow.serving.inference.request"
RESPONSE_EVENT = "org.kubeflow.serving.inference.response"
EVENTS = Counter("shipyard_drift_events", "Events received by the drift detector",
                 ("type", "outcome"))


def load_detector(source: str, settings: Settings | None = None) -> DriftDetector:
    """From the registry (a model reference: the detector stored with that version) or a
    saved detector folder."""
    if ModelRef.is_ref(source):
        from shipyard.detector_store import load_drift_detector

        return load_drift_detector(ModelRef.parse(source), settings)
    return DriftDetector.load(source)


class DriftDetectorModel(Model):
    def __init__(self, name: str, source: str, monitor_settings: MonitorSettings | None = None,
                 settings: Settings | None = None) -> None:
        super().__init__(name)
        self.source, self.settings = source, settings
        self.monitor_settings = monitor_settings or MonitorSettings()
        self.monitor: DriftMonitor | None = None

    def load(self) -> bool:
        detector = load_detector(self.source, self.settings)
        self.monitor = DriftMonitor(detector, self.monitor_settings)
        self.ready = True
        return True

    def stop(self) -> None:
        if self.monitor:
            self.monitor.stop()

    def predict(self, payload, headers: dict[str, str] | None = None):
        kind = (headers or {}).get("ce-type", "v2")
        try:
            rows = self._accept(payload, kind)
        except InvalidInput:
            EVENTS.labels(type=kind, outcome="rejected").inc()
            raise
        EVENTS.labels(type=kind, outcome="accepted").inc()
        if isinstance(payload, InferRequest):
            output = InferOutput("accepted_rows", [1], "INT64", [rows])
            return InferResponse(payload.id or "", self.name, [output])
        return {"accepted_rows": rows}

    def _accept(self, payload, kind: str) -> int:
        if kind == RESPONSE_EVENT:
            return 0  # predictions are not features; the request event carries the rows
        if kind not in (REQUEST_EVENT, "v2"):
            raise InvalidInput(f"unsupported event type '{kind}'; expected {REQUEST_EVENT} "
                               f"or {RESPONSE_EVENT}")
        request = payload if isinstance(payload, InferRequest) else self._parse(payload)
        frame = to_frame(request, self.monitor.detector.schema)
        self.monitor.add(frame)
        return len(frame)

    def _parse(self, payload) -> InferRequest:
        if not isinstance(payload, dict):
            raise InvalidInput("the event's data is not a v2 inference request (JSON object)")
        try:
            parsed = InferenceRequest.model_validate(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise InvalidInput(f"the event's data is not a v2 inference request: {where}: "
                               f"{first.get('msg')}") from None
        return InferRequest.from_inference_request(parsed, self.name)
