"""A compiled two-parameter pipeline with one quick step (``echo-op``, returns its
``model_name`` after ``seconds``): what the run-isolation and trigger tests run on kfp.local
instead of the training pipeline."""

import os
import sys
from pathlib import Path

from kfp import compiler, dsl


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def echo_op(model_name: str, seconds: float) -> str:
    import time

    time.sleep(seconds)
    return model_name


@dsl.pipeline(name="tiny")
def tiny(model_name: str = "x", seconds: float = 0.2) -> None:
    echo_op(model_name=model_name, seconds=seconds)


def compile_tiny(folder: Path) -> Path:
    """The compiled pipeline's YAML in ``folder``."""
    path = folder / "tiny.yaml"
    compiler.Compiler().compile(tiny, str(path))
    return path


def venv_path() -> str:
    """PATH with this interpreter's folder first: kfp.local starts tasks with `python3`."""
    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
