"""The case indicators of a month, on a small set of cases whose figures are worked out by hand
from the definitions (结案率 = closed / due, 按期结案率 = closed on time / due, 返工率 =
reopened / closed, 延期率 = extended / due, 满意率 = satisfied ratings / ratings)."""

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from cases.indicators import CaseFacts, Period, Rating, case_indicators
from cases.sla import SHANGHAI, Suspension, WorkingCalendar
from shequ_kit.errors import DomainError

CALENDAR = WorkingCalendar()
MARCH = Period(datetime(2026, 3, 1, tzinfo=SHANGHAI), datetime(2026, 4, 1, tzinfo=SHANGHAI))
S, B, U = Rating.SATISFIED, Rating.BASICALLY_SATISFIED, Rating.UNSATISFIED


def at(day: str, clock: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), SHANGHAI)


def case(state: str, created: str, **facts: Any) -> CaseFacts:
    return CaseFacts(state=state, created_at=at(created, "08:00"), **facts)


# Due in March, closed on time, rated satisfied.
ON_TIME = case(
    "closed",
    "2026-03-02",
    dispatched_at=at("2026-03-02", "09:00"),
    deadline=at("2026-03-03", "17:30"),
    closed_at=at("2026-03-03", "10:00"),
    ratings=(S,),
)
# Due in March, closed late after a reopen; rated unsatisfied, then basically satisfied.
REWORKED = case(
    "closed",
    "2026-03-02",
    dispatched_at=at("2026-03-02", "09:00"),
    deadline=at("2026-03-04", "17:30"),
    closed_at=at("2026-03-06", "10:00"),
    reopened_count=1,
    ratings=(U, B),
)
# Due in March (after one extension), still being handled.
EXTENDED = case(
    "in_progress",
    "2026-03-09",
    dispatched_at=at("2026-03-09", "09:00"),
    deadline=at("2026-03-10", "17:30"),
    extension_count=1,
)
# Reported in February, due and closed on time in March.
FROM_FEBRUARY = case(
    "closed",
    "2026-02-25",
    dispatched_at=at("2026-02-26", "09:00"),
    deadline=at("2026-03-02", "17:30"),
    closed_at=at("2026-03-02", "12:00"),
    ratings=(S,),
)
# Reported in March, due in April.
DUE_IN_APRIL = case(
    "dispatched",
    "2026-03-20",
    dispatched_at=at("2026-03-20", "09:00"),
    deadline=at("2026-04-03", "17:30"),
)
# Rejected: never dispatched, so never due.
REJECTED = case("rejected", "2026-03-25")
# Due on 31 March, but suspended that morning until 1 April noon: the deadline moves to April.
SUSPENDED = case(
    "in_progress",
    "2026-03-30",
    dispatched_at=at("2026-03-30", "09:00"),
    deadline=at("2026-03-31", "17:30"),
    suspensions=(Suspension(at("2026-03-31", "09:00"), at("2026-04-01", "12:00")),),
)
CASES = [ON_TIME, REWORKED, EXTENDED, FROM_FEBRUARY, DUE_IN_APRIL, REJECTED, SUSPENDED]


def test_reported_counts_are_the_cases_created_in_the_period_by_state() -> None:
    figures = case_indicators(CASES, MARCH, CALENDAR)

    assert figures.reported == 6  # all but FROM_FEBRUARY
    assert figures.by_state == {"closed": 2, "in_progress": 2, "dispatched": 1, "rejected": 1}


def test_due_cases_are_those_whose_deadline_falls_in_the_period() -> None:
    figures = case_indicators(CASES, MARCH, CALENDAR)

    # ON_TIME, REWORKED, EXTENDED, FROM_FEBRUARY; not DUE_IN_APRIL, REJECTED or SUSPENDED.
    assert figures.due == 4
    assert figures.closed == 3  # ON_TIME, REWORKED, FROM_FEBRUARY
    assert figures.closed_on_time == 2  # ON_TIME, FROM_FEBRUARY
    assert figures.reopened == 1  # REWORKED
    assert figures.extended == 1  # EXTENDED


def test_the_rates_follow_the_formulas() -> None:
    figures = case_indicators(CASES, MARCH, CALENDAR)

    due, closed = 4, 3
    assert figures.closure_rate == pytest.approx(closed / due)
    assert figures.on_time_closure_rate == pytest.approx(2 / due)
    assert figures.rework_rate == pytest.approx(1 / closed)
    assert figures.extension_rate == pytest.approx(1 / due)


def test_only_satisfied_counts_towards_satisfaction_and_every_rating_counts() -> None:
    figures = case_indicators(CASES, MARCH, CALENDAR)

    # ON_TIME S, REWORKED U then B, FROM_FEBRUARY S: 2 satisfied of 4 ratings.
    assert figures.ratings == 4
    assert figures.satisfied_ratings == 2
    assert figures.ratings_by_word == {S: 2, B: 1, U: 1}
    assert figures.satisfaction_rate == pytest.approx(2 / 4)


def test_mean_handling_time_is_working_time_from_dispatch_to_close() -> None:
    figures = case_indicators(CASES, MARCH, CALENDAR)

    monday = 3 + 4  # 09:00–12:00 and 13:30–17:30
    full_day = 3.5 + 4
    on_time = monday + 1.5  # Mon 2 March 09:00 → Tue 10:00
    reworked = monday + 3 * full_day + 1.5  # Mon 2 March 09:00 → Fri 10:00
    # Thu 26 Feb 09:00 → Mon 2 March 12:00, across Sat 28 Feb, an adjusted working day.
    from_february = monday + full_day + full_day + 3.5
    expected = timedelta(hours=(on_time + reworked + from_february) / 3)
    assert figures.mean_handling_time == expected


def test_a_given_on_time_flag_is_trusted() -> None:
    judged = CaseFacts(
        state="closed",
        created_at=at("2026-03-02", "08:00"),
        deadline=at("2026-03-03", "17:30"),
        closed_at=at("2026-03-05", "10:00"),  # late by the clock, judged on time by the caller
        closed_on_time=True,
    )
    assert case_indicators([judged], MARCH, CALENDAR).on_time_closure_rate == 1.0


def test_no_cases_gives_no_rates_rather_than_zero() -> None:
    figures = case_indicators([], MARCH, CALENDAR)

    assert figures.due == 0
    assert figures.closure_rate is None
    assert figures.on_time_closure_rate is None
    assert figures.rework_rate is None
    assert figures.extension_rate is None
    assert figures.satisfaction_rate is None
    assert figures.mean_handling_time is None


def test_due_but_none_closed_is_zero_percent_closed_and_no_rework_rate() -> None:
    figures = case_indicators([EXTENDED], MARCH, CALENDAR)

    assert figures.closure_rate == 0.0
    assert figures.extension_rate == 1.0
    assert figures.rework_rate is None
    assert figures.satisfaction_rate is None


def test_a_period_must_end_after_it_starts_and_carry_a_timezone() -> None:
    with pytest.raises(DomainError) as raised:
        Period(MARCH.end, MARCH.start)
    assert raised.value.code == "cases.invalid_period"
    with pytest.raises(DomainError) as raised:
        Period(datetime(2026, 3, 1), MARCH.end)
    assert [v.field for v in raised.value.field_violations] == ["period.start"]


def test_case_facts_refuse_a_naive_instant() -> None:
    with pytest.raises(DomainError) as raised:
        CaseFacts(state="closed", created_at=datetime(2026, 3, 2, 8, 0))
    assert [v.field for v in raised.value.field_violations] == ["created_at"]
