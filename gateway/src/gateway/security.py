"""Who is calling, and on behalf of which tenant: FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.access import admit
from gateway.limits import admitted_caller
from shequ_kit.errors import FieldViolation, invalid_input
from shequ_kit.tenancy import InvalidTenantIdError, TenantId
from shequ_kit.tokens import Principal, TokenVerifier, bearer_token


def _verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.core.verifier
    return verifier


def current_principal(request: Request) -> Principal:
    """The verified caller, within the rate limits; 401 problem for a missing, malformed,
    expired or forged token, 429 for a caller or tenant over its limit."""
    authorization = request.headers.get("authorization")
    return admitted_caller(request, lambda: _verifier(request).verify(bearer_token(authorization)))


def parse_tenant_id(raw: str, field: str) -> TenantId:
    """A tenant id from the request, or a 422 problem naming ``field``."""
    try:
        return TenantId.parse(raw)
    except InvalidTenantIdError as error:
        raise invalid_input(
            "request.invalid_tenant",
            "社区编号格式不正确",
            str(error),
            FieldViolation(field, str(error)),
        ) from error


def tenant_from_path(tenant: str, request: Request, principal: CurrentPrincipal) -> TenantId:
    """The path's tenant, where the caller holds a role the route admits (``access.admit``):
    401 first, then 422 for a malformed tenant, then 403."""
    tenant_id = parse_tenant_id(tenant, "tenant")
    admit(request, principal, tenant_id)
    return tenant_id


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
TenantPath = Annotated[TenantId, Depends(tenant_from_path)]
