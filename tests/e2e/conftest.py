import os
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def pipeline_file(tmp_path_factory):
    """The compiled IR YAML; kfp.local runs exactly what the KFP UI would."""
    from training_pipeline import compile_pipeline

    # kfp.local starts each task with the first `python3` on PATH: make it this environment's.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return compile_pipeline(tmp_path_factory.mktemp("compiled") / "training_pipeline.yaml")
