"""Who may do what in the census (roles × tenant), checked at the top of every RPC."""

from __future__ import annotations

from shequ_kit.access import caller
from shequ_kit.errors import DomainError, ErrorKind
from shequ_kit.tenancy import TenantId, require_tenant
from shequ_kit.tokens import Principal, Role

# Staff keep the base numbers; grid workers read them on their rounds; street and platform
# admins read across communities. Residents do not read the census, but for its places below.
READERS = (Role.COMMUNITY_STAFF, Role.GRID_WORKER, Role.STREET_ADMIN, Role.PLATFORM_ADMIN)
WRITERS = (Role.COMMUNITY_STAFF,)
# Complexes and buildings are public: their names and numbers are posted at every gate. A
# resident reads them to say where a problem is (a case at a building is routed at once); they
# never read households, people, counts or who verified what.
PLACE_READERS = (*READERS, Role.RESIDENT)


def for_reading() -> tuple[Principal, TenantId]:
    principal, tenant = caller(), require_tenant()
    principal.require(tenant, *READERS)
    return principal, tenant


def for_reading_places() -> bool:
    """Complexes and buildings: the census readers and the community's residents. Answers
    whether the caller reads the census itself (and so also sees who verified a place)."""
    principal, tenant = caller(), require_tenant()
    principal.require(tenant, *PLACE_READERS)
    return any(principal.has(role, tenant) for role in READERS)


def for_writing() -> tuple[Principal, TenantId]:
    """Writes happen in a community, by its staff (a street reads and compares)."""
    principal, tenant = caller(), require_tenant()
    principal.require(tenant, *WRITERS)
    if not tenant.is_community:
        raise DomainError(
            "census.write_needs_community",
            "底数数据属于社区，请在具体社区下录入",
            f"census records belong to a community; {tenant} is not one",
            ErrorKind.INVALID_INPUT,
        )
    return principal, tenant


def for_pii(tenant: TenantId) -> Principal:
    principal = caller()
    principal.require(tenant, Role.PII_READER)
    return principal
