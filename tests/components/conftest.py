import pytest


@pytest.fixture(scope="session")
def local_runner(shipyard_home):
    from kfp import local

    from shipyard.local.pipeline import prepare_environment

    prepare_environment()
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(shipyard_home / "component_outputs"),
    )
