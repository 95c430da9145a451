"""/api/v1/me: who the caller is and which grants the token carries."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from gateway.access import EVERY_ROLE, admits
from gateway.security import CurrentPrincipal
from shequ_kit.tokens import Role

router = APIRouter(prefix="/api/v1", tags=["me 当前用户"])


class GrantOut(BaseModel):
    tenant: str | None
    role: Role


class MeOut(BaseModel):
    subject: str
    username: str
    name: str | None
    grants: list[GrantOut]
    token_expires_at: datetime


@router.get("/me", operation_id="getMe", openapi_extra=admits(*EVERY_ROLE), response_model=MeOut)
def me(principal: CurrentPrincipal) -> MeOut:
    """当前用户及其授权。The caller and the grants in their token."""
    grants = sorted(principal.grants, key=lambda g: (g.tenant.value if g.tenant else "", g.role))
    return MeOut(
        subject=principal.subject,
        username=principal.username,
        name=principal.claims.get("name"),
        grants=[GrantOut(tenant=g.tenant.value if g.tenant else None, role=g.role) for g in grants],
        token_expires_at=principal.expires_at,
    )
