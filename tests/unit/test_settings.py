from pathlib import Path

from shipyard.settings import Settings, settings_for


def test_env_prefix_and_absolute_home(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHIPYARD_HOME", "rel/home")
    monkeypatch.setenv("SHIPYARD_MODEL_NAME", "from-env")
    settings = Settings()
    assert settings.home == tmp_path / "rel" / "home"
    assert settings.model_name == "from-env"
    assert settings.tracking_uri == f"sqlite:///{tmp_path / 'rel' / 'home' / 'mlflow.db'}"


def test_config_file_is_below_env(monkeypatch, tmp_path):
    config = tmp_path / "shipyard.toml"
    config.write_text('model_name = "from-file"\nexperiment = "exp-file"\n')
    monkeypatch.setenv("SHIPYARD_CONFIG", str(config))
    monkeypatch.setenv("SHIPYARD_EXPERIMENT", "exp-env")
    settings = Settings()
    assert settings.model_name == "from-file"
    assert settings.experiment == "exp-env"


def test_secret_is_not_printed():
    settings = Settings(s3_secret_key="very-secret-value")
    assert "very-secret-value" not in repr(settings)
    assert settings.s3_secret_key.get_secret_value() == "very-secret-value"


def test_settings_for_overrides_model_name_only():
    assert settings_for("other").model_name == "other"
    assert settings_for("").model_name == settings_for().model_name
    assert isinstance(settings_for().home, Path)


def test_a_runs_model_is_its_parameter_else_the_environment_else_the_table(monkeypatch):
    from shipyard.settings import get_settings, run_model_name

    get_settings.cache_clear()
    monkeypatch.delenv("SHIPYARD_MODEL_NAME", raising=False)
    try:
        assert run_model_name("credit", "s3://b/penguins.csv") == "credit"
        assert run_model_name("", "s3://b/Penguins Data.csv") == "penguins-data"
        assert run_model_name("", "") == Settings().model_name
        monkeypatch.setenv("SHIPYARD_MODEL_NAME", "from-env")
        get_settings.cache_clear()
        assert run_model_name("", "s3://b/penguins.csv") == "from-env"
    finally:
        get_settings.cache_clear()


def test_artifact_location_is_left_to_a_tracking_server(tmp_path):
    from shipyard.settings import Settings

    local = Settings(home=tmp_path)
    assert local.artifact_location == (tmp_path / "mlartifacts").as_uri()
    server = Settings(home=tmp_path, mlflow_tracking_uri="http://127.0.0.1:5000")
    assert server.artifact_location is None  # the server proxies its own store
    explicit = Settings(
        home=tmp_path,
        mlflow_tracking_uri="http://127.0.0.1:5000",
        mlflow_artifact_location="s3://bucket/root",
    )
    assert explicit.artifact_location == "s3://bucket/root"


def test_every_setting_is_described_and_the_reference_is_current():
    """docs/settings.md is generated from the fields (`make docs`); a field without a
    description, or a stale file, fails here."""
    from pathlib import Path

    from shipyard.settings import Settings
    from shipyard.settings_reference import reference_markdown

    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert not missing, f"settings without a description: {missing}"
    doc = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
    assert doc.read_text() == reference_markdown(), "docs/settings.md is stale: run make docs"
