"""Visit records (走访): who went to which household or building, when, what they found."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from grid.common import emit, optional_text, optional_uuid, parse_uuid, required_text
from grid.layout import get_grid, get_micro_grid
from grid.models import (
    CensusBuilding,
    CensusDwelling,
    CensusHousehold,
    Coverage,
    Member,
    MicroGrid,
    Visit,
)
from shequ.grid.v1 import events_pb2
from shequ_kit.errors import FieldViolation, invalid_input
from shequ_kit.outbox import tenant_ref
from shequ_kit.paging import Page, sort_key
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Principal

# A visit is recorded on the day or soon after; a date far back is a typing error.
MAX_BACKDATE: Final = timedelta(days=366)
CLOCK_SKEW: Final = timedelta(minutes=5)


def _unknown_place(field: str, label_zh: str) -> Exception:
    return invalid_input(
        "grid.place_not_in_community",
        f"本社区没有该{label_zh}",
        f"{field} is not known in this community",
        FieldViolation(field, "not in this community"),
    )


def _visited_at(value: datetime | None, now: datetime) -> datetime:
    if value is None:
        return now
    if value > now + CLOCK_SKEW or value < now - MAX_BACKDATE:
        raise invalid_input(
            "grid.visited_at_invalid",
            "走访时间不能晚于现在，也不能早于一年前",
            "visited_at must be within the last year and not in the future",
            FieldViolation("visit.visited_at", "within the last year, not in the future"),
        )
    return value


def record_visit(
    session: Session,
    tenant: TenantId,
    principal: Principal,
    *,
    member_id: str,
    visited_at: datetime | None,
    building_id: str,
    dwelling_id: str,
    household_id: str,
    findings: str,
    follow_up: str,
    case_id: str,
) -> Visit:
    """The place must be known to this community's census projection: a household, dwelling
    or building of another community is refused as unknown (its id says nothing here)."""
    household_uuid = optional_uuid(household_id, "visit.household_id")
    dwelling_uuid = optional_uuid(dwelling_id, "visit.dwelling_id")
    building_uuid = optional_uuid(building_id, "visit.building_id")
    if not (household_uuid or dwelling_uuid or building_uuid):
        raise invalid_input(
            "grid.visit_place_required",
            "请指明走访的住户、房屋或楼幢",
            "name the household, dwelling or building visited",
            FieldViolation("visit.household_id", "one of household, dwelling, building"),
        )
    if household_uuid is not None:
        household = session.scalar(
            select(CensusHousehold).where(CensusHousehold.household_id == household_uuid)
        )
        if household is None:
            raise _unknown_place("visit.household_id", "住户")
        dwelling_uuid = dwelling_uuid or household.dwelling_id
        if dwelling_uuid != household.dwelling_id:
            raise invalid_input(
                "grid.visit_place_mismatch",
                "住户不住在所填房屋",
                "the household does not live in that dwelling",
                FieldViolation("visit.dwelling_id", "not the household's dwelling"),
            )
        building_uuid = building_uuid or household.building_id
    if dwelling_uuid is not None:
        dwelling_building = session.scalar(
            select(CensusDwelling.building_id).where(CensusDwelling.dwelling_id == dwelling_uuid)
        )
        if dwelling_building is None:
            # Dwellings reach the projection with their first household; an empty one is
            # only known after a rebuild.
            dwelling_building = session.scalar(
                select(CensusHousehold.building_id)
                .where(CensusHousehold.dwelling_id == dwelling_uuid)
                .limit(1)
            )
        if dwelling_building is None:
            raise _unknown_place("visit.dwelling_id", "房屋")
        if building_uuid is not None and building_uuid != dwelling_building:
            raise invalid_input(
                "grid.visit_place_mismatch",
                "房屋不在所填楼幢",
                "the dwelling is not in that building",
                FieldViolation("visit.building_id", "not the dwelling's building"),
            )
        building_uuid = dwelling_building
    assert building_uuid is not None
    if (
        session.scalar(
            select(CensusBuilding.building_id).where(CensusBuilding.building_id == building_uuid)
        )
        is None
    ):
        raise _unknown_place("visit.building_id", "楼幢")
    member: Member | None
    if member_id:
        member = session.scalar(
            select(Member).where(Member.id == parse_uuid(member_id, "visit.member_id"))
        )
        if member is None:
            raise invalid_input(
                "grid.member_not_found",
                "走访人不是本社区的网格成员",
                f"no member {member_id} in this community",
                FieldViolation("visit.member_id", "not a member"),
            )
    else:
        member = session.scalars(
            select(Member)
            .where(Member.account_subject == principal.subject)
            .order_by(Member.created_at)
        ).first()
    covering = session.execute(
        select(Coverage.micro_grid_id, MicroGrid.grid_id)
        .join(MicroGrid, MicroGrid.id == Coverage.micro_grid_id)
        .where(Coverage.building_id == building_uuid)
    ).first()
    visit = Visit(
        member_id=member.id if member else None,
        visitor_subject=principal.subject,
        visitor_name=member.name if member else principal.username,
        visited_at=_visited_at(visited_at, datetime.now(UTC)),
        building_id=building_uuid,
        dwelling_id=dwelling_uuid,
        household_id=household_uuid,
        micro_grid_id=covering[0] if covering else None,
        grid_id=covering[1] if covering else None,
        findings=required_text(findings, "visit.findings", "走访情况", 2000),
        follow_up=optional_text(follow_up, "visit.follow_up", "后续跟进", 2000),
        case_id=optional_text(case_id, "visit.case_id", "事件编号", 100) or None,
    )
    session.add(visit)
    session.flush()
    emit(
        session,
        tenant,
        visit.id,
        events_pb2.VisitRecorded(
            tenant=tenant_ref(tenant),
            visit_id=str(visit.id),
            member_id=str(visit.member_id or ""),
            building_id=str(visit.building_id),
            household_id=str(visit.household_id or ""),
            micro_grid_id=str(visit.micro_grid_id or ""),
            grid_id=str(visit.grid_id or ""),
            case_id=visit.case_id or "",
            visited_at=visit.visited_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        ),
    )
    return visit


def list_visits(
    session: Session,
    *,
    only_grids: Collection[uuid.UUID] | None,
    grid_id: str,
    micro_grid_id: str,
    building_id: str,
    household_id: str,
    member_id: str,
    since: datetime | None,
    until: datetime | None,
    page: Page,
) -> Sequence[Visit]:
    """Newest first. ``only_grids``: a grid worker's own grids (None: every visit)."""
    query = select(Visit).order_by(Visit.visited_at.desc(), Visit.id.desc())
    if only_grids is not None:
        query = query.where(Visit.grid_id.in_(list(only_grids)))
    if grid_id:
        query = query.where(Visit.grid_id == get_grid(session, grid_id).id)
    if micro_grid_id:
        query = query.where(Visit.micro_grid_id == get_micro_grid(session, micro_grid_id).id)
    if building_id:
        query = query.where(Visit.building_id == parse_uuid(building_id, "building_id"))
    if household_id:
        query = query.where(Visit.household_id == parse_uuid(household_id, "household_id"))
    if member_id:
        query = query.where(Visit.member_id == parse_uuid(member_id, "member_id"))
    if since is not None:
        query = query.where(Visit.visited_at >= since)
    if until is not None:
        query = query.where(Visit.visited_at < until)
    if (after := sort_key(page, datetime.fromisoformat, uuid.UUID)) is not None:
        query = query.where(tuple_(Visit.visited_at, Visit.id) < after)
    return session.scalars(query.limit(page.size + 1)).all()
