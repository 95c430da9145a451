"""Delivery statistics: per community, Asia/Shanghai day and channel, how many deliveries went
out, were delivered, failed and were read, with totals per channel and the number of notices
created in the period. A street asking gets a row per community of its own (the session's
scope is the street's subtree).

A delivery counts on the day it went out, or (never sent: failed before) the day it was
written. Unreachable deliveries have no channel and are counted on the notice, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from notify.models import DeliveryRow, NoticeRow
from notify.quiet import SHANGHAI
from notify.vocabulary import CHANNELS, value_of
from shequ.notify.v1 import notify_pb2 as pb
from shequ_kit.errors import FieldViolation, invalid_input

DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 400
# Went out: the channel accepted it, whether or not a receipt came back.
WENT_OUT: Final = ("sent", "delivered")


@dataclass(frozen=True)
class Period:
    first: date  # inclusive, Asia/Shanghai
    last: date  # inclusive

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), SHANGHAI).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), SHANGHAI).astimezone(UTC)


def _day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError as error:
        raise invalid_input(
            "notify.period_invalid",
            "日期格式应为 YYYY-MM-DD",
            f"{field} must be a date YYYY-MM-DD",
            FieldViolation(field, "YYYY-MM-DD"),
        ) from error


def period_of(request: pb.GetStatisticsRequest, now: datetime) -> Period:
    """The request's days; the last 30 (today included) by default."""
    today = now.astimezone(SHANGHAI).date()
    last = _day(request.to_date, "to_date") if request.to_date else today
    first = (
        _day(request.from_date, "from_date")
        if request.from_date
        else last - timedelta(days=DEFAULT_DAYS - 1)
    )
    if first > last or (last - first).days >= MAX_DAYS:
        raise invalid_input(
            "notify.period_invalid",
            f"开始日期不能晚于结束日期，统计期最长{MAX_DAYS}天",
            f"from_date must not be after to_date, and the period at most {MAX_DAYS} days",
            FieldViolation("from_date", f"on or before to_date, at most {MAX_DAYS} days before"),
        )
    return Period(first, last)


def statistics(session: Session, period: Period) -> pb.GetStatisticsResponse:
    """The tenant's (or a street's communities') figures over ``period``."""
    moment = func.coalesce(DeliveryRow.sent_at, DeliveryRow.created_at)
    day = func.date(func.timezone(SHANGHAI.key, moment))
    grouped = session.execute(
        select(
            DeliveryRow.tenant_id,
            day,
            DeliveryRow.channel,
            func.count(case((DeliveryRow.state.in_(WENT_OUT), 1))),
            func.count(case((DeliveryRow.state == "delivered", 1))),
            func.count(case((DeliveryRow.state == "failed", 1))),
            func.count(DeliveryRow.read_at),
        )
        .where(
            DeliveryRow.channel.is_not(None),
            moment >= period.start,
            moment < period.end,
        )
        .group_by(DeliveryRow.tenant_id, day, DeliveryRow.channel)
        .order_by(DeliveryRow.tenant_id, day, DeliveryRow.channel)
    )
    answer = pb.GetStatisticsResponse()
    for tenant_id, on, channel, sent, delivered, failed, read in grouped:
        answer.rows.append(
            pb.StatisticsRow(
                tenant_id=tenant_id,
                day=on.isoformat(),
                channel=value_of(CHANNELS, channel),  # type: ignore[arg-type]
                sent=sent,
                delivered=delivered,
                failed=failed,
                read=read,
            )
        )
        total = answer.totals[channel]
        total.sent += sent
        total.delivered += delivered
        total.failed += failed
        total.read += read
    answer.notices = int(
        session.scalar(
            select(func.count())
            .select_from(NoticeRow)
            .where(NoticeRow.created_at >= period.start, NoticeRow.created_at < period.end)
        )
        or 0
    )
    return answer
