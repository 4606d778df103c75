"""One mapping from error class to exit code (and HTTP status), and docs/operations.md says
the same."""

import re

import pytest

from shipyard import errors
from shipyard.errors import (
    ConfigError,
    DataSourceError,
    IntegrityError,
    ModelNotFound,
    RolloutFailed,
    SchemaError,
    ServiceUnavailable,
    ShipyardError,
    ValidationFailed,
    exit_code,
    one_line,
)
from shipyard.local.pipeline import PipelineFailed
from shipyard.steps.failure import StepFailure
from support import PROJECT


@pytest.mark.parametrize(
    "error, code",
    [
        (ShipyardError("x"), 1),
        (DataSourceError("x"), 1),
        (SchemaError("x"), 1),
        (ValidationFailed(["a"]), 1),
        (ModelNotFound("x"), 1),
        (IntegrityError("x"), 1),
        (RolloutFailed("x"), 1),
        (ConfigError("x"), 2),
        (ServiceUnavailable("x"), 3),
        (ValueError("not ours"), 1),
    ],
)
def test_every_error_has_its_exit_code(error, code):
    assert exit_code(error) == code


def test_a_failed_step_exits_with_its_errors_code(tmp_path):
    failure = StepFailure("shipyard.errors.ServiceUnavailable", 3, "cannot reach MLflow")
    failed = PipelineFailed("validate", tmp_path, None, tmp_path / "log.txt", failure)
    assert exit_code(failed) == 3
    assert str(failed) == (
        "step 'validate' failed: cannot reach MLflow; nothing after it ran "
        f"(its log: {tmp_path / 'log.txt'})"
    )
    unknown = PipelineFailed("train", tmp_path, None, None, None, "Killed")
    assert exit_code(unknown) == 1 and "step 'train' failed: Killed" in str(unknown)


def test_one_line_folds_a_list_of_violations():
    error = ValidationFailed(["column a is missing", "label has nulls"], report_path="r.md")
    assert one_line(error) == (
        "data validation failed with 2 violation(s): column a is "
        "missing; label has nulls (see the report at r.md)"
    )
    assert one_line(KeyError("k")) == "KeyError: 'k'"
    assert len(one_line(ShipyardError("x" * 5000))) == 600


def test_the_documented_exit_code_table_is_the_mapping():
    """docs/operations.md's table lists each code with the classes that carry it."""
    readme = (PROJECT / "docs" / "operations.md").read_text()
    table = readme[readme.index("| exit | meaning") :]
    rows = dict(re.findall(r"^\| (\d) \| (.+?) \|$", table[: table.index("\n\n")], re.M))
    for name in ("ConfigError", "ServiceUnavailable", "ShipyardError"):
        cls = getattr(errors, name)
        assert f"`{name}`" in rows[str(cls.exit_code)], (name, rows)
