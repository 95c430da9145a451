"""/api/v1/tenants/{tenant}/audit: the administrative actions of a street's communities.

Onboarding and member accounts (the gateway's own log), PII reveals, unmasked exports and
imports (census), grid plans and members (grid), replays and rebuilds (every process), merged
newest first with one cursor. Street administrators on the tenant or above it, and platform
administrators; community staff are refused (they are among the people the log watches).
``/api/v1/audit`` is the whole platform's, actions without a tenant included, for platform
administrators.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from gateway.access import admits
from gateway.audit import service
from gateway.audit.models import AuditEntryOut, AuditPage
from gateway.grid.models import SHANGHAI
from gateway.security import CurrentPrincipal, TenantPath
from gateway.service_calls import PageQuery
from shequ.common.v1 import paging_pb2
from shequ_kit import audit, ops
from shequ_kit.paging import page_of
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Principal, Role

router = APIRouter(tags=["audit 操作日志"])

ActionFilter = Annotated[
    str | None,
    Query(
        max_length=100,
        description="操作类型前缀 Action code prefix, e.g. pii. or member.created",
    ),
]
ActorFilter = Annotated[
    str | None, Query(max_length=200, description="操作人用户名或账号标识 The actor")
]
SinceFilter = Annotated[
    datetime | None,
    Query(
        description="起始时间（含；不带时区按北京时间） From, inclusive (Asia/Shanghai if naive)"
    ),
]
UntilFilter = Annotated[
    datetime | None,
    Query(description="截止时间（不含） Until, exclusive (Asia/Shanghai if naive)"),
]


def _aware(moment: datetime | None) -> datetime | None:
    """A naive time is the residents' wall clock, as staff type it."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=SHANGHAI)


def _page_of_every_log(
    request: Request,
    principal: Principal,
    tenant: TenantId | None,
    page: paging_pb2.PageRequest,
    *,
    action: str | None,
    actor: str | None,
    since: datetime | None,
    until: datetime | None,
) -> AuditPage:
    ops.authorize_operator(principal, tenant)
    core = request.app.state.core
    if tenant is not None:
        service.require_registered(core.sessions, tenant)
    # The filters and the cursor are checked here, before any service is asked.
    query = audit.AuditQuery(
        page=page_of(page),
        tenant=tenant,
        action_prefix=(action or "").strip(),
        actor=(actor or "").strip(),
        since=_aware(since),
        until=_aware(until),
    )
    audit.cursor_of(query.page)
    merged = service.merged_page(
        core.engine,
        core.ops,
        principal,
        query,
        service.list_request(query, page),
        timeout_s=core.settings.grpc_timeout_s,
    )
    return AuditPage(
        items=[AuditEntryOut.of(entry) for entry in merged.entries],
        next_page_token=merged.next_page_token,
    )


@router.get(
    "/api/v1/tenants/{tenant}/audit",
    operation_id="listAuditEntries",
    openapi_extra=admits(Role.PLATFORM_ADMIN, Role.STREET_ADMIN),
    response_model=AuditPage,
)
def list_audit_entries(  # noqa: PLR0917 - FastAPI injects each filter as a parameter
    request: Request,
    tenant: TenantPath,
    principal: CurrentPrincipal,
    page: PageQuery,
    action: ActionFilter = None,
    actor: ActorFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
) -> AuditPage:
    """操作日志：本街道（社区）的管理操作，新的在前（街道管理员）。
    Administrative actions in the tenant's subtree, newest first (street administrators)."""
    return _page_of_every_log(
        request, principal, tenant, page, action=action, actor=actor, since=since, until=until
    )


@router.get(
    "/api/v1/audit",
    operation_id="listPlatformAuditEntries",
    openapi_extra=admits(Role.PLATFORM_ADMIN),
    response_model=AuditPage,
)
def list_platform_audit_entries(  # noqa: PLR0917 - FastAPI injects each filter
    request: Request,
    principal: CurrentPrincipal,
    page: PageQuery,
    action: ActionFilter = None,
    actor: ActorFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
) -> AuditPage:
    """全平台操作日志，含不属于某个租户的操作（平台管理员）。
    The whole platform's administrative actions, those without a tenant included."""
    return _page_of_every_log(
        request, principal, None, page, action=action, actor=actor, since=since, until=until
    )
