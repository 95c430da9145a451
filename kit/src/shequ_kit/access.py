"""Who is calling, checked at the top of every RPC: the verified principal and the call's
tenant, with the roles the RPC needs there."""

from __future__ import annotations

from shequ_kit.context import current_principal
from shequ_kit.errors import permission_denied, unauthenticated
from shequ_kit.tenancy import TenantId, require_tenant
from shequ_kit.tokens import Principal, Role


def caller() -> Principal:
    """The verified caller; the token interceptor has run, so none is a wiring error."""
    principal = current_principal()
    if principal is None:
        raise unauthenticated("no verified caller")
    return principal


def caller_on_tenant(*roles: Role) -> tuple[Principal, TenantId]:
    """The caller and the call's tenant, where the caller holds one of ``roles`` (any role at
    all when none is named); PERMISSION_DENIED otherwise."""
    principal, tenant = caller(), require_tenant()
    if roles:
        principal.require(tenant, *roles)
    elif not principal.can_access(tenant):
        raise permission_denied(
            f"您在 {tenant} 没有任何权限",
            f"you hold no role on tenant {tenant}",
            tenant=str(tenant),
        )
    return principal, tenant
