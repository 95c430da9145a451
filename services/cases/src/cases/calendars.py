"""Each tenant's working-time calendar: the official holiday table, plus the days its street
(for all its communities) and the tenant itself add. Deadlines are counted in it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cases.models import CalendarRow
from cases.sla import CN_OFFICIAL_2026, HolidayTable, WorkingCalendar
from shequ.cases.v1 import cases_pb2 as pb
from shequ_kit.errors import DomainError, ErrorKind, FieldViolation, invalid_input
from shequ_kit.tenancy import TenantId, tenant_scope

MAX_DAYS = 400


def _table(row: CalendarRow | None) -> HolidayTable:
    if row is None:
        return HolidayTable()
    return HolidayTable(frozenset(row.holidays), frozenset(row.adjusted_working_days))


def calendar_for(
    sessions: sessionmaker[Session], session: Session, tenant: TenantId
) -> WorkingCalendar:
    """The calendar in force for ``tenant``: official days, then ancestors', then its own."""
    table = CN_OFFICIAL_2026
    for ancestor in tenant.ancestors():  # root first: lower levels override
        with tenant_scope(ancestor), sessions() as other:
            table = _merge(table, _table(other.get(CalendarRow, ancestor.value)))
    table = _merge(table, _table(session.get(CalendarRow, tenant.value)))
    return WorkingCalendar(holiday_table=table)


def _merge(base: HolidayTable, extra: HolidayTable) -> HolidayTable:
    """A lower level overrides: a day it lists as a holiday is no longer a working day above."""
    holidays = (base.holidays - extra.adjusted_working_days) | extra.holidays
    working = (base.adjusted_working_days - extra.holidays) | extra.adjusted_working_days
    return HolidayTable(holidays, working)


def calendar_pb(sessions: sessionmaker[Session], session: Session, tenant: TenantId) -> pb.Calendar:
    own = session.get(CalendarRow, tenant.value)
    effective = calendar_for(sessions, session, tenant).holiday_table
    return pb.Calendar(
        holidays=[d.isoformat() for d in sorted(own.holidays)] if own else [],
        adjusted_working_days=(
            [d.isoformat() for d in sorted(own.adjusted_working_days)] if own else []
        ),
        effective_holidays=[d.isoformat() for d in sorted(effective.holidays)],
        effective_adjusted_working_days=[
            d.isoformat() for d in sorted(effective.adjusted_working_days)
        ],
        version=own.version if own else 0,
    )


def put_calendar(session: Session, tenant: TenantId, request: pb.PutCalendarRequest) -> None:
    holidays = _days(request.holidays, "holidays")
    working = _days(request.adjusted_working_days, "adjusted_working_days")
    HolidayTable(holidays, working)  # refuses a day listed twice, or a weekday as 调休
    row = session.scalars(
        select(CalendarRow).where(CalendarRow.tenant_id == tenant.value).with_for_update()
    ).first()
    current = row.version if row is not None else 0
    if request.expected_version != current:
        raise DomainError(
            "cases.stale_version",
            "日历已被他人修改，请刷新后重试",
            f"the calendar is at version {current}, not {request.expected_version}",
            ErrorKind.CONFLICT,
            params={"current_version": str(current)},
        )
    if row is None:
        session.add(
            CalendarRow(
                tenant_id=tenant.value,
                holidays=sorted(holidays),
                adjusted_working_days=sorted(working),
                version=1,
            )
        )
    else:
        row.holidays = sorted(holidays)
        row.adjusted_working_days = sorted(working)
        row.version += 1
    session.flush()


def _days(values: Iterable[str], field: str) -> frozenset[date]:
    days: set[date] = set()
    listed = list(values)
    if len(listed) > MAX_DAYS:
        raise invalid_input(
            "cases.calendar_invalid",
            f"最多可设{MAX_DAYS}天",
            f"{field}: at most {MAX_DAYS} days",
            FieldViolation(field, f"at most {MAX_DAYS} days"),
        )
    for index, value in enumerate(listed):
        try:
            days.add(date.fromisoformat(str(value)))
        except ValueError:
            raise invalid_input(
                "cases.calendar_invalid",
                f"日期格式不正确：{value}（应为 2026-10-01）",
                f"{field}[{index}] is not an ISO date: {value!r}",
                FieldViolation(f"{field}[{index}]", "an ISO date such as 2026-10-01"),
            ) from None
    return frozenset(days)
