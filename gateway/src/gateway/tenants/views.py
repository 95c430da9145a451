"""REST routes of the tenant registry: /api/v1/tenants."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from gateway.access import EVERY_ROLE, admits
from gateway.directory import KeycloakDirectory
from gateway.security import CurrentPrincipal, TenantPath, parse_tenant_id
from gateway.tenants import service
from gateway.tenants.models import TenantKind, TenantNode, TenantStatus
from shequ_kit.tokens import Role

router = APIRouter(prefix="/api/v1/tenants", tags=["tenants 租户"])


def _sessions(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.core.sessions
    return factory


def _directory(request: Request) -> KeycloakDirectory:
    directory: KeycloakDirectory = request.app.state.core.directory
    return directory


Sessions = Annotated[sessionmaker[Session], Depends(_sessions)]
Directory = Annotated[KeycloakDirectory, Depends(_directory)]


class TenantOut(BaseModel):
    id: str = Field(examples=["xiaoshan.shushan.hushan"])
    parent_id: str | None
    kind: TenantKind
    name_zh: str = Field(examples=["湖山社区"])
    name_en: str = Field(examples=["Hushan"])
    division_code: str | None
    division_code_year: int | None
    status: TenantStatus
    onboarded_at: datetime | None

    @classmethod
    def of(cls, node: TenantNode) -> TenantOut:
        return cls(
            id=node.tenant_id,
            parent_id=node.parent_id,
            kind=node.kind,
            name_zh=node.name_zh,
            name_en=node.name_en,
            division_code=node.division_code,
            division_code_year=node.division_code_year,
            status=node.status,
            onboarded_at=node.onboarded_at,
        )


class TenantTreeNode(TenantOut):
    children: list[TenantTreeNode] = Field(default_factory=list)


class TenantTree(BaseModel):
    roots: list[TenantTreeNode]


class OnboardCommunity(BaseModel):
    id: str = Field(
        description="New community's tenant id under its street",
        max_length=200,
        examples=["xiaoshan.shushan.junle"],
    )
    name_zh: str = Field(min_length=1, max_length=100, examples=["郡乐社区"])
    name_en: str = Field(min_length=1, max_length=100, examples=["Junle"])
    division_code: str | None = Field(default=None, pattern=r"^\d{12}$")
    division_code_year: int | None = Field(default=None, ge=1980, le=2100)


@router.get(
    "", operation_id="listTenants", openapi_extra=admits(*EVERY_ROLE), response_model=TenantTree
)
def list_tenants(principal: CurrentPrincipal, sessions: Sessions) -> TenantTree:
    """租户树：调用者有权查看的街道与社区。The tenant tree the caller may see."""
    with sessions() as session:
        nodes = service.visible_nodes(session, principal)
    by_id = {n.tenant_id: TenantTreeNode(**TenantOut.of(n).model_dump()) for n in nodes}
    roots: list[TenantTreeNode] = []
    for node in by_id.values():
        parent = by_id.get(node.parent_id or "")
        (parent.children if parent else roots).append(node)
    return TenantTree(roots=roots)


@router.get(
    "/{tenant}",
    operation_id="getTenant",
    openapi_extra=admits(*EVERY_ROLE),
    response_model=TenantOut,
)
def get_tenant(tenant: TenantPath, principal: CurrentPrincipal, sessions: Sessions) -> TenantOut:
    """一个租户节点。One node of the tree."""
    with sessions() as session:
        return TenantOut.of(service.get_node(session, principal, tenant))


@router.post(
    "",
    operation_id="onboardCommunity",
    openapi_extra=admits(Role.PLATFORM_ADMIN, Role.STREET_ADMIN),
    response_model=TenantOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "Already onboarded; nothing changed"}},
)
def onboard_community(  # noqa: PLR0917 - FastAPI injects each dependency as a parameter
    body: OnboardCommunity,
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    sessions: Sessions,
    directory: Directory,
) -> TenantOut:
    """启用新社区（街道管理员）。Onboard a community under a street (street admins)."""
    tenant = parse_tenant_id(body.id, "id")
    node, created = service.onboard_community(
        sessions,
        directory,
        principal,
        service.CommunityToOnboard(
            tenant, body.name_zh, body.name_en, body.division_code, body.division_code_year
        ),
        topic=request.app.state.core.settings.events_topic,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/api/v1/tenants/{node.tenant_id}"
    return TenantOut.of(node)
