from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notify.quiet import SHANGHAI, in_quiet_hours, next_allowed, parse_wall_time


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    """A Shanghai wall time in November 2025, as the UTC instant the dispatcher sees."""
    return datetime(2025, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


@pytest.mark.parametrize(
    ("hour", "minute", "quiet"),
    [
        (20, 59, False),
        (21, 0, True),  # the window starts at its start
        (23, 30, True),
        (0, 0, True),
        (7, 59, True),
        (8, 0, False),  # and is over at its end
        (12, 0, False),
    ],
)
def test_default_window_spans_midnight_in_shanghai(hour: int, minute: int, quiet: bool) -> None:
    assert in_quiet_hours(shanghai(20, hour, minute), "21:00", "08:00") is quiet


def test_the_window_is_read_on_shanghai_wall_time_not_utc() -> None:
    # 14:00 UTC is 22:00 in Shanghai (UTC+8, no daylight saving): quiet.
    assert in_quiet_hours(datetime(2025, 11, 20, 14, 0, tzinfo=UTC), "21:00", "08:00")
    # 23:00 UTC is 07:00 next morning in Shanghai: still quiet; 00:00 UTC is 08:00: not.
    assert in_quiet_hours(datetime(2025, 11, 20, 23, 0, tzinfo=UTC), "21:00", "08:00")
    assert not in_quiet_hours(datetime(2025, 11, 21, 0, 0, tzinfo=UTC), "21:00", "08:00")


def test_a_daytime_window_does_not_wrap() -> None:
    assert in_quiet_hours(shanghai(20, 12, 30), "12:00", "14:00")
    assert not in_quiet_hours(shanghai(20, 14, 0), "12:00", "14:00")
    assert not in_quiet_hours(shanghai(20, 23, 0), "12:00", "14:00")


def test_equal_start_and_end_means_no_quiet_hours() -> None:
    for hour in range(24):
        assert not in_quiet_hours(shanghai(20, hour), "22:00", "22:00")
    assert next_allowed(shanghai(20, 22), "22:00", "22:00") == shanghai(20, 22)


def test_evening_waits_for_tomorrow_morning() -> None:
    held = next_allowed(shanghai(20, 22, 15), "21:00", "08:00")
    assert held == shanghai(21, 8, 0)
    assert held.tzinfo == UTC
    assert held == datetime(2025, 11, 21, 0, 0, tzinfo=UTC)


def test_small_hours_wait_for_the_same_morning() -> None:
    assert next_allowed(shanghai(21, 3, 0), "21:00", "08:00") == shanghai(21, 8, 0)


def test_outside_the_window_sends_now() -> None:
    now = shanghai(20, 10, 0) + timedelta(seconds=17, microseconds=5)
    assert next_allowed(now, "21:00", "08:00") == now


def test_daytime_window_ends_the_same_day() -> None:
    assert next_allowed(shanghai(20, 12, 30), "12:00", "14:00") == shanghai(20, 14, 0)


def test_end_of_month_rolls_into_the_next_month() -> None:
    late = datetime(2025, 11, 30, 23, 0, tzinfo=SHANGHAI)
    assert next_allowed(late, "21:00", "08:00") == datetime(
        2025, 12, 1, 8, 0, tzinfo=SHANGHAI
    ).astimezone(UTC)


def test_other_zones_honour_daylight_saving() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # The night the clocks go forward (30 March 2025): 08:00 local is 06:00 UTC, not 07:00.
    night = datetime(2025, 3, 29, 23, 0, tzinfo=berlin)
    assert next_allowed(night, "21:00", "08:00", berlin) == datetime(2025, 3, 30, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["8:00", "24:00", "12:60", "1200", "", "ab:cd", "12:00:00"])
def test_malformed_wall_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_wall_time(text)
    with pytest.raises(ValueError, match="HH:MM"):
        in_quiet_hours(shanghai(20, 12), text, "08:00")


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        in_quiet_hours(datetime(2025, 11, 20, 22, 0), "21:00", "08:00")
