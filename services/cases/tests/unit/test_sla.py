"""Case deadlines count working time only: nights, lunch, weekends and holidays do not run the
clock, an adjusted working Saturday does, and suspended time is given back."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from cases.sla import (
    CN_OFFICIAL_2026,
    SHANGHAI,
    DeadlineUnit,
    HolidayTable,
    Suspension,
    WorkingCalendar,
)
from shequ_kit.errors import DomainError

HOURS = DeadlineUnit.WORKING_HOURS
DAYS = DeadlineUnit.WORKING_DAYS
CALENDAR = WorkingCalendar()  # 08:30–12:00, 13:30–17:30 Asia/Shanghai, official 2026 days
WEEKENDS_ONLY = WorkingCalendar(holiday_table=HolidayTable())


def at(day: str, clock: str) -> datetime:
    """A Shanghai wall-clock instant, as staff read it."""
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), SHANGHAI)


def test_the_weekdays_in_these_tests_are_what_the_calendar_says() -> None:
    assert date(2026, 3, 2).strftime("%a") == "Mon"
    assert date(2026, 4, 30).strftime("%a") == "Thu"
    assert date(2026, 5, 9).strftime("%a") == "Sat"


def test_lunch_break_does_not_count() -> None:
    # 11:00–12:00 is one hour, the second starts at 13:30.
    assert CALENDAR.deadline(at("2026-03-02", "11:00"), 2, HOURS) == at("2026-03-02", "14:30")


def test_the_night_does_not_count() -> None:
    assert CALENDAR.deadline(at("2026-03-02", "16:30"), 2, HOURS) == at("2026-03-03", "09:30")


def test_a_deadline_landing_on_the_end_of_the_day_stays_that_evening() -> None:
    assert CALENDAR.deadline(at("2026-03-02", "15:30"), 2, HOURS) == at("2026-03-02", "17:30")


def test_a_case_reported_on_a_saturday_night_starts_counting_on_monday_morning() -> None:
    assert CALENDAR.deadline(at("2026-03-07", "22:00"), 1, HOURS) == at("2026-03-09", "09:30")


def test_the_weekend_does_not_count() -> None:
    assert CALENDAR.deadline(at("2026-03-06", "17:00"), 1, HOURS) == at("2026-03-09", "09:00")


def test_the_labour_day_holiday_does_not_count() -> None:
    # Thursday 17:00–17:30 is half an hour; 1–5 May are off; Wednesday 6 May gives 7.5 h.
    assert CALENDAR.deadline(at("2026-04-30", "17:00"), 8, HOURS) == at("2026-05-06", "17:30")


def test_an_adjusted_working_saturday_counts() -> None:
    start = at("2026-05-08", "17:00")  # Friday; Saturday 9 May is a 调休 working day
    assert CALENDAR.deadline(start, 2, HOURS) == at("2026-05-09", "10:00")
    assert WEEKENDS_ONLY.deadline(start, 2, HOURS) == at("2026-05-11", "10:00")


def test_working_days_do_not_count_the_start_day_and_end_in_the_evening() -> None:
    assert CALENDAR.deadline(at("2026-03-06", "10:00"), 1, DAYS) == at("2026-03-09", "17:30")
    assert CALENDAR.deadline(at("2026-03-02", "07:00"), 3, DAYS) == at("2026-03-05", "17:30")


def test_working_days_skip_national_day_and_count_its_adjusted_saturday() -> None:
    # 1–7 Oct off; Thu 8 Oct is day 1, Fri 9 Oct day 2, Sat 10 Oct (调休) day 3.
    assert CALENDAR.deadline(at("2026-09-30", "09:00"), 3, DAYS) == at("2026-10-10", "17:30")


def test_working_days_across_the_spring_festival() -> None:
    # Sat 14 Feb is a working day (day 1); 15–23 Feb are off; Tue 24 Feb is day 2.
    assert CALENDAR.deadline(at("2026-02-13", "15:00"), 2, DAYS) == at("2026-02-24", "17:30")


def test_an_instant_in_another_timezone_means_the_same_moment() -> None:
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    deadline = CALENDAR.deadline(start, 1, HOURS)
    assert deadline == at("2026-03-02", "10:00")
    assert deadline.tzinfo == SHANGHAI


def test_working_time_between_skips_lunch_nights_and_weekends() -> None:
    between = CALENDAR.working_time_between
    assert between(at("2026-03-02", "11:00"), at("2026-03-02", "14:00")) == timedelta(hours=1.5)
    assert between(at("2026-03-06", "16:00"), at("2026-03-09", "10:00")) == timedelta(hours=3)
    assert between(at("2026-03-09", "10:00"), at("2026-03-06", "16:00")) == timedelta(0)


@pytest.mark.parametrize(
    "start", ["2026-03-02 07:00", "2026-03-02 12:30", "2026-04-30 16:00", "2026-05-08 17:10"]
)
def test_the_working_time_up_to_a_deadline_is_the_deadline_amount(start: str) -> None:
    begin = at(*start.split())
    for hours in (1, 4, 8, 24):
        end = CALENDAR.deadline(begin, hours, HOURS)
        assert CALENDAR.working_time_between(begin, end) == timedelta(hours=hours)


def test_a_tenant_can_set_its_own_hours_and_holidays() -> None:
    town = WorkingCalendar(
        working_hours=((time(9, 0), time(17, 0)),),
        holiday_table=CN_OFFICIAL_2026.merged(HolidayTable(holidays=frozenset({date(2026, 3, 3)}))),
    )
    # No lunch break; Tuesday 3 March is a local holiday.
    assert town.deadline(at("2026-03-02", "16:30"), 1, HOURS) == at("2026-03-04", "09:30")


def test_suspended_working_time_moves_the_deadline() -> None:
    deadline = at("2026-03-02", "17:30")
    # Suspended Monday 14:00 to Tuesday 10:00: 3.5 h + 1.5 h = 5 h of working time.
    suspended = [Suspension(at("2026-03-02", "14:00"), at("2026-03-03", "10:00"))]
    assert CALENDAR.effective_deadline(deadline, suspended) == at("2026-03-03", "15:00")
    assert not CALENDAR.is_overdue(deadline, at("2026-03-03", "14:00"), suspended)
    assert CALENDAR.is_overdue(deadline, at("2026-03-03", "15:01"), suspended)
    assert CALENDAR.is_overdue(deadline, at("2026-03-03", "14:00"))


def test_overlapping_suspensions_are_given_back_once() -> None:
    deadline = at("2026-03-02", "17:30")
    suspended = [
        Suspension(at("2026-03-02", "14:00"), at("2026-03-03", "10:00")),
        Suspension(at("2026-03-02", "15:00"), at("2026-03-03", "09:00")),
    ]
    assert CALENDAR.effective_deadline(deadline, suspended) == at("2026-03-03", "15:00")


def test_a_case_still_suspended_is_not_overdue() -> None:
    deadline = at("2026-03-02", "17:30")
    suspended = [Suspension(at("2026-03-02", "16:00"))]
    assert not CALENDAR.is_overdue(deadline, at("2026-03-20", "09:00"), suspended)


def test_suspending_after_the_deadline_does_not_excuse_the_delay() -> None:
    deadline = at("2026-03-02", "17:30")
    late = [Suspension(at("2026-03-03", "09:00"), at("2026-03-10", "09:00"))]
    assert CALENDAR.is_overdue(deadline, at("2026-03-03", "09:30"), late)
    assert not CALENDAR.closed_on_time(deadline, at("2026-03-10", "10:00"), late)


def test_a_case_closed_while_suspended_is_judged_with_the_suspension_ended_at_closing() -> None:
    deadline = at("2026-03-02", "17:30")
    still_open = [Suspension(at("2026-03-02", "17:00"))]
    assert CALENDAR.closed_on_time(deadline, at("2026-03-04", "10:00"), still_open)


def test_handling_time_excludes_suspended_working_time() -> None:
    dispatched, closed = at("2026-03-02", "09:00"), at("2026-03-03", "12:00")
    suspended = [Suspension(at("2026-03-02", "14:00"), at("2026-03-03", "10:00"))]
    # Monday 3 h + 4 h, Tuesday 3.5 h = 10.5 h; minus the 5 h suspended.
    assert CALENDAR.handling_time(dispatched, closed) == timedelta(hours=10.5)
    assert CALENDAR.handling_time(dispatched, closed, suspended) == timedelta(hours=5.5)


def test_a_naive_datetime_is_refused_naming_the_field() -> None:
    with pytest.raises(DomainError) as raised:
        CALENDAR.deadline(datetime(2026, 3, 2, 9, 0), 1, HOURS)
    assert raised.value.code == "cases.naive_datetime"
    assert [v.field for v in raised.value.field_violations] == ["start"]
    assert "时区" in raised.value.message_zh


def test_a_deadline_must_be_positive() -> None:
    with pytest.raises(DomainError) as raised:
        CALENDAR.deadline(at("2026-03-02", "09:00"), 0, DAYS)
    assert [v.field for v in raised.value.field_violations] == ["amount"]


def test_a_day_cannot_be_both_holiday_and_adjusted_working_day() -> None:
    saturday = date(2026, 3, 7)
    with pytest.raises(DomainError) as raised:
        HolidayTable(holidays=frozenset({saturday}), adjusted_working_days=frozenset({saturday}))
    assert raised.value.code == "cases.holiday_conflict"
    assert "2026-03-07" in raised.value.message_zh


def test_an_adjusted_working_day_must_be_a_weekend_day() -> None:
    with pytest.raises(DomainError) as raised:
        HolidayTable(adjusted_working_days=frozenset({date(2026, 3, 4)}))
    assert raised.value.code == "cases.adjusted_day_not_weekend"


def test_working_periods_must_be_in_order_and_not_overlap() -> None:
    with pytest.raises(DomainError) as raised:
        WorkingCalendar(working_hours=((time(13, 0), time(17, 0)), (time(8, 0), time(14, 0))))
    assert [v.field for v in raised.value.field_violations] == ["working_hours"]
    with pytest.raises(DomainError):
        WorkingCalendar(working_hours=((time(12, 0), time(8, 0)),))


def test_the_2026_table_matches_the_state_council_notice() -> None:
    holidays = CN_OFFICIAL_2026.holidays
    # 元旦 3 + 春节 9 + 清明 3 + 劳动节 5 + 端午 3 + 中秋 3 + 国庆 7 days.
    assert len(holidays) == 33
    assert {date(2026, 2, 15), date(2026, 2, 23), date(2026, 10, 7)} <= holidays
    assert all(day.weekday() >= 5 for day in CN_OFFICIAL_2026.adjusted_working_days)
    assert len(CN_OFFICIAL_2026.adjusted_working_days) == 6
    assert CALENDAR.is_working_day(date(2026, 1, 4))  # a Sunday, 调休
    assert not CALENDAR.is_working_day(date(2026, 1, 2))  # a Friday, 元旦
