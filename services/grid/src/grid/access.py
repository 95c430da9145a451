"""Who may do what in the grid service (roles × tenant), checked at the top of every RPC."""

from __future__ import annotations

from shequ_kit.access import caller
from shequ_kit.errors import DomainError, ErrorKind
from shequ_kit.tenancy import TenantId, require_tenant
from shequ_kit.tokens import Principal, Role

# Staff and grid workers work the grids; street and platform admins compare communities.
READERS = (Role.COMMUNITY_STAFF, Role.GRID_WORKER, Role.STREET_ADMIN, Role.PLATFORM_ADMIN)
# Staff draw the layout and appoint members.
WRITERS = (Role.COMMUNITY_STAFF,)
# Visits are recorded by whoever goes to the door.
VISITORS = (Role.COMMUNITY_STAFF, Role.GRID_WORKER)
# Rebuilding the projection is an operator's task, or a community's own staff's.
OPERATORS = (Role.COMMUNITY_STAFF, Role.PLATFORM_ADMIN)


def _in_community(tenant: TenantId) -> None:
    if not tenant.is_community:
        raise DomainError(
            "grid.write_needs_community",
            "网格属于社区，请在具体社区下操作",
            f"grids belong to a community; {tenant} is not one",
            ErrorKind.INVALID_INPUT,
        )


def for_reading() -> tuple[Principal, TenantId]:
    principal, tenant = caller(), require_tenant()
    principal.require(tenant, *READERS)
    return principal, tenant


def for_writing() -> tuple[Principal, TenantId]:
    principal, tenant = caller(), require_tenant()
    principal.require(tenant, *WRITERS)
    _in_community(tenant)
    return principal, tenant


def for_visiting() -> tuple[Principal, TenantId]:
    principal, tenant = caller(), require_tenant()
    principal.require(tenant, *VISITORS)
    _in_community(tenant)
    return principal, tenant


def for_operating() -> tuple[Principal, TenantId]:
    principal, tenant = caller(), require_tenant()
    principal.require(tenant, *OPERATORS)
    _in_community(tenant)
    return principal, tenant


def sees_every_grid(principal: Principal, tenant: TenantId) -> bool:
    """Staff and admins see all of a tenant's visits; a grid worker only their own grids'."""
    return any(
        principal.has(role, tenant)
        for role in (Role.COMMUNITY_STAFF, Role.STREET_ADMIN, Role.PLATFORM_ADMIN)
    )
