"""Calling a service's gRPC stub as a demo user, for the services' integration tests (test
folders cannot import each other; this driver package is what they share)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shequ_infra.stack import LocalInfrastructure

Call = Callable[..., Any]
DEMO_PASSWORD = "shequ-demo"  # noqa: S105 - the local realm's published demo password


def demo_caller(stub: object, infra: LocalInfrastructure, *, default_tenant: str) -> Call:
    """``call(method, request, user=…, tenant=…, password=…, token=…)``: the RPC with a real
    Keycloak token of ``user`` (fetched once per user) or the ``token`` given (expired, forged),
    ``x-tenant-id`` set and a deadline."""
    tokens: dict[tuple[str, str], str] = {}

    def call(
        method: str,
        request: Any,
        *,
        user: str = "hushan-staff",
        tenant: str = default_tenant,
        password: str = DEMO_PASSWORD,
        token: str | None = None,
    ) -> Any:
        if token is None:
            if (user, password) not in tokens:
                grant = infra.keycloak.password_grant(user, password)
                tokens[(user, password)] = grant["access_token"]
            token = tokens[(user, password)]
        metadata = (("authorization", f"Bearer {token}"), ("x-tenant-id", tenant))
        return getattr(stub, method)(request, metadata=metadata, timeout=10)

    return call
