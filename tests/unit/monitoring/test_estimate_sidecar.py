"""The estimate end to end: register calibrates on its holdout and stores the calibration with
the version's detector (the session's registered version); the sidecar loads it from the
registry and turns response events into ``shipyard_estimated_metric``."""

import json

import pytest
from prometheus_client import REGISTRY
from sklearn.metrics import accuracy_score

from shipyard.model.bundle import load_bundle
from shipyard.monitoring.detector import RESPONSE_EVENT, DriftDetectorModel


def test_register_calibrates_and_the_sidecar_exports_the_estimate(trained, registered):
    from shipyard.data.synthetic import generate_transactions

    settings = registered.settings.model_copy(update={"estimate_window_size": 500})
    decision = registered.decision
    sidecar = DriftDetectorModel("cbpe-drift", decision.ref.uri, settings=settings)
    sidecar.load()
    try:
        assert sidecar.estimate is not None
        calibration = sidecar.loaded()[0].detector.model_info["calibration"]
        assert calibration["n_classes"] == 2 and calibration["points"][0][0]
        model = load_bundle(trained.bundle_dir)
        window = generate_transactions(1000, seed=11, shift=0.3)
        proba = model.scores(window)
        labels = model.predict(window)
        for start in range(0, 1000, 250):  # four response events of 250 rows
            part = slice(start, start + 250)
            event = {
                "id": f"r{start}",
                "outputs": [
                    {"name": "predict", "data": [str(v) for v in labels[part]]},
                    {
                        "name": "predict_proba",
                        "shape": [250, 2],
                        "data": proba[part].ravel().tolist(),
                    },
                ],
            }
            sidecar.predict(event, {"ce-type": RESPONSE_EVENT, "ce-id": f"r{start}"})
        sidecar.estimate.wait()
        version = decision.version
        value = REGISTRY.get_sample_value(
            "shipyard_estimated_metric",
            {"model": decision.model_name, "version": version, "metric": "accuracy"},
        )
        truth = accuracy_score(window["is_fraud"].astype(str), [str(v) for v in labels])
        assert value is not None and value == pytest.approx(truth, abs=0.03)
        assert set(sidecar.estimate.latest) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
        json.dumps(sidecar.estimate.latest)  # plain floats
    finally:
        sidecar.stop()


def test_register_stores_attribution_and_the_sidecar_tracks_it(trained, registered):
    """The training shares go with the detector; the sidecar loads the registered model
    beside it, explains request events' rows per window and exports the distance."""
    from shipyard.data.synthetic import generate_transactions
    from shipyard.local.servers import v2_request
    from shipyard.monitoring.detector import REQUEST_EVENT

    settings = registered.settings.model_copy(
        update={"attribution_window_size": 400, "attribution_rows": 200}
    )
    decision = registered.decision
    sidecar = DriftDetectorModel("attr-drift", decision.ref.uri, settings=settings)
    sidecar.load()
    try:
        stored = sidecar.loaded()[0].detector.model_info["attribution"]
        assert sum(stored["shares"]) == pytest.approx(1.0) and stored["rows"] <= 2000
        assert sidecar.attribution is not None, sidecar.attribution_off
        schema = sidecar.loaded()[0].detector.schema
        top = stored["features"][
            max(range(len(stored["shares"])), key=stored["shares"].__getitem__)
        ]
        distances = []
        for seed, shift in ((5, 0.0), (6, 1.0)):
            window = generate_transactions(400, seed=seed, shift=shift)
            if shift:
                window[top] = None  # the feature the model leans on most stops arriving
            body = v2_request(window, schema, f"w{seed}")
            sidecar.predict(body, {"ce-type": REQUEST_EVENT, "ce-id": f"w{seed}"})
            sidecar.attribution.wait()
            distances.append(sidecar.attribution.latest["distance"])
        assert distances[0] < 0.05 and distances[1] > 0.2, distances
        exported = REGISTRY.get_sample_value(
            "shipyard_attribution_drift",
            {"model": decision.model_name, "version": decision.version},
        )
        assert exported == pytest.approx(distances[1])
        json.dumps(sidecar.attribution.status())
    finally:
        sidecar.stop()
    folder = DriftDetectorModel("attr-folder", str(trained.bundle_dir), settings=settings)
    assert folder._served_model(str(trained.bundle_dir)) is None  # a folder names no model
