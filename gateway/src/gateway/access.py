"""Who may call each route: the roles it admits on the tenant it acts in.

A route declares them with ``openapi_extra=admits(...)``: the OpenAPI document then carries
``x-shequ-roles`` (any one of them on the tenant admits the caller; a grant on a street or the
district covers its communities) and, for the routes that show personal data unmasked,
``x-shequ-also-requires`` (a modifier needed besides, ``pii-reader``). API consumers read them
in /docs; the isolation matrix (tests/security) tries every operation with a role it does not
list. ``admit`` checks the declaration on the path's tenant before any service is asked; the
services check the same again (zero trust). Routes without a tenant in the path (``/me``,
``/inbox``, ``/ops``, onboarding) check their roles in their own code and declare them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from fastapi import Request
from fastapi.routing import APIRoute

from shequ_kit.errors import permission_denied
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Principal, Role

ROLES_KEY: Final = "x-shequ-roles"
ALSO_REQUIRES_KEY: Final = "x-shequ-also-requires"

# Who runs a community's affairs: its staff, and the admins above it.
STAFF: Final = (Role.COMMUNITY_STAFF, Role.STREET_ADMIN, Role.PLATFORM_ADMIN)
# Who reads a community's records: the staff, and the grid workers on their rounds.
READERS: Final = (*STAFF, Role.GRID_WORKER)
# Anyone with a role on the tenant (pii-reader is a modifier of a role, not one of its own).
EVERY_ROLE: Final = (*READERS, Role.RESIDENT)


@dataclass(frozen=True)
class Admission:
    """The roles a route admits (any one) and the modifiers it needs besides (all)."""

    roles: tuple[Role, ...]
    also: tuple[Role, ...] = ()


def admits(*roles: Role, also: Role | None = None) -> dict[str, Any]:
    """A route's ``openapi_extra``: who may call it on its tenant."""
    extra: dict[str, Any] = {ROLES_KEY: [role.value for role in roles]}
    if also is not None:
        extra[ALSO_REQUIRES_KEY] = [also.value]
    return extra


def declared_admission(route: object) -> Admission | None:
    """What the route declares; None for a route that declares nothing."""
    extra = route.openapi_extra if isinstance(route, APIRoute) else None
    if not extra or ROLES_KEY not in extra:
        return None
    return Admission(
        roles=tuple(Role(r) for r in extra[ROLES_KEY]),
        also=tuple(Role(r) for r in extra.get(ALSO_REQUIRES_KEY, ())),
    )


def require_grant(principal: Principal, tenant: TenantId) -> None:
    """403 unless the caller holds some role on ``tenant`` (directly or on an ancestor)."""
    if not principal.can_access(tenant):
        raise permission_denied(
            f"您在 {tenant} 没有任何权限",
            f"you hold no role on tenant {tenant}",
            tenant=str(tenant),
        )


def admit(request: Request, principal: Principal, tenant: TenantId) -> None:
    """403 unless the caller holds a grant on ``tenant`` and, there, one of the roles the
    matched route declares and every modifier it also requires. A route that declares nothing
    admits any grant (the services still check their own roles)."""
    require_grant(principal, tenant)
    admission = declared_admission(request.scope.get("route"))
    if admission is None:
        return
    principal.require(tenant, *admission.roles)
    for modifier in admission.also:
        principal.require(tenant, modifier)
