"""Drift detection on the model's feature schema, behind a small interface.

:class:`DriftDetector` is what the rest of Shipyard uses: fit on a reference sample, score a
window of rows, save and load. Two backends compute the same tests (Kolmogorov-Smirnov for
numerics, Chi-squared for categoricals): alibi-detect's ``TabularDrift``, the default, under
the Business Source License 1.1 from 0.11.5 (see the README), and
:mod:`shipyard.monitoring.scipy_drift`, the same p-values and verdicts from scipy alone.
``SHIPYARD_DRIFT_BACKEND`` picks one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.schema import Schema
from shipyard.errors import ConfigError, SchemaError
from shipyard.monitoring.scipy_drift import ScipyTabularDrift

BACKENDS = ("alibi", "scipy")


@dataclass
class DriftResult:
    """One window's verdict: per-feature p-value, statistic and flag, and the batch flag."""

    rows: int
    is_drift: bool
    threshold: float
    p_values: dict[str, float]
    statistics: dict[str, float]
    feature_drift: dict[str, bool]

    @property
    def drifted(self) -> list[str]:
        return [name for name, flag in self.feature_drift.items() if flag]

    def to_dict(self) -> dict:
        return {**asdict(self), "drifted": self.drifted}


@dataclass
class Encoding:
    """How rows become the detector's numeric matrix: categories as codes, unseen as one more."""

    features: list[str]
    categories: dict[str, list[str]]
    fill: dict[str, float]

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise SchemaError(f"drift window lacks feature(s): {', '.join(missing)}")
        columns = []
        for name in self.features:
            if name in self.categories:
                index = {c: i for i, c in enumerate(self.categories[name])}
                unseen = len(index)
                columns.append(
                    np.fromiter(
                        (index.get(str(v), unseen) for v in frame[name]),
                        dtype=np.float64,
                        count=len(frame),
                    )
                )
            else:
                values = pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float64)
                columns.append(np.where(np.isnan(values), self.fill[name], values))
        return np.column_stack(columns)

    def categories_per_feature(self) -> dict[int, None]:
        """Categorical columns for TabularDrift; None: it takes the categories the reference
        holds and compares on the union with each window's (so no empty cell breaks Chi²)."""
        return {i: None for i, name in enumerate(self.features) if name in self.categories}


class DriftDetector:
    """Fit on reference rows, score windows; ``p_val`` is the batch-level significance."""

    def __init__(
        self,
        backend: Any,
        encoding: Encoding,
        p_val: float,
        schema: Schema,
        model_info: dict | None = None,
    ) -> None:
        self.backend, self.encoding, self.p_val = backend, encoding, p_val
        self.schema = schema  # the model's: how live payloads are decoded into rows
        self.backend_name = "scipy" if isinstance(backend, ScipyTabularDrift) else "alibi"
        # the model's threshold and holdout metrics: what live performance is compared with
        self.model_info = model_info or {}

    @classmethod
    def fit(
        cls,
        reference: pd.DataFrame,
        schema: Schema,
        p_val: float = 0.05,
        max_rows: int = 5000,
        seed: int = 42,
        backend: str | None = None,
    ) -> DriftDetector:
        """``backend``: alibi or scipy (default ``SHIPYARD_DRIFT_BACKEND``)."""
        if len(reference) > max_rows:
            reference = reference.sample(max_rows, random_state=seed)
        encoding = Encoding(
            # a date moves on by itself: datetime features are not tested for drift
            [n for n in schema.features if n not in schema.datetimes],
            {n: list(schema.column(n).categories or []) for n in schema.categorical},
            {
                n: float(pd.to_numeric(reference[n], errors="coerce").median())
                for n in schema.numeric
            },
        )
        x_ref = encoding.encode(reference)
        if _backend_name(backend) == "scipy":
            return cls(_scipy(x_ref, encoding, p_val), encoding, p_val, schema)
        from alibi_detect.cd import TabularDrift

        detector = TabularDrift(
            x_ref,
            p_val=p_val,
            categories_per_feature=encoding.categories_per_feature(),
            correction="bonferroni",
        )
        return cls(detector, encoding, p_val, schema)

    def score(self, window: pd.DataFrame) -> DriftResult:
        """Batch verdict with Bonferroni correction; features flagged at the same threshold."""
        prediction = self.backend.predict(
            self.encoding.encode(window),
            drift_type="batch",
            return_p_val=True,
            return_distance=True,
        )["data"]
        threshold = float(prediction["threshold"])
        names = self.encoding.features
        p_values = {n: float(p) for n, p in zip(names, prediction["p_val"], strict=True)}
        stats = {n: float(d) for n, d in zip(names, prediction["distance"], strict=True)}
        return DriftResult(
            len(window),
            bool(prediction["is_drift"]),
            threshold,
            p_values,
            stats,
            {n: p < threshold for n, p in p_values.items()},
        )

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.backend_name == "scipy":
            self.backend.save(directory)
        else:
            from alibi_detect.saving import save_detector

            save_detector(self.backend, directory / "alibi")
            # the scipy state too (a few sorted arrays): a sidecar without alibi-detect runs it
            _scipy(self.backend.x_ref, self.encoding, self.p_val).save(directory)
        meta = {**asdict(self.encoding), "p_val": self.p_val, "backend": self.backend_name}
        (directory / "encoding.json").write_text(json.dumps(meta, indent=2))
        self.schema.save(directory / "schema.json")
        (directory / "model_info.json").write_text(json.dumps(self.model_info, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path, backend: str | None = None) -> DriftDetector:
        """The stored detector; with ``backend="scipy"`` (default ``SHIPYARD_DRIFT_BACKEND``)
        always the scipy one, also for a detector fitted with alibi-detect (same numbers)."""
        directory = Path(directory)
        data = json.loads((directory / "encoding.json").read_text())
        p_val = data.pop("p_val")
        stored = "scipy" if data.pop("backend", None) == "scipy" else "alibi"
        encoding = Encoding(**data)
        info = directory / "model_info.json"
        return cls(
            _load_backend(directory, encoding, p_val, stored, _backend_name(backend)),
            encoding,
            p_val,
            Schema.load(directory / "schema.json"),
            json.loads(info.read_text()) if info.is_file() else None,
        )


def _backend_name(backend: str | None) -> str:
    if backend is None:
        from shipyard.settings import get_settings

        backend = get_settings().drift_backend
    if backend not in BACKENDS:
        raise ConfigError(
            f"drift backend must be one of {', '.join(BACKENDS)}, not {backend!r}",
            hint="set SHIPYARD_DRIFT_BACKEND to alibi or scipy",
        )
    return backend


def _scipy(x_ref: np.ndarray, encoding: Encoding, p_val: float) -> ScipyTabularDrift:
    return ScipyTabularDrift.fit(x_ref, list(encoding.categories_per_feature()), p_val)


def _load_backend(
    directory: Path, encoding: Encoding, p_val: float, stored: str, wanted: str
) -> Any:
    """alibi-detect's detector only when it is stored and wanted; else the scipy state (from
    the alibi folder's reference for detectors saved before the scipy backend existed)."""

    if stored == "alibi" and wanted == "alibi":
        from alibi_detect.saving import load_detector

        return load_detector(directory / "alibi")
    if ScipyTabularDrift.saved_in(directory):
        return ScipyTabularDrift.load(directory)
    return _scipy(np.load(directory / "alibi" / "x_ref.npy", allow_pickle=False), encoding, p_val)
