"""Case deadlines in working time: a working-time calendar per tenant.

A category's handling deadline is N working hours or N working days (DOMAIN.md "Cases").
Working days are Monday to Friday, minus holidays, plus adjusted working days (调休: a weekend
day on which people work). Working hours are one or more daily periods in the tenant's wall
clock (default 08:30–12:00 and 13:30–17:30, Asia/Shanghai).

Rules, chosen so that a street and its communities count deadlines the same way:

- N working hours: the clock runs only inside working periods; a case dispatched at night or
  at lunch starts counting at the next working period. A deadline that lands exactly at the
  end of a period is that instant (17:30), not the next morning.
- N working days: the day of the start instant does not count (民法典 第二百零一条: 开始的当日
  不计入); the deadline is the end of the last working period of the N-th working day after it.
- Suspension (缓办) stops the clock: the working time a case spends suspended before its
  deadline pushes the deadline forward by the same working time; while a suspension that began
  before the deadline is still open, the case cannot become overdue. A suspension that begins
  after the deadline has passed does not excuse the delay.

All instants must be timezone-aware; arithmetic is done in UTC, so a configurable timezone with
daylight saving would still count real elapsed time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from shequ_kit.errors import DomainError, FieldViolation, invalid_input

SHANGHAI = ZoneInfo("Asia/Shanghai")
SATURDAY = 5
DEFAULT_WORKING_HOURS: tuple[tuple[time, time], ...] = (
    (time(8, 30), time(12, 0)),
    (time(13, 30), time(17, 30)),
)


class DeadlineUnit(StrEnum):
    WORKING_HOURS = "working_hours"
    WORKING_DAYS = "working_days"


def _dates(first: date, last: date) -> frozenset[date]:
    return frozenset(first + timedelta(days=n) for n in range((last - first).days + 1))


@dataclass(frozen=True)
class HolidayTable:
    """Holidays (days off, even on a weekday) and adjusted working days (调休上班的周末)."""

    holidays: frozenset[date] = frozenset()
    adjusted_working_days: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        both = sorted(self.holidays & self.adjusted_working_days)
        if both:
            raise invalid_input(
                "cases.holiday_conflict",
                f"{both[0].isoformat()} 不能既是节假日又是调休工作日",
                f"{both[0].isoformat()} cannot be both a holiday and an adjusted working day",
                FieldViolation("adjusted_working_days", both[0].isoformat()),
            )
        weekdays = sorted(d for d in self.adjusted_working_days if d.weekday() < SATURDAY)
        if weekdays:
            # A weekday is a working day anyway; listing one is almost surely a typo.
            raise invalid_input(
                "cases.adjusted_day_not_weekend",
                f"调休工作日 {weekdays[0].isoformat()} 不是周末",
                f"adjusted working day {weekdays[0].isoformat()} is not a weekend day",
                FieldViolation("adjusted_working_days", weekdays[0].isoformat()),
            )

    def merged(self, other: HolidayTable) -> HolidayTable:
        """This table plus a tenant's own days (a local holiday, a local 调休)."""
        return HolidayTable(
            self.holidays | other.holidays,
            self.adjusted_working_days | other.adjusted_working_days,
        )


# 国务院办公厅关于2026年部分节假日安排的通知（2025-11-04，新华社发布）. Only 2026: other years
# count weekends alone until a tenant adds the next notice's days (HolidayTable.merged).
CN_OFFICIAL_2026 = HolidayTable(
    holidays=(
        _dates(date(2026, 1, 1), date(2026, 1, 3))  # 元旦
        | _dates(date(2026, 2, 15), date(2026, 2, 23))  # 春节
        | _dates(date(2026, 4, 4), date(2026, 4, 6))  # 清明节
        | _dates(date(2026, 5, 1), date(2026, 5, 5))  # 劳动节
        | _dates(date(2026, 6, 19), date(2026, 6, 21))  # 端午节
        | _dates(date(2026, 9, 25), date(2026, 9, 27))  # 中秋节
        | _dates(date(2026, 10, 1), date(2026, 10, 7))  # 国庆节
    ),
    adjusted_working_days=frozenset(
        {
            date(2026, 1, 4),
            date(2026, 2, 14),
            date(2026, 2, 28),
            date(2026, 5, 9),
            date(2026, 9, 20),
            date(2026, 10, 10),
        }
    ),
)


@dataclass(frozen=True)
class Suspension:
    """A period during which the case was suspended (缓办); ``end`` None: still suspended."""

    start: datetime
    end: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.start, "suspension.start")
        if self.end is not None:
            require_aware(self.end, "suspension.end")
            if self.end < self.start:
                raise invalid_input(
                    "cases.invalid_suspension",
                    "缓办结束时间早于开始时间",
                    "a suspension cannot end before it starts",
                    FieldViolation("suspension.end", "before suspension.start"),
                )


def require_aware(value: datetime, field_name: str) -> datetime:
    """Refuse a naive datetime: without a timezone an instant means different things per host."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise invalid_input(
            "cases.naive_datetime",
            f"{field_name} 缺少时区",
            f"{field_name} must carry a timezone",
            FieldViolation(field_name, "naive datetime"),
        )
    return value


def _invalid_working_hours(message_zh: str, message_en: str) -> DomainError:
    return invalid_input(
        "cases.invalid_working_hours",
        message_zh,
        message_en,
        FieldViolation("working_hours", message_en),
    )


@dataclass(frozen=True)
class WorkingCalendar:
    """A tenant's working time. The default is Asia/Shanghai office hours with the 2026 table."""

    working_hours: tuple[tuple[time, time], ...] = DEFAULT_WORKING_HOURS
    timezone: ZoneInfo = SHANGHAI
    holiday_table: HolidayTable = field(default_factory=lambda: CN_OFFICIAL_2026)

    def __post_init__(self) -> None:
        if not self.working_hours:
            raise _invalid_working_hours("至少需要一个工作时段", "at least one working period")
        previous_end: time | None = None
        for start, end in self.working_hours:
            if start >= end:
                raise _invalid_working_hours(
                    f"工作时段 {start:%H:%M}–{end:%H:%M} 的开始须早于结束",
                    f"working period {start:%H:%M}–{end:%H:%M} must start before it ends",
                )
            if previous_end is not None and start < previous_end:
                raise _invalid_working_hours(
                    "工作时段须按时间顺序排列且不重叠",
                    "working periods must be in order and must not overlap",
                )
            previous_end = end

    # -- days and periods ------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        if day in self.holiday_table.holidays:
            return False
        return day.weekday() < SATURDAY or day in self.holiday_table.adjusted_working_days

    def working_periods(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's working periods as UTC instants; none on a day off."""
        if not self.is_working_day(day):
            return []
        return [
            (
                datetime.combine(day, start, self.timezone).astimezone(UTC),
                datetime.combine(day, end, self.timezone).astimezone(UTC),
            )
            for start, end in self.working_hours
        ]

    def _periods_from(self, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working periods from ``instant`` on, the first one clipped to start at it."""
        day = instant.astimezone(self.timezone).date()
        while True:  # Monday–Friday always come back, so this never runs dry
            for start, end in self.working_periods(day):
                if end > instant:
                    yield max(start, instant), end
            day += timedelta(days=1)

    # -- deadlines -------------------------------------------------------------------------

    def deadline(self, start: datetime, amount: int, unit: DeadlineUnit) -> datetime:
        """The instant, in the calendar's timezone, by which a case started at ``start`` is due."""
        require_aware(start, "start")
        if amount <= 0:
            raise invalid_input(
                "cases.invalid_deadline_amount",
                "处置时限须为正整数",
                "the handling deadline must be a positive number",
                FieldViolation("amount", str(amount)),
            )
        if unit is DeadlineUnit.WORKING_HOURS:
            return self.add_working_time(start, timedelta(hours=amount))
        day = start.astimezone(self.timezone).date()
        counted = 0
        while counted < amount:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return self.working_periods(day)[-1][1].astimezone(self.timezone)

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which ``duration`` of working time has passed since ``start``."""
        require_aware(start, "start")
        remaining = duration
        if remaining <= timedelta(0):
            return start.astimezone(self.timezone)
        for period_start, period_end in self._periods_from(start.astimezone(UTC)):
            length = period_end - period_start
            if remaining <= length:
                return (period_start + remaining).astimezone(self.timezone)
            remaining -= length
        raise AssertionError("unreachable: working periods never run out")

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from ``a`` to ``b``; zero when ``b`` is not after ``a``."""
        require_aware(a, "a")
        require_aware(b, "b")
        a, b = a.astimezone(UTC), b.astimezone(UTC)
        total = timedelta(0)
        if b <= a:
            return total
        for period_start, period_end in self._periods_from(a):
            if period_start >= b:
                break
            total += min(period_end, b) - period_start
        return total

    # -- suspensions and lateness ----------------------------------------------------------

    def effective_deadline(
        self, deadline: datetime, suspensions: Iterable[Suspension] = ()
    ) -> datetime | None:
        """The deadline moved by the working time suspended before it; None while suspended."""
        require_aware(deadline, "deadline")
        moved = deadline
        for suspension in _merged(suspensions):
            if suspension.start >= moved:
                break  # suspended only after the deadline had passed: no excuse
            if suspension.end is None:
                return None
            moved = self.add_working_time(
                moved, self.working_time_between(suspension.start, suspension.end)
            )
        return moved

    def is_overdue(
        self, deadline: datetime, now: datetime, suspensions: Iterable[Suspension] = ()
    ) -> bool:
        """Past its deadline (suspended time excluded) and not closed: escalation is due."""
        require_aware(now, "now")
        moved = self.effective_deadline(deadline, suspensions)
        return moved is not None and now > moved

    def closed_on_time(
        self, deadline: datetime, closed_at: datetime, suspensions: Iterable[Suspension] = ()
    ) -> bool:
        """Closed no later than its deadline, suspended time excluded."""
        require_aware(closed_at, "closed_at")
        # Closing a suspended case ends its suspension at that instant.
        ended = [
            Suspension(s.start, closed_at if s.end is None else s.end)
            for s in suspensions
            if s.start <= closed_at
        ]
        moved = self.effective_deadline(deadline, ended)
        assert moved is not None  # every suspension has an end now
        return closed_at <= moved

    def handling_time(
        self, dispatched_at: datetime, closed_at: datetime, suspensions: Iterable[Suspension] = ()
    ) -> timedelta:
        """Working time from dispatch to close, minus the working time spent suspended."""
        total = self.working_time_between(dispatched_at, closed_at)
        for suspension in _merged(suspensions):
            end = closed_at if suspension.end is None else min(suspension.end, closed_at)
            total -= self.working_time_between(max(suspension.start, dispatched_at), end)
        return total


def _merged(suspensions: Iterable[Suspension]) -> Sequence[Suspension]:
    """Suspensions in time order with overlaps joined, so no suspended time counts twice."""
    merged: list[Suspension] = []
    for suspension in sorted(suspensions, key=lambda s: s.start):
        if merged and (merged[-1].end is None or suspension.start <= merged[-1].end):
            last = merged[-1]
            end = (
                None
                if last.end is None or suspension.end is None
                else max(last.end, suspension.end)
            )
            merged[-1] = Suspension(last.start, end)
        else:
            merged.append(suspension)
    return merged
