"""The model bundle: a folder that holds a trained model in formats that run no code on load.

- scikit-learn models: the whole ``Pipeline`` as skops (loaded with an explicit allowlist);
- XGBoost models: the preprocessing as skops, the booster as XGBoost's own UBJ.

``shipyard_model.json`` lists the files with their SHA-256, the feature schema, the classes and
the decision threshold. Loading verifies every checksum first, so a tampered or truncated
artifact is refused before any byte of it is deserialised.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import IntegrityError, ModelNotFound
from shipyard.schema import Schema

MANIFEST = "shipyard_model.json"
FORMAT_VERSION = 1
# Types skops may construct beyond its built-in trusted set; anything else is refused.
SKOPS_ALLOWED = frozenset({"numpy.dtype", "sklearn.tree._tree.Tree"})


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


def save_bundle(pipeline, directory: str | Path, schema: Schema, model_type: str, flavor: str,
                threshold: float, extra: dict[str, Any] | None = None) -> Path:
    """Write ``pipeline`` (preprocess + model steps) and its manifest into ``directory``."""
    import skops.io as sio

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if flavor == "xgboost":
        sio.dump(pipeline.named_steps["preprocess"], directory / "preprocess.skops")
        pipeline.named_steps["model"].save_model(directory / "model.ubj")
    else:
        sio.dump(pipeline, directory / "pipeline.skops")
    schema.save(directory / "schema.json")
    files = {p.name: sha256_file(p) for p in sorted(directory.iterdir()) if p.name != MANIFEST}
    classes = [int(c) if isinstance(c, np.integer) else c
               for c in pipeline.named_steps["model"].classes_.tolist()]
    manifest = {"format_version": FORMAT_VERSION, "model_type": model_type, "flavor": flavor,
                "features": schema.features, "target": schema.target, "classes": classes,
                "threshold": float(threshold), "files": files, **(extra or {})}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return directory


@dataclass
class LoadedModel:
    """A loaded bundle: the fitted pipeline plus what serving and evaluation need to know."""

    pipeline: Any
    schema: Schema
    manifest: dict[str, Any]
    directory: Path

    @property
    def threshold(self) -> float:
        return float(self.manifest["threshold"])

    @property
    def features(self) -> list[str]:
        return list(self.manifest["features"])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(frame[self.features])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Labels at the bundle's decision threshold (binary) or by argmax."""
        return self.labels(self.predict_proba(frame))

    def labels(self, proba: np.ndarray) -> np.ndarray:
        """Labels for already computed probabilities (serving computes them once)."""
        classes = np.asarray(self.manifest["classes"])
        if proba.shape[1] == 2:
            return classes[(proba[:, 1] >= self.threshold).astype(int)]
        return classes[proba.argmax(axis=1)]


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
        raise IntegrityError(f"model format {manifest.get('format_version')} in {directory} "
                             f"is not the supported {FORMAT_VERSION}")
    for name, expected in manifest["files"].items():
        path = directory / name
        if not path.is_file():
            raise IntegrityError(f"model file {name} is missing from {directory}")
        actual = sha256_file(path)
        if actual != expected:
            raise IntegrityError(f"model file {name} in {directory} has SHA-256 {actual[:12]}…, "
                                 f"the manifest recorded {expected[:12]}…",
                                 hint="the artifact was changed after training; re-register it")
    return manifest


def load_bundle(root: str | Path) -> LoadedModel:
    """Verify and load the bundle at or below ``root``."""
    directory = find_bundle(root)
    manifest = verify_bundle(directory)
    schema = Schema.load(directory / "schema.json")
    if manifest["flavor"] == "xgboost":
        from sklearn.pipeline import Pipeline
        from xgboost import XGBClassifier

        model = XGBClassifier()
        model.load_model(directory / "model.ubj")
        pipeline = Pipeline([("preprocess", _load_skops(directory / "preprocess.skops")),
                             ("model", model)])
    else:
        pipeline = _load_skops(directory / "pipeline.skops")
    return LoadedModel(pipeline, schema, manifest, directory)


def _load_skops(path: Path):
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    refused = sorted(set(untrusted) - SKOPS_ALLOWED)
    if refused:
        raise IntegrityError(f"{path.name} contains types Shipyard does not load: "
                             f"{', '.join(refused)}")
    return sio.load(path, trusted=untrusted)
