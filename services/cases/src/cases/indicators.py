"""Case indicators over a period, from the facts of each case (ARCHITECTURE.md formulas).

Two populations, both defined by a half-open period ``[start, end)``:

- **reported**: cases created in the period. ``by_state`` counts them by their current state —
  what a street sees as "this month's cases and where they stand".
- **due**: cases whose deadline falls in the period. The deadline is the one in force (after
  approved extensions), moved by suspended working time (``WorkingCalendar.effective_deadline``);
  a case with no deadline (never dispatched, rejected, voided) or still suspended is never due.
  Every rate is computed over this one cohort, so its numerators and denominators describe the
  same cases:

  - 结案率 closure_rate = closed / due, where *closed* = due cases whose state now is closed
    (``closed_at`` set; a reopened case not closed again is not closed);
  - 按期结案率 on_time_closure_rate = closed on time / due (closed no later than the deadline);
  - 返工率 rework_rate = reopened / closed: closed due cases reopened at least once (cases, not
    reopen events, so the rate stays within 0–1);
  - 延期率 extension_rate = extended / due: due cases whose deadline was extended at least once;
  - 满意率 satisfaction_rate = satisfied ratings / ratings, over every rating the due cases
    received. Only 满意 counts as satisfied (the formula says "satisfied ratings"); 基本满意 is
    reported in ``ratings_by_word`` but not in the numerator. Every rating counts, including an
    unsatisfied one that reopened the case, so a reopen does not erase the dissatisfaction.
  - mean_handling_time: mean working time from dispatch to (final) close, suspended working
    time excluded, over the closed due cases that were dispatched.

A zero denominator gives None: "no case was due" is not "0% closed".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from cases.sla import Suspension, WorkingCalendar, require_aware
from shequ_kit.errors import FieldViolation, invalid_input


class Rating(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意


@dataclass(frozen=True)
class Period:
    """A half-open interval ``[start, end)`` of instants."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        require_aware(self.start, "period.start")
        require_aware(self.end, "period.end")
        if self.end <= self.start:
            raise invalid_input(
                "cases.invalid_period",
                "统计期的结束须晚于开始",
                "the period must end after it starts",
                FieldViolation("period.end", "not after period.start"),
            )

    def __contains__(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


@dataclass(frozen=True)
class CaseFacts:
    """What the indicators need to know about one case, read from its timeline.

    ``deadline`` is the deadline in force after approved extensions, *not* already moved by
    suspensions: those are listed in ``suspensions`` and applied here. ``closed_on_time`` may
    be given when the caller already judged it; None means judge it from the deadline.
    """

    state: str
    created_at: datetime
    dispatched_at: datetime | None = None
    deadline: datetime | None = None
    closed_at: datetime | None = None
    closed_on_time: bool | None = None
    reopened_count: int = 0
    extension_count: int = 0
    ratings: tuple[Rating, ...] = ()
    suspensions: tuple[Suspension, ...] = ()

    def __post_init__(self) -> None:
        for name in ("created_at", "dispatched_at", "deadline", "closed_at"):
            value = getattr(self, name)
            if value is not None:
                require_aware(value, name)


@dataclass(frozen=True)
class CaseIndicators:
    period: Period
    reported: int
    by_state: dict[str, int]
    due: int
    closed: int
    closed_on_time: int
    reopened: int
    extended: int
    ratings: int
    satisfied_ratings: int
    ratings_by_word: dict[Rating, int] = field(default_factory=dict)
    closure_rate: float | None = None  # 结案率
    on_time_closure_rate: float | None = None  # 按期结案率
    rework_rate: float | None = None  # 返工率
    extension_rate: float | None = None  # 延期率
    satisfaction_rate: float | None = None  # 满意率
    mean_handling_time: timedelta | None = None


def ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def case_indicators(
    cases: Iterable[CaseFacts], period: Period, calendar: WorkingCalendar
) -> CaseIndicators:
    """The indicators of the cases reported and due in ``period`` (see the module docstring)."""
    facts = list(cases)
    reported = [case for case in facts if case.created_at in period]
    due = [case for case in facts if _is_due(case, period, calendar)]
    closed = [case for case in due if case.closed_at is not None]
    on_time = [case for case in closed if _was_on_time(case, calendar)]
    reopened = [case for case in closed if case.reopened_count > 0]
    extended = [case for case in due if case.extension_count > 0]
    ratings = [rating for case in due for rating in case.ratings]
    satisfied = ratings.count(Rating.SATISFIED)
    handling = [
        calendar.handling_time(case.dispatched_at, case.closed_at, case.suspensions)
        for case in closed
        if case.dispatched_at is not None and case.closed_at is not None
    ]
    return CaseIndicators(
        period=period,
        reported=len(reported),
        by_state=dict(Counter(case.state for case in reported)),
        due=len(due),
        closed=len(closed),
        closed_on_time=len(on_time),
        reopened=len(reopened),
        extended=len(extended),
        ratings=len(ratings),
        satisfied_ratings=satisfied,
        ratings_by_word={word: ratings.count(word) for word in Rating},
        closure_rate=ratio(len(closed), len(due)),
        on_time_closure_rate=ratio(len(on_time), len(due)),
        rework_rate=ratio(len(reopened), len(closed)),
        extension_rate=ratio(len(extended), len(due)),
        satisfaction_rate=ratio(satisfied, len(ratings)),
        mean_handling_time=sum(handling, timedelta(0)) / len(handling) if handling else None,
    )


def _is_due(case: CaseFacts, period: Period, calendar: WorkingCalendar) -> bool:
    if case.deadline is None:
        return False
    suspensions = case.suspensions
    if case.closed_at is not None:
        # Closing ends any suspension still open, so a closed case always has a due date.
        closed_at = case.closed_at
        suspensions = tuple(
            Suspension(s.start, closed_at if s.end is None else s.end)
            for s in suspensions
            if s.start <= closed_at
        )
    moved = calendar.effective_deadline(case.deadline, suspensions)
    return moved is not None and moved in period


def _was_on_time(case: CaseFacts, calendar: WorkingCalendar) -> bool:
    if case.closed_on_time is not None:
        return case.closed_on_time
    assert case.deadline is not None  # only due cases are judged, and they have a deadline
    assert case.closed_at is not None
    return calendar.closed_on_time(case.deadline, case.closed_at, case.suspensions)
