"""Shipyard's KServe v2 predictor: a ``kserve.Model`` serving a Shipyard bundle.

Strict with input (see ``v2_inputs``), vectorised (one ``predict_proba`` call per request,
however many rows), and honest about outputs: ``predict`` (INT64 labels at the model's
threshold) and ``predict_proba`` (FP32, [rows, classes]), filtered by the request's ``outputs``.
"""

from __future__ import annotations

import time
import uuid

import numpy as np
import pandas as pd
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from kserve import Model
from shipyard.serving import metrics
from shipyard.serving.fast_path import CompiledModel, compile_model
from shipyard.serving.model_source import ServedModel, resolve
from shipyard.serving.v2_inputs import input_specs, to_columns
from shipyard.settings import Settings, get_settings

OUTPUTS = ("predict", "predict_proba")


class ShipyardPredictor(Model):
    """Serves one model version; ``name`` is the name clients use in the v2 paths."""

    def __init__(self, name: str, source: str, settings: Settings | None = None,
                 logger_url: str | None = None, logger_mode: str = "request") -> None:
        super().__init__(name)
        self.source = source
        self.settings = settings or get_settings()
        self.served: ServedModel | None = None
        self.fast: CompiledModel | None = None
        self.logger_url, self.logger_mode = logger_url, logger_mode
        self.forwarder = None

    def load(self) -> bool:
        self.served = resolve(self.source, self.settings)
        model = self.served.model
        self.fast = compile_model(model.pipeline, model.schema)
        self._datatypes = {spec.name: spec.datatype for spec in input_specs(model.schema)}
        if self.logger_url:
            from shipyard.serving.event_forwarder import EventForwarder

            self.forwarder = EventForwarder(self.logger_url, self.name, mode=self.logger_mode)
        self.ready = True
        return self.ready

    @property
    def version(self) -> str | None:
        return self.served.version if self.served else None

    def get_input_types(self) -> list[dict]:
        return [spec.as_metadata() for spec in input_specs(self.served.model.schema)]

    def get_output_types(self) -> list[dict]:
        classes = len(self.served.model.manifest["classes"])
        return [{"name": "predict", "datatype": "INT64", "shape": [-1]},
                {"name": "predict_proba", "datatype": "FP32", "shape": [-1, classes]}]

    def predict(self, payload: InferRequest, headers: dict[str, str] | None = None
                ) -> InferResponse:
        labels = {"model": self.name, "version": self.version or "", "role": self.settings.role}
        start = time.perf_counter()
        try:
            response, predicted = self._infer(payload)
        except InvalidInput:
            metrics.REQUESTS.labels(**labels, status="400").inc()
            raise
        except Exception:
            metrics.REQUESTS.labels(**labels, status="500").inc()
            raise
        metrics.LATENCY.labels(**labels).observe(time.perf_counter() - start)
        metrics.REQUESTS.labels(**labels, status="200").inc()
        metrics.ROWS.labels(**labels).observe(len(predicted))
        values, counts = np.unique(predicted, return_counts=True)
        for value, count in zip(values.tolist(), counts.tolist(), strict=True):
            metrics.PREDICTED.labels(**labels, **{"class": str(value)}).inc(count)
        return response

    def _infer(self, payload: InferRequest) -> tuple[InferResponse, np.ndarray]:
        if not isinstance(payload, InferRequest):
            raise InvalidInput("expected an Open Inference Protocol (v2) request")
        wanted = self._requested(payload)
        model = self.served.model
        columns = to_columns(payload, model.schema)
        if self.fast is not None:
            proba = self.fast.predict_proba(columns)
        else:
            proba = model.predict_proba(pd.DataFrame(columns, columns=model.features))
        predicted = model.labels(proba).astype(np.int64)
        results = {"predict": ("INT64", predicted),
                   "predict_proba": ("FP32", proba.astype(np.float32))}
        if self.forwarder is not None:  # like KServe's logger: after answering, never waiting
            self.forwarder.submit(payload.id or "", columns, self._datatypes, results)
        outputs = []
        for name in wanted:
            datatype, values = results[name]
            output = InferOutput(name=name, shape=list(values.shape), datatype=datatype)
            output.set_data_from_numpy(values, binary_data=False)
            outputs.append(output)
        response = InferResponse(response_id=payload.id or str(uuid.uuid4()),
                                 model_name=self.name, model_version=self.version,
                                 infer_outputs=outputs, parameters=payload.parameters or None,
                                 use_binary_outputs=payload.use_binary_outputs,
                                 requested_outputs=payload.request_outputs)
        return response, predicted

    @staticmethod
    def _requested(payload: InferRequest) -> list[str]:
        requested = [o.name for o in payload.request_outputs or []]
        unknown = [n for n in requested if n not in OUTPUTS]
        if unknown:
            raise InvalidInput(f"unknown output '{unknown[0]}'; the model's outputs are: "
                               f"{', '.join(OUTPUTS)}")
        return requested or list(OUTPUTS)
