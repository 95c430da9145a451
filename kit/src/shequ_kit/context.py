"""Per-call context beyond the tenant: request id and the verified caller."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from shequ_kit.tokens import Principal

REQUEST_ID_METADATA_KEY: Final = "x-request-id"
AUTHORIZATION_METADATA_KEY: Final = "authorization"

_request_id: ContextVar[str | None] = ContextVar("shequ_request_id", default=None)
_principal: ContextVar[Principal | None] = ContextVar("shequ_principal", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _request_id.get()


def current_principal() -> Principal | None:
    return _principal.get()


@contextmanager
def call_context(*, request_id: str, principal: Principal | None) -> Iterator[None]:
    """Bind the request id and the verified caller for the duration of one call."""
    rid_token = _request_id.set(request_id)
    principal_token = _principal.set(principal)
    try:
        yield
    finally:
        _principal.reset(principal_token)
        _request_id.reset(rid_token)
