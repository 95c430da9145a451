"""Quiet hours: the nightly window in which non-urgent notices wait (default 21:00–08:00).

Pure functions over wall-clock times of the tenant's zone (Asia/Shanghai). A window whose start
is after its end spans midnight; start equal to end means the tenant has no quiet hours. The
window is half-open: quiet from ``start`` up to, not including, ``end``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_START = "21:00"
DEFAULT_END = "08:00"
_WALL_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_wall_time(text: str) -> time:
    """``"HH:MM"`` (24-hour, two digits each) as a time; ValueError for anything else."""
    match = _WALL_TIME.match(text.strip())
    if match is None:
        raise ValueError(f"not a wall time HH:MM: {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


def in_quiet_hours(now: datetime, start: str, end: str, zone: ZoneInfo = SHANGHAI) -> bool:
    """Whether ``now`` (aware, any zone) falls in the quiet window of ``zone``'s wall clock."""
    begins, ends = parse_wall_time(start), parse_wall_time(end)
    if begins == ends:
        return False
    wall = _aware(now).astimezone(zone).time().replace(tzinfo=None)
    if begins < ends:
        return begins <= wall < ends
    return wall >= begins or wall < ends


def next_allowed(now: datetime, start: str, end: str, zone: ZoneInfo = SHANGHAI) -> datetime:
    """The first moment at or after ``now`` outside the quiet window, in UTC.

    ``now`` itself (as UTC) when it is not quiet; otherwise the window's end on the right day.
    """
    instant = _aware(now).astimezone(UTC)
    if not in_quiet_hours(instant, start, end, zone):
        return instant
    ends = parse_wall_time(end)
    local = instant.astimezone(zone)
    day = local.date()
    # Inside the window the end is later today, unless the window spans midnight and we are in
    # its evening part: then it is tomorrow morning.
    if local.time().replace(tzinfo=None) >= ends:
        day += timedelta(days=1)
    return datetime.combine(day, ends, tzinfo=zone).astimezone(UTC)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("quiet hours need an aware datetime (UTC), not a naive one")
    return moment
