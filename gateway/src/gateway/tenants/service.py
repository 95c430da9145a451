"""The tenant registry's rules: who sees which nodes, and onboarding a community."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.directory import KeycloakDirectory
from gateway.tenants.models import TenantKind, TenantNode, TenantStatus
from shequ.common.v1 import tenant_pb2
from shequ.gateway.v1 import events_pb2
from shequ_kit import audit
from shequ_kit.errors import (
    DomainError,
    ErrorKind,
    FieldViolation,
    invalid_input,
    not_found,
    permission_denied,
)
from shequ_kit.outbox import Event, publish
from shequ_kit.tenancy import TenantId, tenant_scope
from shequ_kit.tokens import Principal, Role

EVENT_SOURCE = "/shequ/gateway"
# The role sub-groups every node of a kind gets in Keycloak.
ROLES_BY_KIND: dict[TenantKind, tuple[Role, ...]] = {
    TenantKind.DISTRICT: (Role.STREET_ADMIN, Role.PII_READER),
    TenantKind.STREET: (Role.STREET_ADMIN, Role.COMMUNITY_STAFF, Role.PII_READER),
    TenantKind.COMMUNITY: (Role.COMMUNITY_STAFF, Role.GRID_WORKER, Role.RESIDENT, Role.PII_READER),
}
_PROTO_KIND = {
    TenantKind.DISTRICT: events_pb2.TENANT_KIND_DISTRICT,
    TenantKind.STREET: events_pb2.TENANT_KIND_STREET,
    TenantKind.COMMUNITY: events_pb2.TENANT_KIND_COMMUNITY,
}


def tenant_not_found(tenant: TenantId) -> DomainError:
    return not_found(
        "tenant.not_found", f"未找到租户 {tenant}", f"tenant {tenant} is not registered"
    )


def visible_nodes(session: Session, principal: Principal) -> list[TenantNode]:
    """Every node the caller holds a grant on, directly or through an ancestor."""
    nodes = session.scalars(select(TenantNode).order_by(TenantNode.tenant_id)).all()
    return [n for n in nodes if principal.can_access(TenantId(n.tenant_id))]


def get_node(session: Session, principal: Principal, tenant: TenantId) -> TenantNode:
    if not principal.can_access(tenant):
        # Same answer whether or not the node exists: no probing of other communities.
        raise permission_denied(
            f"您无权查看 {tenant}", f"you hold no grant on tenant {tenant}", tenant=tenant.value
        )
    node = session.get(TenantNode, tenant.value)
    if node is None:
        raise tenant_not_found(tenant)
    return node


@dataclass(frozen=True)
class CommunityToOnboard:
    tenant: TenantId
    name_zh: str
    name_en: str
    division_code: str | None
    division_code_year: int | None


def onboarded_event(node: TenantNode, topic: str) -> Event:
    onboarded_at = Timestamp()
    onboarded_at.FromDatetime(node.onboarded_at or datetime.now(UTC))
    payload = events_pb2.TenantOnboarded(
        tenant=tenant_pb2.TenantRef(tenant_id=node.tenant_id),
        parent=tenant_pb2.TenantRef(tenant_id=node.parent_id or ""),
        kind=_PROTO_KIND[node.kind],
        name_zh=node.name_zh,
        name_en=node.name_en,
        division_code=node.division_code or "",
        division_code_year=node.division_code_year or 0,
        onboarded_at=onboarded_at,
    )
    return Event(
        type="shequ.gateway.v1.TenantOnboarded",
        source=EVENT_SOURCE,
        topic=topic,
        tenant=TenantId(node.tenant_id),
        aggregate_id=node.tenant_id,
        payload=payload,
    )


def _check_request(parent: TenantNode | None, request: CommunityToOnboard) -> None:
    if parent is None or parent.kind is not TenantKind.STREET:
        raise invalid_input(
            "tenant.parent_not_a_street",
            "新社区必须建在已登记的街道之下",
            "a community is onboarded under a registered street",
            FieldViolation("id", f"parent {request.tenant.parent} is not a registered street"),
        )
    if parent.status is not TenantStatus.ACTIVE:
        raise DomainError(
            "tenant.parent_not_active",
            "上级街道尚未启用",
            "the parent street is not active",
            ErrorKind.CONFLICT,
        )
    code = request.division_code
    if code is not None and parent.division_code and not code.startswith(parent.division_code):
        raise invalid_input(
            "tenant.division_code_outside_parent",
            "社区区划代码应以所属街道的代码开头",
            "the community's division code must start with its street's code",
            FieldViolation("division_code", f"expected prefix {parent.division_code}"),
        )


def onboard_community(
    sessions: sessionmaker[Session],
    directory: KeycloakDirectory,
    principal: Principal,
    request: CommunityToOnboard,
    *,
    topic: str,
) -> tuple[TenantNode, bool]:
    """Make a community usable; returns the node and whether this call onboarded it.

    Idempotent: onboarding an active community again changes nothing and emits nothing.
    The onboarding is recorded in the audit log in the registry's transaction.
    The Keycloak groups are created first (idempotently), so a failure there leaves the
    registry untouched and the request can simply be repeated.
    """
    street = request.tenant.parent
    if street is None:
        raise invalid_input(
            "tenant.no_parent", "社区必须属于某个街道", "a community needs a street"
        )
    principal.require(street, Role.STREET_ADMIN, Role.PLATFORM_ADMIN)
    with sessions() as session:
        parent = session.get(TenantNode, street.value)
        _check_request(parent, request)
        existing = session.get(TenantNode, request.tenant.value)
        if existing is not None and existing.status is TenantStatus.ACTIVE:
            return existing, False
    directory.ensure_tenant_groups(request.tenant, ROLES_BY_KIND[TenantKind.COMMUNITY])
    # In the community's scope: its audit entry is written under row-level security.
    with tenant_scope(request.tenant), sessions.begin() as session:
        node = session.get(TenantNode, request.tenant.value, with_for_update=True)
        if node is not None and node.status is TenantStatus.ACTIVE:
            return node, False  # a concurrent request got there first
        if node is not None and node.status is TenantStatus.ARCHIVED:
            raise DomainError(
                "tenant.archived",
                "该社区已归档，不能重新启用",
                "the community is archived",
                ErrorKind.CONFLICT,
            )
        if node is None:
            node = TenantNode(
                tenant_id=request.tenant.value, parent_id=street.value, kind=TenantKind.COMMUNITY
            )
            session.add(node)
        node.name_zh = request.name_zh
        node.name_en = request.name_en
        node.division_code = request.division_code or node.division_code
        node.division_code_year = request.division_code_year or node.division_code_year
        node.status = TenantStatus.ACTIVE
        node.onboarded_at = datetime.now(UTC)
        session.flush()
        publish(session, onboarded_event(node, topic))
        audit.record(
            session,
            "tenant.onboarded",
            target_kind="tenant",
            target_id=node.tenant_id,
            summary=f"启用社区：{node.name_zh}（{node.tenant_id}）",
            summary_en=f"onboarded the community {node.name_en} ({node.tenant_id})",
            detail={
                "street": street.value,
                "division_code": node.division_code,
                "division_code_year": node.division_code_year,
            },
            actor=principal,
        )
    return node, True
