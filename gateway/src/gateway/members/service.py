"""Who may grant which role where, and member accounts in the directory."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from gateway.audit.service import record_directory_change
from gateway.directory import KeycloakDirectory, Member
from gateway.tenants.models import TenantKind, TenantNode, TenantStatus
from gateway.tenants.service import ROLES_BY_KIND, tenant_not_found
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input, not_found
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Principal, Role

# Community staff run their community day to day: they may add grid workers and residents.
# Staff accounts, PII clearance and street roles are granted from the street up.
STAFF_GRANTABLE = frozenset({Role.GRID_WORKER, Role.RESIDENT})
VIEWER_ROLES = (Role.PLATFORM_ADMIN, Role.STREET_ADMIN, Role.COMMUNITY_STAFF)


@dataclass(frozen=True)
class NewMember:
    username: str
    display_name: str
    email: str | None
    role: Role
    pii_reader: bool
    initial_password: str
    temporary_password: bool

    @property
    def roles(self) -> tuple[Role, ...]:
        return (self.role, Role.PII_READER) if self.pii_reader else (self.role,)


def may_grant(principal: Principal, tenant: TenantId, role: Role) -> bool:
    if principal.has(Role.PLATFORM_ADMIN, tenant) or principal.has(Role.STREET_ADMIN, tenant):
        return True
    return role in STAFF_GRANTABLE and principal.has(Role.COMMUNITY_STAFF, tenant)


def _require_grant_rights(principal: Principal, tenant: TenantId, roles: tuple[Role, ...]) -> None:
    for role in roles:
        if not may_grant(principal, tenant, role):
            principal.require(tenant, Role.STREET_ADMIN, Role.PLATFORM_ADMIN)


def _active_node(sessions: sessionmaker[Session], tenant: TenantId) -> TenantNode:
    with sessions() as session:
        node = session.get(TenantNode, tenant.value)
    if node is None:
        raise tenant_not_found(tenant)
    if node.status is not TenantStatus.ACTIVE:
        raise DomainError(
            "tenant.not_active",
            f"{node.name_zh}尚未启用，请先完成社区启用",
            f"tenant {tenant} is {node.status}; onboard it first",
            ErrorKind.CONFLICT,
        )
    return node


def create_member(
    sessions: sessionmaker[Session],
    directory: KeycloakDirectory,
    principal: Principal,
    tenant: TenantId,
    member: NewMember,
) -> Member:
    _require_grant_rights(principal, tenant, member.roles)
    node = _active_node(sessions, tenant)
    allowed = ROLES_BY_KIND[TenantKind(node.kind)]
    if member.role not in allowed or member.role is Role.PII_READER:
        raise invalid_input(
            "member.role_not_available",
            f"{node.name_zh}不设此角色：{member.role}",
            f"role {member.role} does not exist on a {node.kind}",
            FieldViolation(
                "role", f"one of {', '.join(r for r in allowed if r != Role.PII_READER)}"
            ),
        )
    user_id = directory.create_member(
        tenant=tenant,
        roles=member.roles,
        username=member.username,
        display_name=member.display_name,
        email=member.email,
        initial_password=member.initial_password,
        temporary_password=member.temporary_password,
    )
    roles = ", ".join(member.roles)
    record_directory_change(
        sessions,
        principal,
        tenant,
        "member.created",
        summary=f"新建成员账号 {member.username}，授予角色：{roles}",
        summary_en=f"created the account {member.username} with the role(s) {roles}",
        target_kind="member",
        target_id=user_id,
        detail={"username": member.username, "roles": list(member.roles)},
    )
    return next(m for m in directory.members(tenant, member.roles) if m.id == user_id)


def list_members(
    sessions: sessionmaker[Session],
    directory: KeycloakDirectory,
    principal: Principal,
    tenant: TenantId,
) -> list[Member]:
    principal.require(tenant, *VIEWER_ROLES)
    node = _active_node(sessions, tenant)
    return directory.members(tenant, ROLES_BY_KIND[TenantKind(node.kind)])


def disable_member(
    sessions: sessionmaker[Session],
    directory: KeycloakDirectory,
    principal: Principal,
    tenant: TenantId,
    member_id: str,
) -> Member:
    """Disable an account of this tenant (it can no longer log in); grants stay for the record."""
    principal.require(tenant, *VIEWER_ROLES)
    node = _active_node(sessions, tenant)
    member = next(
        (
            m
            for m in directory.members(tenant, ROLES_BY_KIND[TenantKind(node.kind)])
            if m.id == member_id
        ),
        None,
    )
    if member is None:
        raise not_found(
            "member.not_found", "该租户下没有此成员", f"no member {member_id} in tenant {tenant}"
        )
    _require_grant_rights(principal, tenant, member.roles)
    directory.set_enabled(member.id, enabled=False)
    record_directory_change(
        sessions,
        principal,
        tenant,
        "member.disabled",
        summary=f"停用成员账号 {member.username}",
        summary_en=f"disabled the account {member.username}",
        target_kind="member",
        target_id=member.id,
        detail={"username": member.username, "roles": list(member.roles)},
    )
    return Member(
        member.id, member.username, member.display_name, member.email, False, member.roles
    )
