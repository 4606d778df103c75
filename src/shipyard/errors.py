"""Shipyard's errors. Each class carries the HTTP status a server answers with and the exit
code a command ends with, so the CLI, the components, the server entrypoints and the servers
report the same failure the same way. This module is the one mapping:

=====================  ====  ======  =========================================================
class                  exit  status  meaning
=====================  ====  ======  =========================================================
ShipyardError          1     500     a step or check failed (the classes below, unless listed)
ConfigError            2     400     bad usage or configuration: a setting or argument
ServiceUnavailable     3     503     a service (MLflow, S3, a port, a server) is unreachable,
                                     silent, not what it should be, or refused us
=====================  ====  ======  =========================================================

``PipelineFailed`` (``shipyard.local.pipeline``) takes the exit code of the error that stopped its
step. :func:`exit_code` gives any exception's code (1 for one that is not a Shipyard error).
"""

from __future__ import annotations


class ShipyardError(Exception):
    """Base error: a message that says what is wrong and what to do."""

    status: int = 500
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class ConfigError(ShipyardError):
    """A setting or argument is wrong."""

    status = 400
    exit_code = 2


class DataSourceError(ShipyardError):
    """Data cannot be read or written: unknown scheme, missing file, empty file."""

    status = 400


class SchemaError(ShipyardError):
    """Data does not match what the schema or the task needs (e.g. no target column)."""

    status = 422


class ValidationFailed(ShipyardError):
    """Validation found violations; ``violations`` lists every one of them."""

    status = 422

    def __init__(self, violations: list, *, report_path: str | None = None) -> None:
        self.violations = violations
        lines = "\n".join(f"  - {v}" for v in violations)
        hint = f"see the report at {report_path}" if report_path else None
        super().__init__(
            f"data validation failed with {len(violations)} violation(s):\n{lines}", hint=hint
        )


class ServiceUnavailable(ShipyardError):
    """A service Shipyard depends on (MLflow, S3/MinIO) cannot be reached or refused us."""

    status = 503
    exit_code = 3


class ModelNotFound(ShipyardError):
    """The requested model, version or alias does not exist."""

    status = 404


class IntegrityError(ShipyardError):
    """A model artifact does not match the checksum recorded when it was registered."""

    status = 500


class RolloutFailed(ShipyardError):
    """A canary failed a gate (or never became ready) and was rolled back."""

    status = 409


def exit_code(exc: BaseException) -> int:
    """The documented exit code for ``exc``: its class's (or instance's) ``exit_code``; 1 for
    anything that is not a :class:`ShipyardError`."""
    return int(getattr(exc, "exit_code", 1)) if isinstance(exc, ShipyardError) else 1


def one_line(exc: BaseException, limit: int = 600) -> str:
    """``exc``'s message as one line (newlines folded into "; "), at most ``limit`` chars."""
    text = str(exc) if isinstance(exc, ShipyardError) else f"{type(exc).__name__}: {exc}"
    folded = ""
    for line in text.splitlines():
        part = line.strip().removeprefix("- ")
        if part:
            folded = (
                part if not folded else f"{folded}{' ' if folded.endswith(':') else '; '}{part}"
            )
    text = folded
    return text if len(text) <= limit else text[: limit - 1] + "…"
