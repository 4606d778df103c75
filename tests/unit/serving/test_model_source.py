import json

import pytest

from shipyard.errors import IntegrityError, ModelNotFound
from shipyard.model_bundle import MANIFEST, find_bundle
from shipyard.registry import register
from shipyard.serving.model_source import resolve
from shipyard.settings import settings_for


@pytest.fixture(scope="module")
def registered(trained, small_data):
    settings = settings_for("serving-source")
    decision = register(trained.model_uri, trained.bundle_dir, small_data["test"],
                        settings=settings)
    return settings, decision


def test_alias_and_version_resolve_to_the_same_verified_model(registered):
    settings, decision = registered
    by_alias = resolve("models:/serving-source@champion", settings)
    by_version = resolve(f"models:/serving-source/{decision.version}", settings)
    assert by_alias.version == by_version.version == decision.version
    assert by_alias.model.manifest["files"] == by_version.model.manifest["files"]


def test_a_changed_cached_artifact_is_refused(registered):
    settings, decision = registered
    resolve(f"models:/serving-source/{decision.version}", settings)
    cache = settings.home / "serving-cache" / "serving-source" / decision.version
    manifest = find_bundle(cache) / MANIFEST
    data = json.loads(manifest.read_text())
    data["threshold"] = 0.0001
    manifest.write_text(json.dumps(data))
    with pytest.raises(IntegrityError, match="differs from the .* recorded at registration"):
        resolve(f"models:/serving-source/{decision.version}", settings)


def test_unknown_alias_and_path(registered, tmp_path):
    settings, _ = registered
    with pytest.raises(ModelNotFound, match="models:/serving-source@nope is not in the registry"):
        resolve("models:/serving-source@nope", settings)
    with pytest.raises(ModelNotFound, match="no model at"):
        resolve(str(tmp_path / "absent"), settings)
