"""How a REST route calls a service: as the verified caller, in the path's tenant, with a
deadline; and the cursor page every list route takes. Shared by the census and grid routes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from gateway.access import require_grant
from shequ.common.v1 import paging_pb2
from shequ_kit.context import (
    AUTHORIZATION_METADATA_KEY,
    REQUEST_ID_METADATA_KEY,
    current_request_id,
)
from shequ_kit.paging import MAX_PAGE_SIZE
from shequ_kit.tenancy import TENANT_METADATA_KEY, TenantId
from shequ_kit.tokens import Principal


def caller_options(request: Request, principal: Principal, tenant: TenantId) -> Mapping[str, Any]:
    """The keyword arguments of every call a route makes: the caller's token, the tenant, the
    request id, and the deadline.

    The service verifies the token and checks tenant and role itself (zero trust); the gateway
    still refuses a caller with no grant on the tenant before calling. The metadata is explicit
    rather than left to the channel's context forwarding: sync endpoints run in worker threads,
    and the principal is only known here.
    """
    require_grant(principal, tenant)
    return {
        "metadata": call_metadata(principal, tenant),
        "timeout": request.app.state.core.settings.grpc_timeout_s,
    }


def call_metadata(principal: Principal, tenant: TenantId | None) -> tuple[tuple[str, str], ...]:
    """The caller's token, the tenant (none for tenantless operations calls) and the request
    id, as gRPC metadata."""
    metadata = [(AUTHORIZATION_METADATA_KEY, f"Bearer {principal.token}")]
    if tenant is not None:
        metadata.append((TENANT_METADATA_KEY, tenant.value))
    request_id = current_request_id()
    if request_id:
        metadata.append((REQUEST_ID_METADATA_KEY, request_id))
    return tuple(metadata)


def page_request(
    page_size: Annotated[
        int | None,
        Query(ge=1, le=MAX_PAGE_SIZE, description="每页条数 Items per page (default 50)"),
    ] = None,
    page_token: Annotated[
        str | None,
        Query(max_length=2000, description="上一页的 next_page_token; empty for the first page"),
    ] = None,
) -> paging_pb2.PageRequest:
    return paging_pb2.PageRequest(page_size=page_size or 0, page_token=page_token or "")


PageQuery = Annotated[paging_pb2.PageRequest, Depends(page_request)]
