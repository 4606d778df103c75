"""The one way Shipyard names a registered model: ``ModelRef(name, version | alias)``.

Everything that names a registered model — the register step's output, deploy, rollout,
serving, drift, export, batch scoring, the CLI — holds a :class:`ModelRef`; its ``uri``
(``models:/name@alias`` or ``models:/name/3``, MLflow's own form) is the only text form, and
:meth:`ModelRef.parse` the only parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.errors import ConfigError

SCHEME = "models:/"
CHAMPION, CHALLENGER = "champion", "challenger"
_URI = re.compile(r"^models:/(?P<name>[^/@\s]+)(?:@(?P<alias>[A-Za-z0-9_-]+)|/(?P<version>\d+))?$")


@dataclass(frozen=True)
class ModelRef:
    """A registered model version, by number or by alias (exactly one of them)."""

    name: str
    version: str | None = None
    alias: str | None = None

    def __post_init__(self) -> None:
        if (self.version is None) == (self.alias is None):
            raise ConfigError(
                f"a model reference to {self.name!r} needs a version or an alias, "
                "not both or neither"
            )
        if not self.name:
            raise ConfigError("a model reference needs a model name")

    @classmethod
    def parse(cls, text: str, default_alias: str = CHAMPION) -> ModelRef:
        """``models:/name@alias``, ``models:/name/3``, or ``models:/name`` (its
        ``default_alias``); anything else is a ConfigError showing the forms."""
        match = _URI.match(text.strip())
        if not match:
            raise ConfigError(
                f"not a registered model reference: {text[:200]!r}",
                hint="use models:/name@alias, models:/name/N or models:/name",
            )
        if match["version"]:
            return cls(match["name"], version=match["version"])
        return cls(match["name"], alias=match["alias"] or default_alias)

    @staticmethod
    def is_ref(text: str) -> bool:
        """Whether ``text`` is meant as a registry reference (rather than a folder)."""
        return text.strip().startswith(SCHEME)

    @classmethod
    def champion(cls, name: str) -> ModelRef:
        return cls(name, alias=CHAMPION)

    @classmethod
    def of(cls, name: str, version: str | int) -> ModelRef:
        return cls(name, version=str(version))

    @classmethod
    def pick(cls, name: str, alias: str = CHAMPION, version: str | int = "") -> ModelRef:
        """The version when one is given, else the alias: what ``--version``/``--alias``
        (or a pipeline's ``version``/``alias`` parameters) choose."""
        if not name:
            raise ConfigError("no model name given", hint="pass --model NAME")
        version = str(version).strip()
        if version:
            if not version.isdigit():
                raise ConfigError(f"model version {version!r} is not a number")
            return cls.of(name, version)
        if not alias:
            raise ConfigError("give an alias (e.g. champion) or a version of the model")
        return cls(name, alias=alias)

    @property
    def number(self) -> str:
        """The version number of a reference by number (a ConfigError for one by alias)."""
        if self.version is None:
            raise ConfigError(f"{self} names an alias, not a version number")
        return self.version

    @property
    def uri(self) -> str:
        return (
            f"{SCHEME}{self.name}@{self.alias}"
            if self.alias
            else f"{SCHEME}{self.name}/{self.version}"
        )

    def __str__(self) -> str:
        return self.uri
