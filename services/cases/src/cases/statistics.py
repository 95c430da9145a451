"""Case statistics from the cases and their timelines: one cohort per period (``indicators``),
for the tenant as a whole and per community, grid, category or month.

The facts of each case come from its row (state, deadline in force, dispatch and close times,
counters) and its timeline (every rating given, every suspension), so a rating that reopened a
case still counts and suspended time is left out of the handling time.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from cases.indicators import CaseFacts, CaseIndicators, Period, Rating, case_indicators
from cases.models import OPEN_STATES, CaseRow, TimelineRow
from cases.records import is_overdue, state_pb, timestamp
from cases.sla import SHANGHAI, Suspension, WorkingCalendar
from shequ.cases.v1 import cases_pb2 as pb
from shequ_kit.errors import FieldViolation, invalid_input

MAX_PERIOD = timedelta(days=400)


@dataclass(frozen=True)
class Fact:
    """One case as statistics see it: its grouping keys and its indicator facts."""

    tenant_id: str
    grid_id: str
    category_code: str
    category_name: str
    facts: CaseFacts
    open: bool
    overdue: bool


def period_of(request: pb.GetStatisticsRequest, now: datetime) -> Period:
    """The request's period; the current Asia/Shanghai month by default."""
    if request.HasField("start") and request.HasField("end"):
        start = request.start.ToDatetime(tzinfo=UTC)
        end = request.end.ToDatetime(tzinfo=UTC)
    elif request.HasField("start") or request.HasField("end"):
        raise invalid_input(
            "cases.period_invalid",
            "请同时给出统计期的开始和结束",
            "give both start and end, or neither (the current month)",
            FieldViolation(
                "end" if request.HasField("start") else "start", "required with the other"
            ),
        )
    else:
        start, end = month_bounds(now)
    period = Period(start, end)
    if end - start > MAX_PERIOD:
        raise invalid_input(
            "cases.period_invalid",
            "统计期最长400天",
            f"the period may span at most {MAX_PERIOD.days} days",
            FieldViolation("end", f"at most {MAX_PERIOD.days} days after start"),
        )
    return period


def month_bounds(instant: datetime) -> tuple[datetime, datetime]:
    local = instant.astimezone(SHANGHAI)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start.astimezone(UTC), end.astimezone(UTC)


def months(period: Period) -> list[Period]:
    found, cursor = [], month_bounds(period.start)[0]
    while cursor < period.end:
        start, end = month_bounds(cursor)
        found.append(Period(max(start, period.start), min(end, period.end)))
        cursor = end
    return found


def load_facts(session: Session, period: Period, now: datetime) -> list[Fact]:
    """Cases reported or due in the period (the ORM scope limits them to the tenant's subtree),
    with their ratings and suspensions from the timeline."""
    rows = list(
        session.scalars(
            select(CaseRow).where(
                or_(
                    and_(CaseRow.reported_at >= period.start, CaseRow.reported_at < period.end),
                    and_(CaseRow.deadline >= period.start, CaseRow.deadline < period.end),
                    # Still suspended: its deadline will move, it is counted as reported only.
                    CaseRow.suspended_since.is_not(None),
                )
            )
        )
    )
    by_case: dict[uuid.UUID, list[TimelineRow]] = defaultdict(list)
    ids = [row.id for row in rows]
    for chunk in range(0, len(ids), 5000):
        for entry in session.scalars(
            select(TimelineRow)
            .where(
                TimelineRow.case_id.in_(ids[chunk : chunk + 5000]),
                TimelineRow.action.in_(("rate", "suspend", "resume")),
            )
            .order_by(TimelineRow.case_id, TimelineRow.seq)
        ):
            by_case[entry.case_id].append(entry)
    return [_fact(row, by_case[row.id], now) for row in rows]


def _fact(row: CaseRow, entries: Sequence[TimelineRow], now: datetime) -> Fact:
    ratings: list[Rating] = []
    suspensions: list[Suspension] = []
    opened: datetime | None = None
    for entry in entries:
        if entry.action == "rate" and entry.data.get("rating"):
            ratings.append(Rating(entry.data["rating"]))
        elif entry.action == "suspend":
            opened = entry.at
        elif entry.action == "resume" and opened is not None:
            suspensions.append(Suspension(opened, entry.at))
            opened = None
    if opened is not None:
        suspensions.append(Suspension(opened))
    closed = row.state in ("closed", "rated")
    facts = CaseFacts(
        state=row.state,
        created_at=row.reported_at,
        dispatched_at=row.dispatched_at,
        # The deadline in force already includes past suspensions (moved on resume), so only an
        # open suspension is passed on: it keeps the case from being due.
        deadline=row.deadline,
        closed_at=row.closed_at if closed else None,
        closed_on_time=(
            row.closed_at <= row.deadline
            if closed and row.closed_at is not None and row.deadline is not None
            else None
        ),
        reopened_count=row.reopened_count,
        extension_count=row.extensions,
        ratings=tuple(ratings),
        suspensions=tuple(s for s in suspensions if s.end is None),
    )
    return Fact(
        tenant_id=row.tenant_id,
        grid_id=str(row.grid_id) if row.grid_id else "",
        category_code=row.category_code,
        category_name=row.category_name,
        facts=facts,
        open=row.state in OPEN_STATES,
        overdue=is_overdue(row, now),
    )


def indicators_pb(
    key: str, label: str, found: CaseIndicators, facts: Iterable[Fact]
) -> pb.Indicators:
    listed = list(facts)
    message = pb.Indicators(
        key=key,
        label=label,
        reported=found.reported,
        by_state=[
            pb.StateCount(state=state_pb(state), count=count)
            for state, count in sorted(found.by_state.items())
        ],
        due=found.due,
        closed=found.closed,
        closed_on_time=found.closed_on_time,
        reopened=found.reopened,
        extended=found.extended,
        ratings=found.ratings,
        satisfied_ratings=found.satisfied_ratings,
        basically_satisfied_ratings=found.ratings_by_word.get(Rating.BASICALLY_SATISFIED, 0),
        unsatisfied_ratings=found.ratings_by_word.get(Rating.UNSATISFIED, 0),
        mean_handling_seconds=(
            int(found.mean_handling_time.total_seconds()) if found.mean_handling_time else 0
        ),
        open=sum(1 for f in listed if f.open),
        overdue=sum(1 for f in listed if f.overdue),
    )
    for name in (
        "closure_rate",
        "on_time_closure_rate",
        "rework_rate",
        "extension_rate",
        "satisfaction_rate",
    ):
        value = getattr(found, name)
        if value is not None:
            setattr(message, name, value)
            setattr(message, f"has_{name}", True)
    return message


def statistics(
    facts: list[Fact],
    period: Period,
    calendar: WorkingCalendar,
    grouping: pb.StatisticsGrouping.ValueType,
) -> pb.GetStatisticsResponse:
    def summary(
        key: str, label: str, members: list[Fact], within: Period = period
    ) -> pb.Indicators:
        found = case_indicators((f.facts for f in members), within, calendar)
        return indicators_pb(key, label, found, members)

    response = pb.GetStatisticsResponse(
        start=timestamp(period.start), end=timestamp(period.end), total=summary("", "合计", facts)
    )
    if grouping == pb.STATISTICS_GROUPING_MONTH:
        for month in months(period):
            label = f"{month.start.astimezone(SHANGHAI):%Y-%m}"
            response.groups.append(summary(label, label, facts, month))
        return response
    keyed: dict[pb.StatisticsGrouping.ValueType, Callable[[Fact], tuple[str, str]]] = {
        pb.STATISTICS_GROUPING_COMMUNITY: lambda f: (f.tenant_id, f.tenant_id),
        pb.STATISTICS_GROUPING_GRID: lambda f: (f.grid_id, f.grid_id or "未划入网格"),
        pb.STATISTICS_GROUPING_CATEGORY: lambda f: (f.category_code, f.category_name),
    }
    if grouping in keyed:
        groups: dict[tuple[str, str], list[Fact]] = defaultdict(list)
        for fact in facts:
            groups[keyed[grouping](fact)].append(fact)
        for (key, label), members in sorted(groups.items()):
            response.groups.append(summary(key, label, members))
    return response
