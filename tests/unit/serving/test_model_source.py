import json

import pytest

from shipyard.errors import IntegrityError, ModelNotFound
from shipyard.model.bundle import MANIFEST, find_bundle
from shipyard.model.ref import ModelRef
from shipyard.serving.model_source import resolve
from support import REGISTERED_NAME as NAME


def test_alias_and_version_resolve_to_the_same_verified_model(registered):
    settings, decision = registered
    by_alias = resolve(f"models:/{NAME}@champion", settings)
    by_version = resolve(f"models:/{NAME}/{decision.version}", settings)
    assert by_alias.version == by_version.version == decision.version
    assert by_alias.model.manifest["files"] == by_version.model.manifest["files"]


def test_unknown_alias_and_path(registered, tmp_path):
    settings, _ = registered
    with pytest.raises(ModelNotFound, match=f"models:/{NAME}@nope is not in the registry"):
        resolve(f"models:/{NAME}@nope", settings)
    with pytest.raises(ModelNotFound, match="no model at"):
        resolve(str(tmp_path / "absent"), settings)


def test_a_bare_name_means_the_champion_and_junk_is_refused(registered):
    from shipyard.errors import ConfigError

    settings, decision = registered
    assert resolve(f"models:/{NAME}", settings).version == decision.version
    with pytest.raises(ConfigError, match="not a registered model reference"):
        resolve(f"models:/{NAME}/v1@x", settings)


def test_a_folder_is_checked_against_the_recorded_checksum(registered, trained):
    settings, decision = registered
    checked = settings.model_copy(
        update={"model_sha256": decision.lineage["shipyard.manifest_sha256"]}
    )
    assert resolve(str(trained.bundle_dir), checked).model.features
    wrong = settings.model_copy(update={"model_sha256": "0" * 64})
    with pytest.raises(IntegrityError, match="recorded at registration"):
        resolve(str(trained.bundle_dir), wrong)


def test_model_ref_is_the_one_form():
    from shipyard.errors import ConfigError

    assert ModelRef.parse("models:/m@challenger") == ModelRef("m", alias="challenger")
    assert ModelRef.parse("models:/m/7").uri == "models:/m/7"
    assert ModelRef.parse("models:/m").uri == "models:/m@champion"
    for junk in ("models:/", "models:/m/", "m@x", "models:/m@", "models:/m/1/2"):
        with pytest.raises(ConfigError):
            ModelRef.parse(junk)


def test_a_changed_cached_artifact_is_refused(trained, small_data):
    """On a version of its own: it spoils that version's serving cache."""
    from shipyard.settings import settings_for
    from shipyard.steps.register import register

    settings = settings_for("serving-spoiled")
    decision = register(
        trained.model_uri, trained.bundle_dir, small_data["test"], settings=settings
    )
    resolve(f"models:/serving-spoiled/{decision.version}", settings)
    cache = settings.home / "serving-cache" / "serving-spoiled" / decision.version
    manifest = find_bundle(cache) / MANIFEST
    data = json.loads(manifest.read_text())
    data["threshold"] = 0.0001
    manifest.write_text(json.dumps(data))
    with pytest.raises(IntegrityError, match="differs from the .* recorded at registration"):
        resolve(f"models:/serving-spoiled/{decision.version}", settings)
