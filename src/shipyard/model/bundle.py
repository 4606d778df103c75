"""The model bundle: a folder that holds a trained model in formats that run no code on load.

- scikit-learn models: the whole ``Pipeline`` as skops (loaded with an explicit allowlist);
- XGBoost models: the preprocessing as skops, the booster as XGBoost's own UBJ.

``fast_path.json`` (where the pipeline compiles to numpy, ``shipyard.serving.fast_path``)
holds the compiled arrays a server loads instead of the pipeline, proven on the probes.
``shipyard_model.json`` lists the files with their SHA-256, the feature schema, the task, the
classes (the user's labels, in the model's order) and the decision threshold. ``probes.json``
holds rows with the answers the pipeline gave them when it was saved, so a server can prove
that what it answers is what was registered. Loading verifies every checksum first, so a
tampered or truncated artifact is refused before any byte of it is deserialised.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.features import canonical_frame
from shipyard.data.schema import Schema
from shipyard.errors import IntegrityError, ModelNotFound
from shipyard.model.outlier import OUTLIER_FILE, OutlierScorer
from shipyard.model.task import (
    BINARY,
    MULTICLASS,
    REGRESSION,
    class_array,
    encode_labels,
    plain,
)

MANIFEST = "shipyard_model.json"
PROBES = "probes.json"
FORMAT_VERSION = 1
# Types skops may construct beyond its built-in trusted set; anything else is refused.
SKOPS_ALLOWED = frozenset(
    {
        "numpy.dtype",
        "sklearn.tree._tree.Tree",  # random forests
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",  # HistGradientBoosting
    }
)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def directory_sha256(directory: Path) -> str:
    """One SHA-256 over every file below ``directory`` (relative names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode() + b"\0")
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def save_bundle(
    pipeline: Any,
    directory: str | Path,
    schema: Schema,
    model_type: str,
    flavor: str,
    threshold: float | None,
    extra: dict[str, Any] | None = None,
    probes: pd.DataFrame | None = None,
    outlier: OutlierScorer | None = None,
) -> Path:
    """Write ``pipeline`` (preprocess + model steps), its manifest and, given ``probes``
    (rows of features), those rows with the pipeline's answers into ``directory``; with
    ``outlier``, the row-unusualness scorer fitted beside it."""
    import skops.io as sio

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if flavor == "xgboost":
        sio.dump(pipeline.named_steps["preprocess"], directory / "preprocess.skops")
        pipeline.named_steps["model"].save_model(directory / "model.ubj")
    else:
        sio.dump(pipeline, directory / "pipeline.skops")
    schema.save(directory / "schema.json")
    if outlier is not None:
        outlier.save(directory / OUTLIER_FILE)
    if probes is not None:
        scores = raw_scores(
            pipeline, canonical_frame(probes, schema), _task_and_classes(pipeline, schema)[0]
        )
        (directory / PROBES).write_text(
            json.dumps({"rows": json_rows(probes[schema.features]), "scores": scores.tolist()})
        )
        from shipyard.serving.fast_path import write_fast_path

        write_fast_path(pipeline, schema, directory, outlier)  # proven on those rows, or not
    files = {p.name: sha256_file(p) for p in sorted(directory.iterdir()) if p.name != MANIFEST}
    task, classes = _task_and_classes(pipeline, schema)
    manifest = {
        "format_version": FORMAT_VERSION,
        "model_type": model_type,
        "flavor": flavor,
        "features": schema.features,
        "target": schema.target,
        "task": task,
        "classes": classes,
        "threshold": None if threshold is None else float(threshold),
        "files": files,
        **({"outlier": outlier.describe()} if outlier is not None else {}),
        **(extra or {}),
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return directory


def _task_and_classes(pipeline: Any, schema: Schema) -> tuple[str, list[Any] | None]:
    """The schema's task and classes; for a schema without them (declared by hand, or from
    before tasks), what the fitted estimator says."""
    if schema.task is not None:
        return schema.task, schema.classes
    estimator = pipeline.named_steps["model"]
    if not hasattr(estimator, "classes_"):
        return REGRESSION, None
    classes = [plain(c) for c in estimator.classes_.tolist()]
    return (BINARY if len(classes) == 2 else MULTICLASS), classes


def raw_scores(pipeline: Any, frame: pd.DataFrame, task: str) -> np.ndarray:
    """Probabilities ``[n, k]`` for a classifier, predictions ``[n]`` for a regressor."""
    if task == REGRESSION:
        return np.asarray(pipeline.predict(frame), dtype=np.float64)
    return np.asarray(pipeline.predict_proba(frame), dtype=np.float64)


def json_rows(frame: pd.DataFrame) -> list[dict[Hashable, Any]]:
    """Rows as JSON-able dicts (nulls as None), the form a v2 client sends them in."""
    return [
        {
            k: (
                None
                if _null(v)
                else v.isoformat()
                if isinstance(v, pd.Timestamp)
                else v.item()
                if isinstance(v, np.generic)
                else v
            )
            for k, v in row.items()
        }
        for row in frame.to_dict(orient="records")
    ]


def _null(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


@dataclass
class LoadedModel:
    """A loaded bundle: the fitted pipeline plus what serving and evaluation need to know.

    The pipeline is deserialised on first use (skops imports every scikit-learn module, which
    takes seconds), each of its files checked against the verified manifest again right
    before: a server answering from the stored fast path never needs it."""

    schema: Schema
    manifest: dict[str, Any]
    directory: Path

    @functools.cached_property
    def pipeline(self) -> Any:
        return _load_pipeline(self.directory, self.manifest)

    @property
    def task(self) -> str:
        return str(self.manifest.get("task", BINARY))

    @property
    def classes(self) -> list[Any] | None:
        """The user's labels in the model's class order; None for regression."""
        return None if self.task == REGRESSION else list(self.manifest["classes"])

    @property
    def threshold(self) -> float | None:
        value = self.manifest.get("threshold")
        return None if value is None else float(value)

    @property
    def features(self) -> list[str]:
        return list(self.manifest["features"])

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        """What the registered model computes for ``frame``: probabilities ``[n, k]`` or
        regression values ``[n]``, from the features in canonical form."""
        return raw_scores(self.pipeline, canonical_frame(frame, self.schema), self.task)

    def outlier_scorer(self) -> OutlierScorer | None:
        """The isolation forest saved with the model (None for a bundle without one)."""
        if OUTLIER_FILE not in self.manifest["files"]:
            return None
        return OutlierScorer.load(self.directory / OUTLIER_FILE)

    def preprocessed(self, frame: pd.DataFrame) -> np.ndarray:
        """The matrix the estimator sees for ``frame``: the registered preprocessing."""
        return np.asarray(
            self.pipeline.named_steps["preprocess"].transform(canonical_frame(frame, self.schema))
        )

    def outlier_scores(self, frame: pd.DataFrame, scorer: OutlierScorer) -> np.ndarray:
        """How unusual each row of ``frame`` is, in the model's preprocessed feature space."""
        return scorer.scores(self.preprocessed(frame))

    def label_values(self, frame: pd.DataFrame) -> np.ndarray:
        """``frame``'s labels as the model's scores are judged against: class indices in the
        model's order, or the values for regression."""
        target = frame[self.schema.target]
        if self.task == REGRESSION:
            return target.to_numpy(dtype=np.float64)
        return encode_labels(target, self.classes or [])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.scores(frame)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Labels at the bundle's decision threshold (binary), by argmax, or values."""
        return self.labels(self.scores(frame))

    def labels(self, scores: np.ndarray) -> np.ndarray:
        """Labels (the user's own values) for already computed scores."""
        if self.task == REGRESSION:
            return np.asarray(scores, dtype=np.float64)
        classes = class_array(self.classes or [])
        if scores.shape[1] == 2 and self.threshold is not None:
            return classes[(scores[:, 1] >= self.threshold).astype(int)]
        return classes[scores.argmax(axis=1)]

    def probes(self) -> tuple[pd.DataFrame, np.ndarray] | None:
        """The stored probe rows and the answers the pipeline gave them at training."""
        return read_probes(self.directory, self.features)


def read_probes(directory: Path, features: list[str]) -> tuple[pd.DataFrame, np.ndarray] | None:
    """The probe rows stored in ``directory`` and the answers the pipeline gave them."""
    path = directory / PROBES
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return (
        pd.DataFrame(data["rows"], columns=features),
        np.asarray(data["scores"], dtype=np.float64),
    )


def find_bundle(root: str | Path) -> Path:
    """The bundle folder at or below ``root`` (an MLflow model keeps it under artifacts/)."""
    root = Path(root)
    if (root / MANIFEST).is_file():
        return root
    matches = sorted(root.rglob(MANIFEST))
    if not matches:
        raise ModelNotFound(f"no Shipyard model ({MANIFEST}) at or below {root}")
    return matches[0].parent


def verify_bundle(directory: Path) -> dict[str, Any]:
    """Check every file's SHA-256 against the manifest; return the manifest."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"cannot read the model manifest in {directory}: {exc}") from exc
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IntegrityError(
            f"model format {manifest.get('format_version')} in {directory} "
            f"is not the supported {FORMAT_VERSION}"
        )
    for name, expected in manifest["files"].items():
        path = directory / name
        if not path.is_file():
            raise IntegrityError(f"model file {name} is missing from {directory}")
        actual = sha256_file(path)
        if actual != expected:
            raise IntegrityError(
                f"model file {name} in {directory} has SHA-256 {actual[:12]}…, "
                f"the manifest recorded {expected[:12]}…",
                hint="the artifact was changed after training; re-register it",
            )
    return manifest


def load_bundle(root: str | Path) -> LoadedModel:
    """Verify and load the bundle at or below ``root`` (its pipeline when first used)."""
    directory = find_bundle(root)
    manifest = verify_bundle(directory)
    return LoadedModel(Schema.load(directory / "schema.json"), manifest, directory)


def _load_pipeline(directory: Path, manifest: dict[str, Any]) -> Any:
    """The fitted pipeline, each file it reads checked against ``manifest`` first."""
    if manifest["flavor"] == "xgboost":
        from sklearn.pipeline import Pipeline
        from xgboost import XGBClassifier, XGBRegressor

        model = XGBRegressor() if manifest.get("task") == REGRESSION else XGBClassifier()
        model.load_model(_checked(directory, manifest, "model.ubj"))
        preprocess = _load_skops(_checked(directory, manifest, "preprocess.skops"))
        return Pipeline([("preprocess", preprocess), ("model", model)])
    return _load_skops(_checked(directory, manifest, "pipeline.skops"))


def _checked(directory: Path, manifest: dict[str, Any], name: str) -> Path:
    """``directory / name``, still hashing to what the verified manifest records."""
    path = directory / name
    if not path.is_file() or sha256_file(path) != manifest["files"].get(name):
        raise IntegrityError(
            f"model file {name} in {directory} changed after the bundle was verified",
            hint="the artifact was changed while being served; restart from the registry",
        )
    return path


def _load_skops(path: Path) -> Any:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    refused = sorted(set(untrusted) - SKOPS_ALLOWED)
    if refused:
        raise IntegrityError(
            f"{path.name} contains types Shipyard does not load: {', '.join(refused)}"
        )
    return sio.load(path, trusted=untrusted)
