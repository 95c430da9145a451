"""Members of grids: who leads, works and volunteers where, linked to gateway accounts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from grid.common import check_version, emit, optional_text, parse_uuid, required_text
from grid.layout import get_grid, get_micro_grid
from grid.models import CensusBuilding, Coverage, Member
from shequ.grid.v1 import events_pb2
from shequ.grid.v1 import grid_pb2 as pb
from shequ_kit import audit
from shequ_kit.errors import FieldViolation, invalid_input, not_found
from shequ_kit.outbox import tenant_ref
from shequ_kit.paging import Page, sort_key
from shequ_kit.tenancy import TenantId

ROLES: Final[dict[str, pb.MemberRole.ValueType]] = {
    "grid_leader": pb.MEMBER_ROLE_GRID_LEADER,
    "grid_worker": pb.MEMBER_ROLE_GRID_WORKER,
    "micro_grid_leader": pb.MEMBER_ROLE_MICRO_GRID_LEADER,
    "building_leader": pb.MEMBER_ROLE_BUILDING_LEADER,
    "volunteer": pb.MEMBER_ROLE_VOLUNTEER,
    "party_member": pb.MEMBER_ROLE_PARTY_MEMBER,
}
ROLE_WORDS: Final = {value: word for word, value in ROLES.items()}
# How the audit log names the roles.
ROLE_LABELS: Final = {
    "grid_leader": "网格长",
    "grid_worker": "网格员",
    "micro_grid_leader": "微网格长",
    "building_leader": "楼道长",
    "volunteer": "志愿者",
    "party_member": "党员",
}


def mask_phone(phone: str) -> str:
    """ "13812345678" → "138****5678"; shorter numbers keep only their last two digits."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if not digits:
        return ""
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * (len(digits) - 2) + digits[-2:]


def _phone(value: str) -> str:
    cleaned = value.strip().replace(" ", "").replace("-", "")
    if cleaned and (not cleaned.lstrip("+").isdigit() or not 5 <= len(cleaned) <= 20):
        raise invalid_input(
            "grid.phone_invalid",
            "电话号码格式不正确",
            "phone must be 5 to 20 digits",
            FieldViolation("member.phone", "5 to 20 digits"),
        )
    return mask_phone(cleaned)


def role_word(value: pb.MemberRole.ValueType, field: str = "member.role") -> str:
    word = ROLE_WORDS.get(value)
    if word is None:
        raise invalid_input(
            "grid.role_invalid",
            "请选择角色：网格长、网格员、微网格长、楼道长、志愿者或党员",
            "role must be one of grid leader, grid worker, micro-grid leader, building leader, "
            "volunteer, party member",
            FieldViolation(field, "a member role"),
        )
    return word


def add_member(session: Session, tenant: TenantId, given: pb.MemberInput) -> Member:
    role = role_word(given.role)
    grid = get_grid(session, given.grid_id, "member.grid_id")
    micro_id: uuid.UUID | None = None
    if given.micro_grid_id:
        micro = get_micro_grid(session, given.micro_grid_id, "member.micro_grid_id")
        if micro.grid_id != grid.id:
            raise invalid_input(
                "grid.micro_grid_of_other_grid",
                "该微网格不属于所选网格",
                "micro_grid_id belongs to another grid",
                FieldViolation("member.micro_grid_id", "not in grid_id"),
            )
        micro_id = micro.id
    elif role == "micro_grid_leader":
        raise invalid_input(
            "grid.micro_grid_required",
            "微网格长须指定所在微网格",
            "a micro-grid leader needs micro_grid_id",
            FieldViolation("member.micro_grid_id", "required for a micro-grid leader"),
        )
    building_id: uuid.UUID | None = None
    if given.building_id:
        building_id = parse_uuid(given.building_id, "member.building_id")
        known = session.scalar(
            select(CensusBuilding.building_id).where(CensusBuilding.building_id == building_id)
        )
        if known is None:
            raise not_found(
                "grid.building_not_found", "本社区没有该楼幢", f"no building {building_id}"
            )
        covering = session.scalar(
            select(Coverage.micro_grid_id).where(Coverage.building_id == building_id)
        )
        if micro_id is not None and covering != micro_id:
            raise invalid_input(
                "grid.building_outside_micro_grid",
                "该楼幢不在所选微网格内",
                "building_id is not covered by micro_grid_id",
                FieldViolation("member.building_id", "outside the micro-grid"),
            )
    elif role == "building_leader":
        raise invalid_input(
            "grid.building_required",
            "楼道长须指定所在楼幢",
            "a building leader needs building_id",
            FieldViolation("member.building_id", "required for a building leader"),
        )
    member = Member(
        grid_id=grid.id,
        micro_grid_id=micro_id,
        building_id=building_id,
        role=role,
        name=required_text(given.name, "member.name", "姓名", 50),
        phone_masked=_phone(given.phone),
        account_subject=optional_text(given.account_subject, "member.account_subject", "账号", 100)
        or None,
        account_username=optional_text(
            given.account_username, "member.account_username", "用户名", 100
        )
        or None,
    )
    session.add(member)
    session.flush()
    emit(
        session,
        tenant,
        member.id,
        events_pb2.MemberAdded(
            tenant=tenant_ref(tenant),
            member_id=str(member.id),
            grid_id=str(member.grid_id),
            micro_grid_id=str(member.micro_grid_id or ""),
            building_id=str(member.building_id or ""),
            role=ROLES[role],
            account_subject=member.account_subject or "",
        ),
    )
    audit.record(
        session,
        "grid_member.added",
        target_kind="grid_member",
        target_id=member.id,
        summary=f"任命{ROLE_LABELS[role]}：{grid.name}",
        summary_en=f"appointed a {role.replace('_', ' ')} in grid {grid.number}",
        detail={
            "role": role,
            "grid_id": str(grid.id),
            "micro_grid_id": str(micro_id or ""),
            "building_id": str(building_id or ""),
        },
    )
    return member


def list_members(
    session: Session,
    *,
    grid_id: str,
    micro_grid_id: str,
    role: pb.MemberRole.ValueType,
    account_subject: str,
    page: Page,
) -> Sequence[Member]:
    query = select(Member).order_by(Member.id)
    if grid_id:
        query = query.where(Member.grid_id == get_grid(session, grid_id).id)
    if micro_grid_id:
        query = query.where(Member.micro_grid_id == get_micro_grid(session, micro_grid_id).id)
    if role:
        query = query.where(Member.role == role_word(role, "role"))
    if account_subject:
        query = query.where(Member.account_subject == account_subject)
    if (after := sort_key(page, uuid.UUID)) is not None:
        query = query.where(Member.id > after[0])
    return session.scalars(query.limit(page.size + 1)).all()


def remove_member(
    session: Session, tenant: TenantId, *, member_id: str, expected_version: int
) -> None:
    member = session.scalar(
        select(Member).where(Member.id == parse_uuid(member_id, "member_id")).with_for_update()
    )
    if member is None:
        raise not_found("grid.member_not_found", "未找到该成员", f"no member {member_id}")
    check_version(member, expected_version)
    session.delete(member)
    emit(
        session,
        tenant,
        member.id,
        events_pb2.MemberRemoved(
            tenant=tenant_ref(tenant), member_id=str(member.id), grid_id=str(member.grid_id)
        ),
    )
    audit.record(
        session,
        "grid_member.removed",
        target_kind="grid_member",
        target_id=member.id,
        summary=f"免去{ROLE_LABELS[member.role]}",
        summary_en=f"removed a {member.role.replace('_', ' ')} from their grid",
        detail={"role": member.role, "grid_id": str(member.grid_id)},
    )


def grids_of_account(session: Session, subject: str) -> set[uuid.UUID]:
    """The grids a gateway account works in, through the members linked to it."""
    return set(session.scalars(select(Member.grid_id).where(Member.account_subject == subject)))


def member_of_account(session: Session, subject: str) -> Member | None:
    return session.scalars(
        select(Member).where(Member.account_subject == subject).order_by(Member.created_at)
    ).first()
