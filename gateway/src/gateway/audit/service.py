"""The gateway's entries in its own audit log, and one page of every process's log merged.

The gateway's administrative actions (onboarding, member accounts) change Keycloak, not only
its database: they are recorded once Keycloak has done them, in the gateway's database.
Reading merges the gateway's log with each service's (``OpsService.ListAuditEntries``): every
source is asked for one page after the same cursor, the answers are merged newest first and
cut to the page, and the cursor of the last entry shown is the next page's token, which every
source honours again (``shequ_kit.audit``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.service_calls import call_metadata
from gateway.tenants.models import TenantNode
from gateway.tenants.service import tenant_not_found
from shequ.common.v1 import paging_pb2
from shequ.ops.v1 import ops_pb2, ops_pb2_grpc
from shequ_kit import audit, ops
from shequ_kit.paging import encode_token
from shequ_kit.tenancy import TenantId, tenant_scope
from shequ_kit.tokens import Principal

GATEWAY = "gateway"


def record_directory_change(
    sessions: sessionmaker[Session],
    principal: Principal,
    tenant: TenantId,
    action: str,
    *,
    summary: str,
    summary_en: str,
    target_kind: str,
    target_id: str,
    detail: Mapping[str, Any],
) -> None:
    """Record an action Keycloak has just done (it has no transaction to share) in the
    gateway's log, in a transaction of the tenant's own (row-level security checks it)."""
    with tenant_scope(tenant), sessions.begin() as session:
        audit.record(
            session,
            action,
            summary=summary,
            summary_en=summary_en,
            target_kind=target_kind,
            target_id=target_id,
            detail=detail,
            actor=principal,
        )


def require_registered(sessions: sessionmaker[Session], tenant: TenantId) -> None:
    with sessions() as session:
        if session.get(TenantNode, tenant.value) is None:
            raise tenant_not_found(tenant)


@dataclass(frozen=True)
class MergedPage:
    entries: Sequence[ops_pb2.AuditEntry]  # newest first
    next_page_token: str


def _newest_first(entry: ops_pb2.AuditEntry) -> tuple[datetime, uuid.UUID]:
    return entry.occurred_at.ToDatetime(tzinfo=UTC), uuid.UUID(entry.id)


def merged_page(
    engine: Engine,
    stubs: Mapping[str, ops_pb2_grpc.OpsServiceStub],
    principal: Principal,
    query: audit.AuditQuery,
    request: ops_pb2.ListAuditEntriesRequest,
    *,
    timeout_s: float,
) -> MergedPage:
    """One page of every process's log after ``request``'s cursor, newest first.

    A service that cannot answer fails the whole page (its gRPC error becomes the problem):
    an audit page silently missing one service's entries would mislead, and its cursor would
    skip them for good.
    """
    pending = {
        name: stub.ListAuditEntries.future(
            request, metadata=call_metadata(principal, None), timeout=timeout_s
        )
        for name, stub in stubs.items()
    }
    own = ops.list_audit_entries(engine, GATEWAY, query)
    replies: list[ops_pb2.ListAuditEntriesResponse] = [own]
    failure: grpc.RpcError | None = None
    for future in pending.values():
        try:
            replies.append(future.result())
        except grpc.RpcError as error:
            failure = failure or error  # the others are still waited for, then it is raised
    if failure is not None:
        raise failure
    entries = sorted(
        (entry for reply in replies for entry in reply.entries), key=_newest_first, reverse=True
    )
    size = query.page.size
    shown = entries[:size]
    more = len(entries) > size or any(reply.page.next_page_token for reply in replies)
    token = ""
    if more and shown:
        last_at, last_id = _newest_first(shown[-1])
        token = encode_token(audit.cursor_after(last_at, last_id))
    return MergedPage(shown, token)


def list_request(
    query: audit.AuditQuery, page: paging_pb2.PageRequest
) -> ops_pb2.ListAuditEntriesRequest:
    """What each service is asked: the same filters and cursor as the gateway's own log."""
    request = ops_pb2.ListAuditEntriesRequest(
        tenant_id=query.tenant.value if query.tenant is not None else "",
        page=paging_pb2.PageRequest(page_size=query.page.size, page_token=page.page_token),
        action_prefix=query.action_prefix,
        actor=query.actor,
    )
    if query.since is not None:
        request.since.FromDatetime(query.since.astimezone(UTC))
    if query.until is not None:
        request.until.FromDatetime(query.until.astimezone(UTC))
    return request
