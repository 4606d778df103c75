"""The drift detector sidecar as a ``kserve.Model``.

It takes what KServe's InferenceService ``logger`` posts — a CloudEvent per request
(``ce-type: org.kubeflow.serving.inference.request``) and per response (``…response``), sent to
``/v1/models/{name}:predict`` — and plain v2 infer payloads on ``/v2/models/{name}/infer``.
Request rows are decoded with the model's schema and queued for the
:class:`~shipyard.monitoring.window.DriftMonitor`; the answer returns at once, so the
predictor (which never waits for it anyway) is not slowed. Anything else is a 400, counted.
Who may write to it, and the ground-truth route: ``shipyard.monitoring.sidecar``.
"""

from __future__ import annotations

import hmac
import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

from kserve.errors import InvalidInput, ModelNotReady
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from kserve.protocol.rest.v2_datamodels import InferenceRequest
from prometheus_client import Counter
from pydantic import SecretStr, ValidationError

from kserve import Model
from shipyard.model.ref import ModelRef
from shipyard.monitoring.attribution import AttributionDrift, from_model_info
from shipyard.monitoring.drift import DriftDetector
from shipyard.monitoring.estimated_performance import Calibration, EstimatedPerformance
from shipyard.monitoring.inference_log import InferenceLog, LogSettings
from shipyard.monitoring.live_performance import MAX_ID_CHARS, LivePerformance
from shipyard.monitoring.window import DriftMonitor, MonitorSettings
from shipyard.serving.v2_inputs import to_frame
from shipyard.settings import Settings, get_settings

if TYPE_CHECKING:
    from shipyard.model.bundle import LoadedModel

logger = logging.getLogger(__name__)

REQUEST_EVENT = "org.kubeflow.serving.inference.request"
RESPONSE_EVENT = "org.kubeflow.serving.inference.response"
# A local event carrying several requests names them: JSON [[request id, rows], ...].
BATCH_PARAMETER = "shipyard_requests"
RETRY_AFTER_SECONDS = 5
EVENTS = Counter(
    "shipyard_drift_events", "Events received by the drift detector", ("type", "outcome")
)
REFUSED = Counter(
    "shipyard_sidecar_refused",
    "Writes the sidecar refused before reading them, by route and reason",
    ("route", "reason"),
)  # route: rows | labels; reason: unauthorized | disabled | busy | too_large
LABELS_ROUTE = re.compile(r"^/+v1/+labels(/|$)")
LOOPBACK = frozenset({"127.0.0.1", "::1"})


def load_detector(source: str, settings: Settings | None = None) -> DriftDetector:
    """From the registry (a model reference: the detector stored with that version) or a
    saved detector folder."""
    if ModelRef.is_ref(source):
        from shipyard.registry.detectors import load_drift_detector

        return load_drift_detector(ModelRef.parse(source), settings)
    return DriftDetector.load(source)


def bearer_matches(expected: SecretStr | None, authorization: str | None) -> bool:
    """``Authorization: Bearer <expected>``, compared in constant time."""
    if expected is None or not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(
        given.strip().encode("utf-8", "replace"),
        expected.get_secret_value().encode("utf-8", "replace"),
    )


class DriftDetectorModel(Model):
    """The sidecar: drift windows from request rows, the inference log (request rows plus the
    response's predictions), live performance once labels arrive, and a classifier's
    performance estimated from its probabilities before they do."""

    def __init__(
        self,
        name: str,
        source: str,
        monitor_settings: MonitorSettings | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(name)
        self.source, self.settings = source, settings or get_settings()
        self.monitor_settings = monitor_settings or MonitorSettings()
        self.monitor: DriftMonitor | None = None
        self.log: InferenceLog | None = None
        self.live: LivePerformance | None = None
        self.estimate: EstimatedPerformance | None = None  # classifiers with a calibration
        self.attribution: AttributionDrift | None = None  # models with a stored reference
        self.attribution_off = "not loaded yet"
        self.model_name, self.version = self.settings.model_name, "unknown"

    def load(self) -> bool:
        self.model_name, self.version, source = self._model_version()
        detector = load_detector(source, self.settings)
        self.monitor = DriftMonitor(detector, self.monitor_settings)
        info = detector.model_info
        s = self.settings
        self.live = LivePerformance(
            detector.schema,
            self.model_name,
            self.version,
            info.get("threshold"),
            holdout=info.get("holdout_metrics") or {},
            max_tracked=s.labels_max_tracked_rows,
        )
        if info.get("calibration"):
            self.estimate = EstimatedPerformance(
                Calibration.from_dict(info["calibration"]),
                self.model_name,
                self.version,
                info.get("threshold"),
                window=s.estimate_window_size,
            )
        self.attribution, self.attribution_off = from_model_info(
            info,
            lambda: self._served_model(source),
            detector.schema,
            self.model_name,
            self.version,
            window=s.attribution_window_size,
            rows=s.attribution_rows,
        )
        if self.attribution is None:
            logger.warning("attribution drift is off: %s", self.attribution_off)
        if s.inference_log_uri:
            self.log = InferenceLog(
                LogSettings(
                    s.inference_log_uri,
                    self.model_name,
                    self.version,
                    s.inference_log_max_rows,
                    s.inference_log_max_age_seconds,
                    s.inference_log_max_buffered_rows,
                    s.labels_max_buffered,
                ),
                s,
            )
        self.ready = True
        return True

    def _served_model(self, source: str) -> LoadedModel | None:
        """The registered model beside the detector (for attribution drift); None for a
        detector folder, which names no model."""
        if not ModelRef.is_ref(source):
            return None
        from shipyard.registry.client import load_registered

        return load_registered(ModelRef.parse(source), self.settings)

    def loaded(self) -> tuple[DriftMonitor, LivePerformance]:
        """The monitor and live performance that :meth:`load` made (``ModelNotReady``, a 503,
        before it)."""
        if self.monitor is None or self.live is None:
            raise ModelNotReady(self.name)
        return self.monitor, self.live

    def _model_version(self) -> tuple[str, str, str]:
        """(model, version number, the source pinned to it): an alias is resolved once, here,
        so a moved alias never mixes two versions' rows and metrics."""
        if not ModelRef.is_ref(self.source):
            return self.settings.model_name, self.settings.model_version or "unknown", self.source
        ref = ModelRef.parse(self.source)
        if ref.version:
            return ref.name, self.settings.model_version or ref.version, self.source
        from shipyard.registry.client import Registry

        number = str(Registry(self.settings).version_of(ref).version)
        return ref.name, number, ModelRef.of(ref.name, number).uri

    def stop(self) -> None:
        if self.monitor:
            self.monitor.stop()
        if self.log:
            self.log.close()

    def predict(
        self, payload: InferRequest | dict, headers: dict[str, str] | None = None
    ) -> InferResponse | dict[str, int]:
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        kind = headers.get("ce-type", "v2")
        try:
            rows = self._accept(payload, kind, headers.get("ce-id", ""))
        except InvalidInput:
            EVENTS.labels(type=kind, outcome="rejected").inc()
            raise
        EVENTS.labels(type=kind, outcome="accepted").inc()
        if isinstance(payload, InferRequest):
            output = InferOutput("accepted_rows", [1], "INT64", [rows])
            return InferResponse(payload.id or "", self.name, [output])
        return {"accepted_rows": rows}

    def _accept(self, payload: InferRequest | dict, kind: str, event_id: str) -> int:
        if kind == RESPONSE_EVENT:
            self._predictions(payload, event_id)
            return 0  # predictions are not features; the request event carries the rows
        if kind not in (REQUEST_EVENT, "v2"):
            raise InvalidInput(
                f"unsupported event type '{kind}'; expected {REQUEST_EVENT} or {RESPONSE_EVENT}"
            )
        monitor, live = self.loaded()
        request = payload if isinstance(payload, InferRequest) else self._parse(payload)
        frame = to_frame(request, monitor.detector.schema)
        client_id = _bounded_id(request.id or "")
        parts = requests_in(request.parameters, len(frame), event_id or client_id)
        monitor.add(frame)
        if self.attribution is not None:
            self.attribution.add(frame)
        for request_id, start, stop in parts:
            # one key per request whatever the client sent: 100 requests sharing an `id` are
            # 100 logged requests; labels name the latest request of an id
            uid = uuid.uuid4().hex
            request_id = _bounded_id(request_id) or uid
            live.add_requests(request_id, stop - start, uid if self.log is not None else None)
            if self.log is not None:
                own_id = client_id if len(parts) == 1 else request_id
                self.log.add_request(uid, request_id, own_id, frame.iloc[start:stop])
        return len(frame)

    def keep_labels(self, accepted: list[dict[str, Any]]) -> None:
        """Checked labels go to the inference log too (a retrain joins them with the rows)."""
        if self.log is None or not accepted:
            return
        import pandas as pd

        self.log.add_labels(pd.DataFrame(accepted, columns=list(accepted[0])))

    def _predictions(self, payload: InferRequest | dict, event_id: str) -> None:
        """A response event's ``predict`` (and ``predict_proba``): for the inference log and
        for joining ground truth later. Anything unexpected is ignored, not an error."""
        if not isinstance(payload, dict) or not isinstance(payload.get("outputs"), list):
            return
        request_id = _bounded_id(event_id or str(payload.get("id") or ""))
        outputs = {o.get("name"): o for o in payload["outputs"] if isinstance(o, dict)}
        values = (outputs.get("predict") or {}).get("data")
        if not request_id or not isinstance(values, list):
            return
        proba = None
        shaped = outputs.get("predict_proba")
        if (
            shaped
            and isinstance(shaped.get("data"), list)
            and isinstance(shaped.get("shape"), list)
            and len(shaped["shape"]) == 2
            and isinstance(shaped["shape"][1], int)
        ):
            k = int(shaped["shape"][1])
            flat = shaped["data"]
            if k > 0 and len(flat) == k * len(values):
                proba = [flat[i * k : (i + 1) * k] for i in range(len(values))]
        _, live = self.loaded()
        if proba is not None and self.estimate is not None:
            self.estimate.add(proba)
        for part_id, start, stop in requests_in(payload.get("parameters"), len(values), request_id):
            part_id = _bounded_id(part_id)
            live.add_predictions(
                part_id, values[start:stop], proba[start:stop] if proba is not None else None
            )
            if self.log is not None:
                self.log.add_response(part_id, values[start:stop])

    def _parse(self, payload: object) -> InferRequest:
        if not isinstance(payload, dict):
            raise InvalidInput("the event's data is not a v2 inference request (JSON object)")
        try:
            parsed = InferenceRequest.model_validate(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise InvalidInput(
                f"the event's data is not a v2 inference request: {where}: {first.get('msg')}"
            ) from None
        return InferRequest.from_inference_request(parsed, self.name)


def _bounded_id(request_id: str) -> str:
    """A request id labels can name; longer ones are not kept (the row gets its uid)."""
    return request_id if len(request_id) <= MAX_ID_CHARS else ""


def requests_in(parameters: object, rows: int, event_id: str) -> list[tuple[str, int, int]]:
    """(request id, first row, end row) of each request an event carries: the
    ``shipyard_requests`` parameter of a local batched event, else the event's own id for all
    of its rows. A parameter that does not add up to ``rows`` is ignored, never trusted."""
    raw = (parameters or {}).get(BATCH_PARAMETER) if isinstance(parameters, dict) else None
    if isinstance(raw, str):
        import json

        try:
            parts = [(str(i), int(n)) for i, n in json.loads(raw)]
        except (ValueError, TypeError, RecursionError):
            parts = []
        if parts and all(n > 0 for _, n in parts) and sum(n for _, n in parts) == rows:
            bounds, start = [], 0
            for request_id, n in parts:
                bounds.append((request_id, start, start + n))
                start += n
            return bounds
    return [(event_id, 0, rows)]
