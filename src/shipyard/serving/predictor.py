"""Shipyard's KServe v2 predictor: a ``kserve.Model`` serving a Shipyard bundle.

Strict with input (see ``v2_inputs``), vectorised (one scoring call per request, however many
rows), and honest about outputs: ``predict`` (the user's labels in their own type — INT64,
BOOL or BYTES — at the model's threshold; FP64 values for regression) and, for classifiers,
``predict_proba`` (FP64, [rows, classes] in the class order the metadata lists), and, only
when a request names them, the exact ``contributions`` (``shipyard.serving.explained``);
filtered by the request's ``outputs``, which may name only what this model offers. Answers
come from the fast path only where it proved parity with the registered pipeline on the
stored probe rows (``fast_path.checked_fast_path``).
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from kserve.errors import InvalidInput, ModelNotReady
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from kserve import Model
from shipyard.data.features import model_columns
from shipyard.model.bundle import LoadedModel
from shipyard.model.contributions import Explainer, explainer_for
from shipyard.model.task import label_datatype
from shipyard.serving import explained, metrics, outliers
from shipyard.serving.decoding import bounded
from shipyard.serving.fast_path import CompiledModel, checked_fast_path, stored_fast_path
from shipyard.serving.model_source import ServedModel, resolve
from shipyard.serving.v2_inputs import input_specs, to_columns
from shipyard.settings import Settings, get_settings

if TYPE_CHECKING:
    from shipyard.serving.event_forwarder import EventForwarder

OUTPUTS = ("predict", "predict_proba")  # what every request gets unless it names others
logger = logging.getLogger(__name__)


class Scorer:
    """What the predictor computes for decoded columns: the proven fast path, else the
    registered pipeline. Registration scores through this same class (``shipyard.served``)."""

    def __init__(self, model: LoadedModel, prove: bool = True) -> None:
        """``prove=False`` (a server's start): the fast path stored with the bundle, proven
        at training and registration, is used as it is; otherwise it (or, in a bundle
        without one, the pipeline compiled now) is proven on the probe rows here."""
        self.model = model
        stored = stored_fast_path(model)
        trusted = stored is not None and not prove
        if trusted:
            self.fast, self.note = stored, "fast path proven at training and registration"
        else:
            self.fast, self.note = checked_fast_path(model, stored)
        logger.info("model %s: %s", model.manifest.get("model_type"), self.note)
        self.outliers = outliers.Outliers(model, self.fast, proven=trusted)
        _one_openmp_thread()

    @functools.cached_property
    def _explained(self) -> tuple[Explainer | None, str]:
        """The explainer, made when first asked for (it reads the scikit-learn pipeline)."""
        explainer, note = explainer_for(self.model, self.fast)
        if explainer is None:
            logger.info("no contributions: %s", note)
        _one_openmp_thread()  # for the libraries the pipeline brought in
        return explainer, note

    @property
    def explainer(self) -> Explainer | None:
        return self._explained[0]

    @property
    def explain_note(self) -> str:
        return self._explained[1]

    def offered(self) -> list[str]:
        """The outputs this model answers, in metadata order."""
        return [t["name"] for t in self.output_types()]

    def offers(self, name: str) -> bool:
        """Whether this model answers output ``name`` (the explainer made only for its own)."""
        if name in explained.NAMES:
            return self.explainer is not None and name in self.offered()
        return name in OUTPUTS[: 1 + (self.model.classes is not None)] or (
            self.outliers.available and name in outliers.NAMES
        )

    def scores(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """Scores for canonical inputs (feature -> values, as the v2 decoder yields them)."""
        if self.fast is not None:
            return self.fast.scores(model_columns(columns, self.model.schema))
        return self.model.scores(pd.DataFrame(columns, columns=self.model.features))

    def outputs(
        self,
        columns: dict[str, np.ndarray],
        wanted: list[str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> dict[str, tuple[str, np.ndarray]]:
        """Every output by name: (v2 datatype, values); contributions only when ``wanted``
        names them (``labels``: the metrics' labels)."""
        scores = self.scores(columns)
        model = self.model
        results = {"predict": (label_datatype(model.classes), model.labels(scores))}
        if model.classes is not None:
            results["predict_proba"] = ("FP64", scores)
        if set(wanted or ()) & set(explained.NAMES) and self.explainer is not None:
            results.update(explained.outputs(self.explainer, columns, scores, labels or {}))
        if self.outliers.available and set(wanted or ()) & set(outliers.NAMES):
            results.update(self.outliers.outputs(columns))
        return results

    def output_types(self) -> list[dict[str, Any]]:
        classes = self.model.classes
        types: list[dict[str, Any]] = [
            {"name": "predict", "datatype": label_datatype(classes), "shape": [-1]}
        ]
        if classes is not None:
            types.append(
                {
                    "name": "predict_proba",
                    "datatype": "FP64",
                    "shape": [-1, len(classes)],
                    "parameters": {"classes": [str(c) for c in classes]},
                }
            )
        if self.explainer is not None:
            types += explained.output_types(self.explainer, self.model)
        return types + self.outliers.output_types()


def _one_openmp_thread() -> None:
    """One OpenMP thread for the process from here on: for request-sized inputs OpenMP's fork
    and spin cost more than they save (HistGradientBoosting answered one row in 3.8 ms with
    the machine's threads, 0.34 ms with one); XGBoost's booster already runs on one, and
    requests run side by side instead. Libraries loaded later read ``OMP_NUM_THREADS``."""
    import os

    from threadpoolctl import threadpool_limits

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    threadpool_limits(limits=1, user_api="openmp")


class ShipyardPredictor(Model):
    """Serves one model version; ``name`` is the name clients use in the v2 paths."""

    def __init__(self, name: str, source: str, settings: Settings | None = None) -> None:
        super().__init__(name)
        self.source = source
        self.settings = settings or get_settings()  # role, logger, model version: from here
        self.served: ServedModel | None = None
        self.scorer: Scorer | None = None
        self.forwarder: EventForwarder | None = None

    def load(self) -> bool:
        self.served = resolve(self.source, self.settings)
        model = self.served.model
        self.scorer = Scorer(model, prove=self.settings.serving_prove_at_start)
        self._datatypes = {spec.name: spec.datatype for spec in input_specs(model.schema)}
        if self.settings.logger_url:
            from shipyard.serving.event_forwarder import EventForwarder

            self.forwarder = EventForwarder(
                self.settings.logger_url, self.name, mode=self.settings.logger_mode
            )
        self.ready = True
        return self.ready

    def loaded(self) -> tuple[ServedModel, Scorer]:
        """The model and its scorer that :meth:`load` made (``ModelNotReady``, a 503, before
        it)."""
        if self.served is None or self.scorer is None:
            raise ModelNotReady(self.name)
        return self.served, self.scorer

    @property
    def version(self) -> str | None:
        return self.served.version if self.served else None

    def get_input_types(self) -> list[dict]:
        served, _ = self.loaded()
        return [spec.as_metadata() for spec in input_specs(served.model.schema)]

    @property
    def fast(self) -> CompiledModel | None:
        return self.scorer.fast if self.scorer else None

    def get_output_types(self) -> list[dict]:
        _, scorer = self.loaded()
        return scorer.output_types()

    def predict(
        self, payload: InferRequest, headers: dict[str, str] | None = None
    ) -> InferResponse:
        labels = self._metric_labels()
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
        served, _ = self.loaded()
        if served.model.classes is not None:
            values, counts = np.unique(predicted, return_counts=True)
            for value, count in zip(values.tolist(), counts.tolist(), strict=True):
                metrics.PREDICTED.labels(**labels, **{"class": str(value)}).inc(count)
        return response

    def _metric_labels(self) -> dict[str, str]:
        return {"model": self.name, "version": self.version or "", "role": self.settings.role}

    def _infer(self, payload: InferRequest) -> tuple[InferResponse, np.ndarray]:
        if not isinstance(payload, InferRequest):
            raise InvalidInput("expected an Open Inference Protocol (v2) request")
        served, scorer = self.loaded()
        wanted = self._requested(payload, scorer)
        columns = to_columns(payload, served.model.schema)
        metrics.count_nulls(columns, served.model.schema, self._metric_labels())
        results = scorer.outputs(columns, wanted, self._metric_labels())
        scorer.outliers.observe(
            columns,
            self._metric_labels(),
            self.settings.outlier_metric_rows,
            results[outliers.SCORE][1] if outliers.SCORE in results else None,
        )
        predicted = results["predict"][1]
        if self.forwarder is not None:  # like KServe's logger: after answering, never waiting
            plain = {k: v for k, v in results.items() if k in OUTPUTS}
            self.forwarder.submit(payload.id or "", columns, self._datatypes, plain)
        outputs = []
        for name in wanted or [n for n in OUTPUTS if n in results]:
            datatype, values = results[name]
            params = (
                explained.parameters(scorer.explainer, served.model)
                if name in explained.NAMES and scorer.explainer is not None
                else None
            )
            output = InferOutput(
                name=name, shape=list(values.shape), datatype=datatype, parameters=params
            )
            output.set_data_from_numpy(values, binary_data=False)
            outputs.append(output)
        response = InferResponse(
            response_id=payload.id or str(uuid.uuid4()),
            model_name=self.name,
            model_version=self.version,
            infer_outputs=outputs,
            parameters=payload.parameters or None,
            use_binary_outputs=payload.use_binary_outputs,
            requested_outputs=payload.request_outputs,
        )
        return response, predicted

    @staticmethod
    def _requested(payload: InferRequest, scorer: Scorer) -> list[str]:
        """The outputs a request names, each one this model offers (else a 400 listing them,
        and for contributions the reason this model has none)."""
        requested = [o.name for o in payload.request_outputs or []]
        unknown = [n for n in requested if not scorer.offers(n)]
        if unknown:
            why = (
                f" (no contributions: {scorer.explain_note})"
                if unknown[0] in explained.NAMES
                else ""
            )
            raise InvalidInput(
                f"unknown output '{bounded(unknown[0])}'{why}; this model's outputs are: "
                f"{', '.join(scorer.offered())}"
            )
        return requested
