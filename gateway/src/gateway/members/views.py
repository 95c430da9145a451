"""REST routes of members: /api/v1/tenants/{tenant}/members."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from gateway.access import STAFF, admits
from gateway.directory import Member
from gateway.members import service
from gateway.security import CurrentPrincipal, TenantPath
from gateway.tenants.views import Directory, Sessions
from shequ_kit.tokens import Role

router = APIRouter(prefix="/api/v1/tenants/{tenant}/members", tags=["members 成员"])


class MemberOut(BaseModel):
    id: str
    username: str
    display_name: str
    email: str | None
    enabled: bool
    roles: list[Role]

    @classmethod
    def of(cls, member: Member) -> MemberOut:
        return cls(
            id=member.id,
            username=member.username,
            display_name=member.display_name,
            email=member.email,
            enabled=member.enabled,
            roles=list(member.roles),
        )


class MemberList(BaseModel):
    items: list[MemberOut]


class CreateMember(BaseModel):
    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{2,39}$", examples=["junle-staff-01"])
    display_name: str = Field(min_length=1, max_length=50, examples=["王小明"])
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    role: Role = Field(examples=[Role.COMMUNITY_STAFF])
    pii_reader: bool = Field(default=False, description="可查看身份证号、手机号 Cleared for PII")
    initial_password: str = Field(min_length=10, max_length=128)
    temporary_password: bool = Field(
        default=True, description="首次登录须修改密码 Must change the password at first login"
    )


@router.post(
    "",
    operation_id="createMember",
    openapi_extra=admits(*STAFF),
    response_model=MemberOut,
    status_code=status.HTTP_201_CREATED,
)
def create_member(
    tenant: TenantPath,
    body: CreateMember,
    principal: CurrentPrincipal,
    sessions: Sessions,
    directory: Directory,
) -> MemberOut:
    """新建成员账号并授予角色。Create an account with its role in this tenant."""
    member = service.NewMember(
        username=body.username,
        display_name=body.display_name,
        email=body.email,
        role=body.role,
        pii_reader=body.pii_reader,
        initial_password=body.initial_password,
        temporary_password=body.temporary_password,
    )
    return MemberOut.of(service.create_member(sessions, directory, principal, tenant, member))


@router.get("", operation_id="listMembers", openapi_extra=admits(*STAFF), response_model=MemberList)
def list_members(
    tenant: TenantPath, principal: CurrentPrincipal, sessions: Sessions, directory: Directory
) -> MemberList:
    """本租户的成员及其角色。Members of this tenant and their roles here."""
    members = service.list_members(sessions, directory, principal, tenant)
    return MemberList(items=[MemberOut.of(m) for m in members])


@router.post(
    "/{member_id}/disable",
    operation_id="disableMember",
    openapi_extra=admits(*STAFF),
    response_model=MemberOut,
)
def disable_member(
    tenant: TenantPath,
    member_id: str,
    principal: CurrentPrincipal,
    sessions: Sessions,
    directory: Directory,
) -> MemberOut:
    """停用成员账号。Disable a member's account."""
    return MemberOut.of(service.disable_member(sessions, directory, principal, tenant, member_id))
