"""The end of a notice: when none of its deliveries is queued or being sent any more it is
'sent', its NoticeSent fact (with the counts) goes into the outbox in the same transaction, and
the clear addresses of its deliveries are gone. A notice cancelled while held for quiet hours
has its waiting deliveries failed instead of sent."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Final

from sqlalchemy import select, update

from notify import notices
from notify.app import NotifyCore
from notify.delivery import queries
from notify.delivery.rules import CANCELLED_REASON, DispatchStats
from notify.models import ACTIVE_NOTICE_STATES, PENDING_DELIVERY_STATES, DeliveryRow, NoticeRow
from shequ.notify.v1 import events_pb2 as epb
from shequ_kit.db import system_scope
from shequ_kit.outbox import fact, publish, tenant_ref
from shequ_kit.tenancy import TenantId, tenant_scope

log = logging.getLogger(__name__)
NOTICES_PER_PASS: Final = 20


def fail_cancelled(core: NotifyCore) -> int:
    """Deliveries of a notice cancelled while held for quiet hours will not go out."""
    with system_scope(), core.sessions() as session:
        found = session.execute(queries.CANCELLED_WITH_PENDING).all()
    for tenant_id, notice_id in found:
        with tenant_scope(tenant_id), core.sessions.begin() as session:
            session.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.notice_id == notice_id,
                    DeliveryRow.state.in_(PENDING_DELIVERY_STATES),
                )
                .values(
                    state="failed",
                    failure_reason=CANCELLED_REASON,
                    address=None,
                    lease_until=None,
                    next_attempt_at=None,
                )
                .execution_options(synchronize_session=False)
            )
    return len(found)


def finish_notices(core: NotifyCore, clock: Callable[[], datetime], stats: DispatchStats) -> int:
    with system_scope(), core.sessions() as session:
        found = session.execute(queries.FINISHABLE, {"limit": NOTICES_PER_PASS}).all()
    return sum(finish(core, TenantId(t), notice_id, clock(), stats) for notice_id, t in found)


def finish(
    core: NotifyCore, tenant: TenantId, notice_id: uuid.UUID, now: datetime, stats: DispatchStats
) -> int:
    """Finish one notice if nothing of it is pending (1), else leave it (0)."""
    with tenant_scope(tenant), core.sessions.begin() as session:
        notice = session.scalars(
            select(NoticeRow)
            .where(NoticeRow.id == notice_id, NoticeRow.state.in_(ACTIVE_NOTICE_STATES))
            .with_for_update(skip_locked=True)
        ).first()
        pending = session.scalar(
            select(DeliveryRow.id)
            .where(
                DeliveryRow.notice_id == notice_id,
                DeliveryRow.state.in_(PENDING_DELIVERY_STATES),
            )
            .limit(1)
        )
        if notice is None or pending is not None:
            return 0
        notice.state = "sent"
        notice.finished_at = now
        notice.started_at = notice.started_at or now
        notice.version += 1
        session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.notice_id == notice_id, DeliveryRow.address.is_not(None))
            .values(address=None)
            .execution_options(synchronize_session=False)
        )
        counts = notices.counts(session, [notice_id])[notice_id]
        publish(
            session,
            fact(
                epb.NoticeSent(
                    tenant=tenant_ref(tenant),
                    notice_id=str(notice_id),
                    counts=counts,
                    finished_at=notices.timestamp(now),
                ),
                source=notices.SOURCE,
                topic=core.settings.events_topic,
                tenant=tenant,
                aggregate_id=notice_id,
            ),
        )
    stats.add(finished_notices=1)
    log.info(
        "notice sent",
        extra={
            "fields": {
                "notice_id": str(notice_id),
                "recipients": counts.recipients,
                "sent": counts.sent,
                "delivered": counts.delivered,
                "failed": counts.failed,
                "unreachable": counts.unreachable,
            }
        },
    )
    return 1
