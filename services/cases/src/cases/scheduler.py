"""The escalation scheduler: its own run mode, any number of replicas.

Each pass takes the cases whose watch time has come (``case.escalate_at``), locked with
``FOR UPDATE SKIP LOCKED`` so replicas never take the same case, and for each: tells the
community once per deadline that it is overdue (CaseOverdue), then escalates it one rung up the
ladder with the lifecycle's ``escalate`` as the system. Escalating moves the watch a full
handling period on, so a case climbs one level per period and exactly once per level.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cases import records
from cases.handling import HANDLING, Desk, next_rung, step
from cases.lifecycle import Action, Actor, State
from cases.models import CaseRow
from shequ.cases.v1 import events_pb2 as epb
from shequ_kit.db import system_scope
from shequ_kit.errors import DomainError
from shequ_kit.outbox import fact, publish, tenant_ref
from shequ_kit.tenancy import TenantId, tenant_scope

log = logging.getLogger(__name__)
SCHEDULER = Actor.scheduler()
SCHEDULER_NAME = "系统（超期自动上报）"
RETRY = timedelta(minutes=5)


def run_once(
    desk: Desk, sessions: sessionmaker[Session], *, batch: int, now: datetime | None = None
) -> int:
    """One pass; returns how many cases it looked at."""
    now = now or datetime.now(UTC)
    with system_scope(), sessions.begin() as session:
        due = session.scalars(
            select(CaseRow)
            .where(CaseRow.escalate_at <= now)
            .order_by(CaseRow.escalate_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        for row in due:
            with tenant_scope(row.tenant_id):
                try:
                    with session.begin_nested():
                        watch(desk, session, row, now)
                except DomainError as error:
                    # Grid unreachable or the lifecycle refused: look again next period.
                    log.warning("case not escalated: %s", error, extra={"case_id": str(row.id)})
                    row.escalate_at = now + RETRY
    return len(due)


def watch(desk: Desk, session: Session, row: CaseRow, now: datetime) -> None:
    tenant = TenantId(row.tenant_id)
    if State(row.state) not in HANDLING or row.deadline is None:
        row.escalate_at = None  # not being handled any more: nothing to watch
        return
    if now > row.deadline and row.overdue_notified_for != row.deadline:
        row.overdue_notified_for = row.deadline
        publish(
            session,
            fact(
                epb.CaseOverdue(
                    tenant=tenant_ref(tenant),
                    case=records.facts_pb(row),
                    overdue_since=records.timestamp(row.deadline),
                ),
                source="/shequ/cases",
                topic=desk.topic,
                tenant=tenant,
                aggregate_id=row.id,
            ),
        )
    assignment = next_rung(desk, row, tenant)
    if assignment is None:
        row.escalate_at = None  # at the street already: told, nowhere higher to go
        return
    calendar = desk.reference.calendar(session, tenant)
    step(
        desk,
        session,
        row,
        Action.ESCALATE,
        actor=SCHEDULER,
        actor_name=SCHEDULER_NAME,
        now=now,
        calendar=calendar,
        note="超过处置时限，自动上报上一级",
        assignment=assignment,
        reason="overdue",
    )
    log.info(
        "case escalated",
        extra={"case_id": str(row.id), "tenant": row.tenant_id, "level": row.level},
    )


def run_forever(
    desk: Desk,
    sessions: sessionmaker[Session],
    stop: threading.Event,
    *,
    interval_s: float,
    batch: int,
) -> None:
    while not stop.is_set():
        try:
            busy = run_once(desk, sessions, batch=batch) == batch
        except Exception:  # a pass that failed is retried on the next tick
            log.exception("escalation pass failed")
            busy = False
        if not busy:
            stop.wait(interval_s)
