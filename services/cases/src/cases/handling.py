"""Reporting a case and taking actions on it: the lifecycle applied to a row, with its timeline
line, its next escalation time and its event written in the caller's transaction.

Routing happens on report: a case with a building is accepted and dispatched by the router to
whoever covers the building at the category's responsible level (``routing``); a located case
nobody covers goes to the community queue; a case without a place waits in the community's
intake (state reported) for staff to accept or reject against the acceptance standard.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from cases import lifecycle, records
from cases.lifecycle import Action, Actor, Level, State
from cases.models import CaseRow, TimelineRow
from cases.reference import Reference
from cases.routing import (
    COMMUNITY_QUEUE,
    STREET_QUEUE,
    Assignment,
    GridClient,
    assignment_at,
    member_assignee,
    queue,
)
from cases.sla import SHANGHAI, DeadlineUnit, WorkingCalendar
from shequ.cases.v1 import cases_pb2 as pb
from shequ.cases.v1 import events_pb2 as epb
from shequ_kit.checks import RequestChecks
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input, not_found
from shequ_kit.outbox import fact, publish, tenant_ref
from shequ_kit.tenancy import TenantId
from shequ_kit.tokens import Principal, Role

CHECK = RequestChecks("cases")
SOURCE = "/shequ/cases"
ROUTER = Actor("system:router", frozenset(), system=True)
ROUTER_NAME = "系统自动派遣"
# States in which the SLA clock runs and the scheduler watches the case.
HANDLING = frozenset({State.DISPATCHED, State.IN_PROGRESS})
STAFF_ROLES = (Role.COMMUNITY_STAFF, Role.STREET_ADMIN, Role.PLATFORM_ADMIN)
REPORTERS = (Role.RESIDENT, Role.GRID_WORKER, *STAFF_ROLES)
RESIDENT_SOURCES = frozenset({records.Source.RESIDENT_APP, records.Source.OPEN311})
MAX_TITLE, MAX_DESCRIPTION, MAX_ADDRESS, MAX_PHOTOS = 100, 2000, 300, 9


@dataclass(frozen=True)
class Desk:
    """What handling needs besides the session: reference data, grid, where events go."""

    reference: Reference
    grid: GridClient
    topic: str
    reopen_window: timedelta


@dataclass(frozen=True)
class Recorded:
    row: CaseRow
    entries: list[TimelineRow]


def actor_of(principal: Principal, tenant: TenantId) -> Actor:
    return Actor(principal.subject, frozenset(r for r in Role if principal.has(r, tenant)))


def display_name(principal: Principal) -> str:
    name = principal.claims.get("name") if principal.claims else None
    return str(name or principal.username)[:100]


def is_staff(principal: Principal, tenant: TenantId) -> bool:
    return any(principal.has(role, tenant) for role in STAFF_ROLES)


def sees(principal: Principal, row: CaseRow) -> bool:
    """Staff and admins see their tenant's cases; everyone else only what they reported or
    what is assigned to them."""
    if is_staff(principal, TenantId(row.tenant_id)):
        return True
    return principal.subject in (row.assignee, row.reporter_subject)


def visible_to(principal: Principal, tenant: TenantId) -> Any:
    """The same rule as ``sees``, as a SQL criterion for lists (None: no restriction)."""
    if is_staff(principal, tenant):
        return None
    return or_(CaseRow.assignee == principal.subject, CaseRow.reporter_subject == principal.subject)


def load(session: Session, principal: Principal, case_id: str, *, lock: bool) -> CaseRow:
    """A case the caller may see (not found otherwise: existence is not disclosed)."""
    query = select(CaseRow).where(CaseRow.id == CHECK.uuid(case_id, "case_id"))
    row = session.scalars(query.with_for_update() if lock else query).first()
    if row is None or not sees(principal, row):
        raise not_found("cases.case_not_found", "没有找到该案件", f"no case {case_id}")
    return row


def allowed_actions(principal: Principal, row: CaseRow) -> tuple[str, ...]:
    actor = actor_of(principal, TenantId(row.tenant_id))
    return tuple(a.value for a in lifecycle.actions_for(records.snapshot_of(row), actor))


# -- reporting ---------------------------------------------------------------------------------


def report(
    desk: Desk,
    session: Session,
    principal: Principal,
    tenant: TenantId,
    request: pb.ReportCaseRequest,
    *,
    now: datetime,
) -> Recorded:
    principal.require(tenant, *REPORTERS)
    if not tenant.is_community:
        raise invalid_input(
            "cases.report_needs_community",
            "案件属于社区，请在具体社区下上报",
            f"cases are reported in a community; {tenant} is not one",
            FieldViolation("tenant", "not a community"),
        )
    key = CHECK.optional_text(request.idempotency_key, "idempotency_key", "幂等键", 200)
    if key and (earlier := _reported_with(session, principal, key)) is not None:
        return earlier
    category = desk.reference.category(session, tenant, request.category_code.strip())
    source = _source(principal, tenant, request.source)
    staff_recording = source not in RESIDENT_SOURCES and is_staff(principal, tenant)
    place = _place(request.place)
    row = CaseRow(
        id=uuid.uuid4(),
        tenant_id=tenant.value,
        number=_next_number(session, tenant, now),
        category_code=category.code,
        category_name=category.name,
        urgent=category.urgent,
        sla_amount=category.deadline_amount,
        sla_unit=(
            DeadlineUnit.WORKING_HOURS.value
            if category.deadline_unit == pb.DEADLINE_UNIT_WORKING_HOURS
            else DeadlineUnit.WORKING_DAYS.value
        ),
        title=CHECK.required_text(request.title, "title", "标题", MAX_TITLE),
        description=CHECK.optional_text(
            request.description, "description", "描述", MAX_DESCRIPTION
        ),
        source=source.value,
        state=State.REPORTED.value,
        photos=_photos(request.photos),
        # A phone or hotline report recorded by staff has no reporting account.
        reporter_subject=None if staff_recording else principal.subject,
        reporter_name=CHECK.optional_text(request.reporter_name, "reporter_name", "姓名", 50)
        or ("" if staff_recording else display_name(principal)),
        reporter_phone=_masked_phone(request.reporter_phone),
        level=records.level_word(category.responsible_level) or Level.MICRO_GRID,
        reported_at=now,
        updated_at=now,
        idempotency_key=key or None,
        version=1,
        **place,
    )
    intake = queue(Level.COMMUNITY)
    row.assignee, row.assignee_name = intake.assignee, intake.name
    session.add(row)
    session.flush()
    first = TimelineRow(
        id=uuid.uuid4(),
        tenant_id=tenant.value,
        case_id=row.id,
        seq=1,
        at=now,
        actor=principal.subject,
        actor_name=display_name(principal),
        capacity=_reporting_capacity(principal, tenant),
        action="report",
        from_state="",
        to_state=State.REPORTED.value,
        note="",
        data={"source": source.value, "category_code": category.code},
    )
    session.add(first)
    publish(
        session,
        fact(
            epb.CaseReported(
                tenant=tenant_ref(tenant),
                case=records.facts_pb(row),
                reported_at=records.timestamp(now),
            ),
            source=SOURCE,
            topic=desk.topic,
            tenant=tenant,
            aggregate_id=row.id,
        ),
    )
    entries = [first]
    if row.building_id is not None or row.complex_id is not None or row.dwelling_id is not None:
        entries.extend(_route(desk, session, row, tenant, now))
    return Recorded(row, entries)


def _route(
    desk: Desk, session: Session, row: CaseRow, tenant: TenantId, now: datetime
) -> list[TimelineRow]:
    """The router accepts (立案) and dispatches (派遣) a located case."""
    covers, why = None, "not_covered"
    try:
        covers = desk.grid.who_covers(
            tenant,
            building_id=_text(row.building_id),
            dwelling_id=_text(row.dwelling_id),
            complex_id=_text(row.complex_id),
        )
    except DomainError:
        why = "grid_unavailable"  # the case still lands in the community queue
    if covers is not None:
        why = "covered"
        if row.building_id is None and covers.building_id:
            # A dwelling or complex resolved to the building that answers for it.
            row.building_id = uuid.UUID(covers.building_id)
    assignment = assignment_at(covers, Level(row.level))
    calendar = desk.reference.calendar(session, tenant)
    accepted = step(
        desk,
        session,
        row,
        Action.ACCEPT,
        actor=ROUTER,
        actor_name=ROUTER_NAME,
        now=now,
        calendar=calendar,
    )
    dispatched = step(
        desk,
        session,
        row,
        Action.DISPATCH,
        actor=ROUTER,
        actor_name=ROUTER_NAME,
        now=now,
        calendar=calendar,
        assignment=assignment,
        data={"routing": why},
    )
    return [accepted, dispatched]


def _text(value: uuid.UUID | None) -> str:
    return str(value) if value is not None else ""


def _reported_with(session: Session, principal: Principal, key: str) -> Recorded | None:
    row = session.scalars(select(CaseRow).where(CaseRow.idempotency_key == key)).first()
    if row is None:
        return None
    if row.reporter_subject not in (principal.subject, None) or not sees(principal, row):
        raise DomainError(
            "cases.idempotency_key_reused",
            "该幂等键已被使用，请换一个",
            "this idempotency key was used for another report",
            ErrorKind.CONFLICT,
        )
    return Recorded(row, timeline(session, row))


def _reporting_capacity(principal: Principal, tenant: TenantId) -> str:
    for role in (Role.RESIDENT, Role.GRID_WORKER, *STAFF_ROLES):
        if principal.has(role, tenant):
            return role.value
    return "reporter"


def _source(
    principal: Principal, tenant: TenantId, given: pb.CaseSource.ValueType
) -> records.Source:
    source = records.source_word(given)
    if is_staff(principal, tenant) or principal.has(Role.GRID_WORKER, tenant):
        default = records.Source.STAFF if is_staff(principal, tenant) else records.Source.VISIT
        return source or default
    # A resident reports for themself, through the app or an Open311 client.
    if source is not None and source not in RESIDENT_SOURCES:
        raise invalid_input(
            "cases.source_invalid",
            "居民上报的来源只能是居民端或 Open311",
            "a resident reports through resident_app or open311",
            FieldViolation("source", "resident_app or open311"),
        )
    return source or records.Source.RESIDENT_APP


def _place(place: pb.Place) -> dict[str, Any]:
    found: dict[str, Any] = {
        "complex_id": CHECK.optional_uuid(place.complex_id, "place.complex_id"),
        "building_id": CHECK.optional_uuid(place.building_id, "place.building_id"),
        "dwelling_id": CHECK.optional_uuid(place.dwelling_id, "place.dwelling_id"),
        "address": CHECK.optional_text(place.address, "place.address", "地址", MAX_ADDRESS),
        "latitude": None,
        "longitude": None,
    }
    if place.has_coordinates:
        if not (-90 <= place.latitude <= 90) or not (-180 <= place.longitude <= 180):
            raise invalid_input(
                "cases.place_invalid",
                "经纬度超出范围",
                "place.latitude must be within ±90 and place.longitude within ±180",
                FieldViolation("place.latitude", "latitude ±90, longitude ±180"),
            )
        found["latitude"], found["longitude"] = place.latitude, place.longitude
    return found


def _photos(photos: Any) -> list[str]:
    refs = [p.strip() for p in photos]
    if len(refs) > MAX_PHOTOS or not all(refs) or any(len(r) > 500 for r in refs):
        raise invalid_input(
            "cases.photos_invalid",
            f"照片最多{MAX_PHOTOS}张，且不能为空",
            f"photos: at most {MAX_PHOTOS} non-empty references of up to 500 characters",
            FieldViolation("photos", f"at most {MAX_PHOTOS} non-empty references"),
        )
    return refs


def _masked_phone(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    if phone.strip() and not 5 <= len(digits) <= 15:
        raise invalid_input(
            "cases.reporter_phone_invalid",
            "联系电话格式不正确",
            "reporter_phone must have 5 to 15 digits",
            FieldViolation("reporter_phone", "5 to 15 digits"),
        )
    if not digits:
        return ""
    return (
        f"{digits[:3]}****{digits[-4:]}"
        if len(digits) >= 7
        else "*" * (len(digits) - 2) + digits[-2:]
    )


def _next_number(session: Session, tenant: TenantId, now: datetime) -> str:
    day = now.astimezone(SHANGHAI).date()
    last = session.execute(
        text(
            "INSERT INTO case_number (tenant_id, day, last) VALUES (:tenant, :day, 1) "
            "ON CONFLICT (tenant_id, day) DO UPDATE SET last = case_number.last + 1 "
            "RETURNING last"
        ),
        {"tenant": tenant.value, "day": day},
    ).scalar_one()
    return f"{day:%Y%m%d}-{last:04d}"


# -- actions -----------------------------------------------------------------------------------


def act(
    desk: Desk,
    session: Session,
    principal: Principal,
    tenant: TenantId,
    request: pb.TakeActionRequest,
    *,
    now: datetime,
) -> Recorded:
    if not principal.can_access(tenant):
        principal.require(tenant, *REPORTERS)
    action = _action(request.action)
    row = load(session, principal, request.case_id, lock=True)
    case_tenant = TenantId(row.tenant_id)
    calendar = desk.reference.calendar(session, case_tenant)
    assignment = None
    if action in (Action.DISPATCH, Action.REASSIGN) or (
        action is Action.ESCALATE and (request.assignee or request.assignee_member_id)
    ):
        assignment = _chosen_assignee(desk, case_tenant, row, request, action)
    elif action is Action.ESCALATE:
        assignment = next_rung(desk, row, case_tenant)
    if action is Action.MERGE:
        _check_merge_target(session, row, request.into_case_id)
    entry = step(
        desk,
        session,
        row,
        action,
        actor=actor_of(principal, case_tenant),
        actor_name=display_name(principal),
        now=now,
        calendar=calendar,
        expected_version=request.expected_version,
        note=request.note,
        assignment=assignment,
        until=records.instant(request.until, request.HasField("until")),
        rating=records.rating_word(request.rating),
        reason=request.reason or None,
        photos=tuple(request.photos),
        into_case_id=request.into_case_id or None,
    )
    return Recorded(row, [entry])


def _action(word: str) -> Action:
    try:
        return Action(word.strip())
    except ValueError:
        allowed = ", ".join(a.value for a in Action)
        raise invalid_input(
            "cases.action_invalid",
            f"未知的操作：{word or '（空）'}",
            f"action must be one of {allowed}",
            FieldViolation("action", f"one of {allowed}"),
        ) from None


def _chosen_assignee(
    desk: Desk, tenant: TenantId, row: CaseRow, request: pb.TakeActionRequest, action: Action
) -> Assignment:
    if request.assignee_member_id:
        member = desk.grid.member(
            tenant, str(CHECK.uuid(request.assignee_member_id, "assignee_member_id"))
        )
        level = Level.MICRO_GRID if member.micro_grid_id else Level.GRID
        return Assignment(
            assignee=member_assignee(member),
            level=level,
            member_id=member.id,
            name=member.name,
            grid_id=member.grid_id,
            micro_grid_id=member.micro_grid_id,
        )
    given = request.assignee.strip()
    if given == COMMUNITY_QUEUE:
        return queue(Level.COMMUNITY)
    if given == STREET_QUEUE:
        return queue(Level.STREET)
    if not given or len(given) > 200:
        raise invalid_input(
            "cases.assignee_member_id_invalid",
            "请指定承办人（网格成员或受理队列）",
            "assignee_member_id or assignee is required for this action",
            FieldViolation("assignee_member_id", "a grid member id, or assignee"),
        )
    # An account named directly: the level stays where the case is.
    return Assignment(given, Level(row.level))


def next_rung(desk: Desk, row: CaseRow, tenant: TenantId) -> Assignment | None:
    """Who answers one level up (None at street level: the lifecycle refuses the step)."""
    rung = lifecycle.LADDER.index(Level(row.level))
    if rung + 1 >= len(lifecycle.LADDER):
        return None
    level = lifecycle.LADDER[rung + 1]
    covers = None
    if level is Level.GRID and row.building_id is not None:
        try:
            covers = desk.grid.who_covers(tenant, building_id=str(row.building_id))
        except DomainError:
            covers = None
    found = assignment_at(covers, level)
    # One rung at a time even when nobody answers at the next one: the queue of the level.
    if found.level is not level:
        found = dataclasses.replace(queue(level, covers), level=level)
    return found


def _check_merge_target(session: Session, row: CaseRow, into: str) -> None:
    if not into:
        return  # the lifecycle names the missing field
    target = session.scalars(
        select(CaseRow).where(
            CaseRow.id == CHECK.uuid(into, "into_case_id"), CaseRow.tenant_id == row.tenant_id
        )
    ).first()
    if target is None or target.state in ("merged", "voided", "rejected"):
        raise invalid_input(
            "cases.into_case_id_invalid",
            "要并入的案件不存在或已结束",
            "into_case_id must name a live case of the same community",
            FieldViolation("into_case_id", "a live case of the same community"),
        )


def step(
    desk: Desk,
    session: Session,
    row: CaseRow,
    action: Action,
    *,
    actor: Actor,
    actor_name: str,
    now: datetime,
    calendar: WorkingCalendar,
    expected_version: int | None = None,
    note: str = "",
    assignment: Assignment | None = None,
    until: datetime | None = None,
    rating: str | None = None,
    reason: str | None = None,
    photos: tuple[str, ...] = (),
    into_case_id: str | None = None,
    data: dict[str, str] | None = None,
) -> TimelineRow:
    """Apply one lifecycle action to ``row`` and write everything it implies."""
    before = records.snapshot_of(row)
    deadline = None
    if action is Action.DISPATCH and before.deadline is None:
        deadline = calendar.deadline(now, row.sla_amount, DeadlineUnit(row.sla_unit))
    transition = lifecycle.apply(
        before,
        action,
        actor,
        at=now,
        expected_version=before.version if expected_version is None else expected_version,
        note=note,
        assignee_id=assignment.assignee if assignment else None,
        deadline=deadline,
        level=assignment.level if assignment else None,
        photos=photos,
        rating=rating,
        reason=reason,
        until=until,
        into_case_id=into_case_id,
        reopen_window=desk.reopen_window,
    )
    after = transition.case
    previous_assignee = row.assignee or ""
    from_level = records.level_pb(row.level)
    # Suspended working time before the deadline moves it (sla.py's rule).
    if (
        action is Action.RESUME
        and before.suspended_since is not None
        and row.deadline is not None
        and before.suspended_since < row.deadline
    ):
        paused = calendar.working_time_between(before.suspended_since, now)
        after = _with_deadline(after, calendar.add_working_time(row.deadline, paused))
    records.store_snapshot(row, after, now)
    if assignment is not None and action in (Action.DISPATCH, Action.REASSIGN, Action.ESCALATE):
        row.assignee_member_id = uuid.UUID(assignment.member_id) if assignment.member_id else None
        row.assignee_name = assignment.name
        row.grid_id = uuid.UUID(assignment.grid_id) if assignment.grid_id else row.grid_id
        if assignment.micro_grid_id:
            row.micro_grid_id = uuid.UUID(assignment.micro_grid_id)
    if action is Action.REASSIGN and assignment is not None:
        row.level = assignment.level.value if assignment.level else row.level
    row.escalate_at = _next_watch(row, before, action, now, calendar)
    entry_data = dict(transition.entry.data) | (data or {})
    if assignment is not None and assignment.name:
        entry_data["assignee_name"] = assignment.name
    entry = records.timeline_row(
        lifecycle.TimelineEntry(
            case_id=transition.entry.case_id,
            at=transition.entry.at,
            actor_id=transition.entry.actor_id,
            capacity=transition.entry.capacity,
            action=transition.entry.action,
            from_state=transition.entry.from_state,
            to_state=transition.entry.to_state,
            note=transition.entry.note,
            data=entry_data,
        ),
        tenant_id=row.tenant_id,
        seq=row.version,
        actor_name=actor_name,
    )
    session.add(entry)
    tenant = TenantId(row.tenant_id)
    publish(
        session,
        fact(
            epb.CaseActionTaken(
                tenant=tenant_ref(tenant),
                case=records.facts_pb(row),
                action=action.value,
                from_state=records.state_pb(before.state.value),
                to_state=records.state_pb(row.state),
                actor=actor.id,
                capacity=entry.capacity,
                at=records.timestamp(now),
                from_level=from_level,
                rating=records.rating_pb(row.rating if action is Action.RATE else None),
                previous_assignee=(
                    previous_assignee if action in (Action.REASSIGN, Action.ESCALATE) else ""
                ),
                rating_requested=action is Action.CLOSE and row.reporter_subject is not None,
            ),
            source=SOURCE,
            topic=desk.topic,
            tenant=tenant,
            aggregate_id=row.id,
        ),
    )
    return entry


def _with_deadline(case: lifecycle.CaseSnapshot, deadline: datetime) -> lifecycle.CaseSnapshot:
    return dataclasses.replace(case, deadline=deadline)


def handling_period_end(row: CaseRow, start: datetime, calendar: WorkingCalendar) -> datetime:
    """One more handling period of the case's SLA from ``start`` (the next rung's time)."""
    return calendar.deadline(start, row.sla_amount, DeadlineUnit(row.sla_unit))


def _next_watch(
    row: CaseRow,
    before: lifecycle.CaseSnapshot,
    action: Action,
    now: datetime,
    calendar: WorkingCalendar,
) -> datetime | None:
    """When the scheduler next looks at the case: at the deadline, then one handling period
    per level climbed; never while it is not being handled."""
    if State(row.state) not in HANDLING or row.deadline is None:
        return None
    if action is Action.ESCALATE:
        return handling_period_end(row, now, calendar)
    if action is Action.EXTEND_DEADLINE:
        return max(row.deadline, row.escalate_at or row.deadline)
    if row.escalate_at is not None and before.state in HANDLING:
        return row.escalate_at  # still handled: the watch stands
    # (Re-)entering handling: dispatch, reopen, send back, resume.
    return row.deadline if row.deadline > now else handling_period_end(row, now, calendar)


def timeline(session: Session, row: CaseRow) -> list[TimelineRow]:
    return list(
        session.scalars(
            select(TimelineRow).where(TimelineRow.case_id == row.id).order_by(TimelineRow.seq)
        )
    )
