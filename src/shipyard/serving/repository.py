"""The v2 model-repository extension (load/unload), off unless a bearer token is set.

kserve 0.20 serves ``POST /v2/repository/models/{name}/load|unload`` (and the gRPC
``RepositoryModel*`` calls) to anyone: one anonymous request takes the model offline. Here
they answer 404 / UNIMPLEMENTED unless ``SHIPYARD_MODEL_REPOSITORY_TOKEN`` is set, and then
only to a caller presenting it (REST ``Authorization: Bearer …``, gRPC metadata
``authorization``); 401 / UNAUTHENTICATED otherwise. ``load`` brings back a model this server
was started with (kserve's own ``load`` looks for models on disk and finds none here).
"""

from __future__ import annotations

import asyncio
import enum
import hmac
from typing import Any

from kserve.errors import ModelNotFound, ModelNotReady
from kserve.model import BaseKServeModel
from kserve.protocol.model_repository_extension import ModelRepositoryExtension
from pydantic import SecretStr

DISABLED_MESSAGE = (
    "the model repository extension (load/unload) is disabled on this server; "
    "set SHIPYARD_MODEL_REPOSITORY_TOKEN to enable it"
)
DENIED_MESSAGE = "the model repository extension needs 'Authorization: Bearer <token>'"


class Verdict(enum.Enum):
    ALLOWED = "allowed"
    DISABLED = "disabled"
    DENIED = "denied"


def authorize(token: SecretStr | None, authorization: str | None) -> Verdict:
    """Whether a caller presenting ``authorization`` (the header's value) may use the
    extension; the token is compared in constant time."""
    if token is None or not token.get_secret_value():
        return Verdict.DISABLED
    scheme, _, presented = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return Verdict.DENIED
    expected = token.get_secret_value().encode()
    return (
        Verdict.ALLOWED
        if hmac.compare_digest(presented.strip().encode(), expected)
        else Verdict.DENIED
    )


class ServedModelsRepository(ModelRepositoryExtension):
    """Load and unload only the models this server was started with."""

    def __init__(self, model_registry: Any) -> None:
        super().__init__(model_registry)
        self.served: dict[str, BaseKServeModel] = {}

    async def load(self, model_name: str) -> None:
        model = self.served.get(model_name)
        if model is None:
            raise ModelNotFound(model_name)
        if self._model_registry.get_model(model_name) is None:
            if getattr(model, "served", None) is not None:
                model.start()  # still in memory and verified since the start: ready again
            else:
                await asyncio.to_thread(model.load)
            self._model_registry.update(model, model_name)
        if not await self._model_registry.is_model_ready(model_name):
            raise ModelNotReady(model_name)
