import re

import pytest
from mlflow import MlflowClient

from shipyard.errors import ServiceUnavailable
from shipyard.model.ref import ModelRef
from shipyard.registry.client import CHALLENGER, CHAMPION
from shipyard.registry.tracking import configure
from shipyard.settings import Settings, settings_for
from shipyard.steps.gate import gate
from shipyard.steps.register import register
from support import free_port


@pytest.fixture(scope="module")
def weak(small_data, tmp_path_factory):
    """A model that sees only the merchant category and the channel (every other column held
    constant): it learned something (holdout AUC 0.75), less than the full model (0.82)."""
    from shipyard.data.schema import Schema
    from shipyard.model.families import make_pipeline
    from shipyard.steps.train import finalize, load_split

    split = load_split(small_data["train"], small_data["test"], Schema.load(small_data["schema"]))
    for column in split.x_train.columns.drop(["merchant_category", "channel"]):
        split.x_train[column] = split.x_train[column].iloc[0]
    return finalize(
        make_pipeline(split.schema, "linear"),
        split,
        "linear",
        {},
        0.5,
        tmp_path_factory.mktemp("weak") / "bundle",
        "train",
        "test-weak",
    )


def test_first_model_is_champion_with_lineage(trained, small_data):
    settings = settings_for("registry-first")
    decision = register(
        trained.model_uri,
        trained.bundle_dir,
        small_data["test"],
        "run-1",
        "sha256:abc",
        settings=settings,
    )
    assert decision.promoted and decision.version == "1" and decision.champion_version == "1"
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("registry-first", CHAMPION).version) == "1"
    assert str(client.get_model_version_by_alias("registry-first", CHALLENGER).version) == "1"
    tags = client.get_model_version("registry-first", "1").tags
    assert tags["shipyard.pipeline_run_id"] == "run-1"
    assert tags["shipyard.data_hash"] == "sha256:abc"
    assert tags["shipyard.model_type"] == "xgboost"
    assert "n_estimators" in tags["shipyard.params"]
    assert len(tags["shipyard.manifest_sha256"]) == 64

    again = register(
        trained.model_uri, trained.bundle_dir, small_data["test"], "run-2", settings=settings
    )
    assert not again.promoted and again.version == "2"
    assert "minimum absolute change" in again.reason
    assert again.champion_metrics == again.challenger_metrics  # same model, same holdout
    assert str(client.get_model_version_by_alias("registry-first", CHAMPION).version) == "1"
    assert str(client.get_model_version_by_alias("registry-first", CHALLENGER).version) == "2"


def test_better_challenger_replaces_a_weak_champion(weak, trained, small_data):
    settings = settings_for("registry-better")
    first = register(weak.model_uri, weak.bundle_dir, small_data["test"], settings=settings)
    assert first.promoted, first.reason
    assert first.reason.startswith("first version: beats guessing — roc_auc 0.")
    second = register(trained.model_uri, trained.bundle_dir, small_data["test"], settings=settings)
    assert second.promoted, second.reason
    assert second.challenger_metrics["roc_auc"] > second.champion_metrics["roc_auc"] + 0.002
    assert second.previous_champion == "1" and second.champion_version == "2"
    assert "beats the champion" in second.reason


def test_with_a_rollout_ahead_the_winner_waits_as_challenger(weak, trained, small_data):
    from shipyard.registry.client import Registry

    settings = settings_for("registry-rollout")
    register(weak.model_uri, weak.bundle_dir, small_data["test"], settings=settings)
    second = register(
        trained.model_uri,
        trained.bundle_dir,
        small_data["test"],
        settings=settings,
        move_champion=False,
    )
    client = MlflowClient()
    assert second.promoted and second.champion_version == "1"
    assert "passed the gate, to be rolled out" in second.markdown()
    assert str(client.get_model_version_by_alias("registry-rollout", CHAMPION).version) == "1"
    assert str(client.get_model_version_by_alias("registry-rollout", CHALLENGER).version) == "2"
    registry = Registry(settings)
    registry.move_champion(ModelRef.of("registry-rollout", "2"))  # what a rollout does at 100 %
    assert str(client.get_model_version_by_alias("registry-rollout", CHAMPION).version) == "2"
    assert registry.storage_uri(ModelRef.of("registry-rollout", "2"))


def test_a_floor_the_user_sets_is_applied_and_named(weak, small_data):
    decision = register(
        weak.model_uri,
        weak.bundle_dir,
        small_data["test"],
        floors="roc_auc>=0.9",
        settings=settings_for("registry-floor"),
    )
    assert not decision.promoted and decision.champion_version is None
    # which floor, the model's value with its interval, and the trivial baseline's value
    auc = re.escape(f"{decision.challenger_metrics['roc_auc']:.3f}")
    assert re.fullmatch(
        rf"floor roc_auc>=0\.9 refused it: roc_auc {auc} \(0\.\d{{3}}–0\.\d{{3}}\) \(95 % paired "
        r"bootstrap, 1000 resamples of 600 test rows\); guessing scores 0\.500",
        decision.reason,
    ), decision.reason
    assert decision.lineage["shipyard.floors"] == "roc_auc>=0.9"
    assert decision.lineage["shipyard.baseline_roc_auc"] == "0.5"


def test_unreachable_mlflow_registers_nothing(trained, small_data):
    settings = Settings(
        mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}", model_name="registry-down"
    )
    with pytest.raises(ServiceUnavailable, match="cannot reach the MLflow tracking server"):
        register(trained.model_uri, trained.bundle_dir, small_data["test"], settings=settings)
    configure()
    assert not MlflowClient().search_registered_models("name = 'registry-down'")


def test_gate_margin_zero_means_not_worse():
    floors = {"roc_auc": 0.5, "pr_auc": 0.1}
    ok, _ = gate({"roc_auc": 0.9, "pr_auc": 0.3}, {"roc_auc": 0.9, "pr_auc": 0.3}, floors, 0.0)
    worse, reason = gate(
        {"roc_auc": 0.89, "pr_auc": 0.3}, {"roc_auc": 0.9, "pr_auc": 0.3}, floors, 0.0
    )
    assert ok and not worse and "worse than the champion" in reason


def test_gate_follows_the_metrics_direction():
    from shipyard.steps.gate import parse_floors

    assert parse_floors("", "regression") == {}  # fixed floors are the user's choice
    floors = {"r2": 0.0}
    better, reason = gate(
        {"rmse": 40.0, "r2": 0.5}, {"rmse": 45.0, "r2": 0.4}, floors, 0.05, "rmse"
    )
    assert better, reason
    worse, reason = gate({"rmse": 44.0, "r2": 0.5}, {"rmse": 45.0, "r2": 0.4}, floors, 0.05, "rmse")
    assert not worse and "rmse" in reason  # 2 % better; the relative margin asks for 5 %
    assert not gate(
        {"rmse": 50.0, "r2": 0.1}, None, parse_floors("rmse<=45", "regression"), 0.0, "rmse"
    )[0]
    with pytest.raises(Exception, match="points the wrong way"):
        parse_floors("rmse>=45", "regression")
    with pytest.raises(Exception, match="does not apply to a regression model"):
        parse_floors("roc_auc>=0.7", "regression")


def test_drift_detector_is_stored_with_the_version(registered):
    from shipyard.data.synthetic import generate_transactions
    from shipyard.registry.client import DETECTOR_URI_TAG
    from shipyard.registry.detectors import load_drift_detector

    settings, decision = registered
    assert decision.lineage[DETECTOR_URI_TAG].endswith(f"drift_detector/v{decision.version}")
    detector = load_drift_detector(ModelRef.champion(decision.model_name), settings)
    shifted = detector.score(generate_transactions(500, seed=5, shift=1.0))
    assert shifted.is_drift and "amount" in shifted.drifted
    same = load_drift_detector(decision.ref, settings)
    assert same.encoding.features == detector.encoding.features


def test_storage_uri_maps_proxied_artifacts_to_the_servers_destination():
    from shipyard.errors import ConfigError
    from shipyard.registry.client import storage_uri
    from shipyard.settings import Settings

    proxied = "mlflow-artifacts:/1/models/m-abc/artifacts"
    with_destination = Settings(mlflow_artifacts_destination="s3://shipyard/mlflow/")
    assert storage_uri(proxied, with_destination) == "s3://shipyard/mlflow/1/models/m-abc/artifacts"
    assert storage_uri("s3://b/k", Settings()) == "s3://b/k"
    with pytest.raises(ConfigError, match="SHIPYARD_MLFLOW_ARTIFACTS_DESTINATION"):
        storage_uri(proxied, Settings())


def test_registry_work_needs_no_process_wide_mlflow_state(trained, small_data, tmp_path):
    """As in a fresh kfp.local task: MLflow's global tracking URI points elsewhere, yet
    register, fetch and move the alias through the Registry's own client, on its store."""
    import mlflow

    from shipyard.registry.client import Registry

    settings = settings_for("registry-own-client")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    mlflow.set_registry_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    try:
        decision = register(
            trained.model_uri,
            trained.bundle_dir,
            small_data["test"],
            settings=settings,
            reference_path=small_data["train"],
        )
        registry = Registry(settings)
        assert registry.champion_version("registry-own-client") == decision.version
        assert registry.load(decision.ref).features == trained_features(trained)
        assert not MlflowClient().search_registered_models("name = 'registry-own-client'")
        assert mlflow.get_tracking_uri().endswith("elsewhere.db")  # left alone
    finally:
        configure()  # back to the session's store


def trained_features(trained):
    from shipyard.model.bundle import load_bundle

    return load_bundle(trained.bundle_dir).features


def test_cached_fetch_reads_the_store_without_mlflow_and_still_verifies(trained, small_data):
    """A cached version is found through the SQLite store read-only: the same version, files
    and tags as MLflow's fetch, the alias resolved now, and the checksum still checked."""
    from shipyard.errors import IntegrityError
    from shipyard.model.bundle import MANIFEST, find_bundle
    from shipyard.registry.client import MODEL, Registry, cached, fetch

    settings = settings_for("registry-cached")
    register(trained.model_uri, trained.bundle_dir, small_data["test"], settings=settings)
    champion = ModelRef.parse("models:/registry-cached@champion")
    assert cached(champion, MODEL, settings) is None  # not downloaded yet: MLflow fetches it
    by_mlflow = Registry(settings).fetch(champion, MODEL)
    by_store = cached(champion, MODEL, settings)
    assert by_store == by_mlflow
    assert fetch(champion, MODEL, settings) == by_mlflow
    assert cached(ModelRef.parse("models:/registry-cached@nobody"), MODEL, settings) is None
    remote = settings.model_copy(update={"mlflow_tracking_uri": "http://127.0.0.1:9"})
    assert cached(champion, MODEL, remote) is None
    target = find_bundle(by_store.path) / MANIFEST
    target.write_text(target.read_text() + " ")
    with pytest.raises(IntegrityError, match="recorded at registration"):
        cached(champion, MODEL, settings)
