"""Shipyard's errors. Each carries the HTTP status a server would answer with, so the
CLI, the components and (later) the predictor report the same failure the same way."""

from __future__ import annotations


class ShipyardError(Exception):
    """Base error: a message that says what is wrong and what to do."""

    status: int = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class ConfigError(ShipyardError):
    """A setting or argument is wrong."""

    status = 400


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
        super().__init__(f"data validation failed with {len(violations)} violation(s):\n{lines}",
                         hint=hint)


class ServiceUnavailable(ShipyardError):
    """A service Shipyard depends on (MLflow, S3/MinIO) cannot be reached or refused us."""

    status = 503


class ModelNotFound(ShipyardError):
    """The requested model, version or alias does not exist."""

    status = 404


class IntegrityError(ShipyardError):
    """A model artifact does not match the checksum recorded when it was registered."""

    status = 500


class RolloutFailed(ShipyardError):
    """A canary failed a gate (or never became ready) and was rolled back."""

    status = 409
