"""Between the three shapes of a case: the table row, the lifecycle's snapshot and the proto.

Enum words are the lifecycle's (``dispatched``, ``micro_grid`` …); the proto's enum values are
the same words upper-cased behind a prefix, so the mapping is by name and cannot drift.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from google.protobuf.timestamp_pb2 import Timestamp

from cases.lifecycle import CaseSnapshot, Level, Rating, State, TimelineEntry
from cases.models import OPEN_STATES, CaseRow, TimelineRow
from cases.sla import WorkingCalendar
from shequ.cases.v1 import cases_pb2 as pb
from shequ.cases.v1 import events_pb2 as epb
from shequ_kit.errors import FieldViolation, invalid_input


class Source(StrEnum):
    VISIT = "visit"
    PHONE = "phone"
    WECHAT_GROUP = "wechat_group"
    RESIDENT_APP = "resident_app"
    HOTLINE_12345 = "hotline_12345"
    STAFF = "staff"
    OPEN311 = "open311"


def state_pb(state: str) -> pb.CaseState.ValueType:
    """'' (before the report: a timeline's first line has no from-state) is unspecified."""
    return pb.CaseState.Value(f"CASE_STATE_{state.upper()}") if state else pb.CASE_STATE_UNSPECIFIED


def level_pb(level: str) -> pb.Level.ValueType:
    return pb.Level.Value(f"LEVEL_{level.upper()}")


def source_pb(source: str) -> pb.CaseSource.ValueType:
    return pb.CaseSource.Value(f"CASE_SOURCE_{source.upper()}")


def rating_pb(rating: str | None) -> pb.Rating.ValueType:
    return pb.Rating.Value(f"RATING_{rating.upper()}") if rating else pb.RATING_UNSPECIFIED


def source_word(value: pb.CaseSource.ValueType) -> Source | None:
    """None for unspecified (the service picks from the caller's role)."""
    if value == pb.CASE_SOURCE_UNSPECIFIED:
        return None
    try:
        return Source(pb.CaseSource.Name(value).removeprefix("CASE_SOURCE_").lower())
    except ValueError:
        raise _unknown("source", [s.value for s in Source]) from None


def state_word(value: pb.CaseState.ValueType) -> State:
    try:
        return State(pb.CaseState.Name(value).removeprefix("CASE_STATE_").lower())
    except ValueError:
        raise _unknown("states", [s.value for s in State]) from None


def level_word(value: pb.Level.ValueType) -> Level | None:
    if value == pb.LEVEL_UNSPECIFIED:
        return None
    try:
        return Level(pb.Level.Name(value).removeprefix("LEVEL_").lower())
    except ValueError:
        raise _unknown("level", [lv.value for lv in Level]) from None


def rating_word(value: pb.Rating.ValueType) -> str | None:
    if value == pb.RATING_UNSPECIFIED:
        return None
    try:
        return Rating(pb.Rating.Name(value).removeprefix("RATING_").lower()).value
    except ValueError:
        raise _unknown("rating", [r.value for r in Rating]) from None


def _unknown(field: str, allowed: list[str]) -> Exception:
    return invalid_input(
        f"cases.{field}_invalid",
        f"{field} 取值无效，可选：{'、'.join(allowed)}",
        f"{field} must be one of {', '.join(allowed)}",
        FieldViolation(field, f"one of {', '.join(allowed)}"),
    )


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


def instant(stamp: Timestamp, present: bool) -> datetime | None:
    return stamp.ToDatetime(tzinfo=UTC) if present else None


def snapshot_of(row: CaseRow) -> CaseSnapshot:
    return CaseSnapshot(
        case_id=str(row.id),
        state=State(row.state),
        reported_at=row.reported_at,
        reporter_id=row.reporter_subject,
        version=row.version,
        assignee_id=row.assignee,
        escalation_level=Level(row.level),
        deadline=row.deadline,
        dispatched_at=row.dispatched_at,
        resolved_at=row.resolved_at,
        closed_at=row.closed_at,
        suspended_since=row.suspended_since,
        suspended_total=timedelta(seconds=row.suspended_seconds),
        pending_extension_until=row.pending_extension_until,
        reopened_count=row.reopened_count,
        sent_back_count=row.sent_back_count,
        extensions=row.extensions,
        rating=Rating(row.rating) if row.rating else None,
        merged_into=str(row.merged_into) if row.merged_into else None,
    )


def store_snapshot(row: CaseRow, case: CaseSnapshot, at: datetime) -> None:
    """Write the lifecycle's new snapshot back onto the row."""
    row.state = case.state.value
    row.version = case.version
    row.assignee = case.assignee_id
    row.level = case.escalation_level.value
    row.deadline = case.deadline
    row.dispatched_at = case.dispatched_at
    row.resolved_at = case.resolved_at
    row.closed_at = case.closed_at
    if case.closed_at is not None and row.first_closed_at is None:
        row.first_closed_at = case.closed_at
    row.suspended_since = case.suspended_since
    row.suspended_seconds = int(case.suspended_total.total_seconds())
    row.pending_extension_until = case.pending_extension_until
    row.reopened_count = case.reopened_count
    row.sent_back_count = case.sent_back_count
    row.extensions = case.extensions
    row.rating = case.rating.value if case.rating else None
    row.merged_into = uuid.UUID(case.merged_into) if case.merged_into else None
    row.updated_at = at


def timeline_row(entry: TimelineEntry, *, tenant_id: str, seq: int, actor_name: str) -> TimelineRow:
    return TimelineRow(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        case_id=uuid.UUID(entry.case_id),
        seq=seq,
        at=entry.at,
        actor=entry.actor_id,
        actor_name=actor_name,
        capacity=entry.capacity.value,
        action=entry.action.value,
        from_state=entry.from_state.value,
        to_state=entry.to_state.value,
        note=entry.note,
        data=dict(entry.data),
    )


def timeline_pb(row: TimelineRow) -> pb.TimelineEntry:
    return pb.TimelineEntry(
        id=str(row.id),
        case_id=str(row.case_id),
        at=timestamp(row.at),
        actor=row.actor,
        actor_name=row.actor_name,
        capacity=row.capacity,
        action=row.action,
        from_state=state_pb(row.from_state),
        to_state=state_pb(row.to_state),
        note=row.note,
        data=row.data,
    )


# States in which a case past its deadline is late (a suspended case is not).
LATE_STATES = frozenset({"dispatched", "in_progress", "resolved", "verified"})


def is_overdue(row: CaseRow, now: datetime) -> bool:
    """Past the deadline in force and still being handled."""
    return row.deadline is not None and row.state in LATE_STATES and now > row.deadline


def case_pb(
    row: CaseRow,
    *,
    allowed_actions: tuple[str, ...],
    now: datetime,
    calendar: WorkingCalendar,
) -> pb.Case:
    seconds = 0
    if row.deadline is not None and row.state not in ("closed", "rated", "merged"):
        left = calendar.working_time_between(now, row.deadline)
        late = calendar.working_time_between(row.deadline, now)
        seconds = int((left - late).total_seconds())
    return pb.Case(
        id=str(row.id),
        tenant_id=row.tenant_id,
        number=row.number,
        category_code=row.category_code,
        category_name=row.category_name,
        title=row.title,
        description=row.description,
        source=source_pb(row.source),
        state=state_pb(row.state),
        place=pb.Place(
            complex_id=_text(row.complex_id),
            building_id=_text(row.building_id),
            dwelling_id=_text(row.dwelling_id),
            address=row.address,
            has_coordinates=row.latitude is not None,
            latitude=row.latitude or 0.0,
            longitude=row.longitude or 0.0,
        ),
        photos=row.photos,
        reporter_subject=row.reporter_subject or "",
        reporter_name=row.reporter_name,
        reporter_phone=row.reporter_phone,  # masked at rest
        assignee=row.assignee or "",
        assignee_member_id=_text(row.assignee_member_id),
        assignee_name=row.assignee_name,
        grid_id=_text(row.grid_id),
        micro_grid_id=_text(row.micro_grid_id),
        level=level_pb(row.level),
        reported_at=timestamp(row.reported_at),
        dispatched_at=timestamp(row.dispatched_at),
        deadline=timestamp(row.deadline),
        resolved_at=timestamp(row.resolved_at),
        closed_at=timestamp(row.closed_at),
        updated_at=timestamp(row.updated_at),
        overdue=is_overdue(row, now),
        seconds_to_deadline=seconds,
        pending_extension_until=timestamp(row.pending_extension_until),
        reopened_count=row.reopened_count,
        sent_back_count=row.sent_back_count,
        extensions=row.extensions,
        rating=rating_pb(row.rating),
        merged_into=_text(row.merged_into),
        allowed_actions=allowed_actions,
        version=row.version,
        suspended_since=timestamp(row.suspended_since),
        urgent=row.urgent,
    )


def facts_pb(row: CaseRow) -> epb.CaseFacts:
    """What events say about a case: ids, words and times, never what a person wrote or is."""
    return epb.CaseFacts(
        case_id=str(row.id),
        number=row.number,
        category_code=row.category_code,
        category_name=row.category_name,
        state=state_pb(row.state),
        level=level_pb(row.level),
        building_id=_text(row.building_id),
        complex_id=_text(row.complex_id),
        grid_id=_text(row.grid_id),
        micro_grid_id=_text(row.micro_grid_id),
        assignee=row.assignee or "",
        assignee_member_id=_text(row.assignee_member_id),
        reporter_subject=row.reporter_subject or "",
        deadline=timestamp(row.deadline),
        urgent=row.urgent,
        open=row.state in OPEN_STATES,
        version=row.version,
        source=source_pb(row.source),
    )


def _text(value: uuid.UUID | None) -> str:
    return str(value) if value is not None else ""
