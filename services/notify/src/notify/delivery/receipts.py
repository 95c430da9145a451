"""SMS status reports: pulled from the provider by OutId (our delivery id) for SMS the provider
accepted, turning 'sent' into 'delivered', or 'failed' with the operator's error.

Each dispatcher remembers what it sent and asks a second later, then less and less often, for
three days. What others sent (or this process sent before a restart) is found by a sweep of the
database once a minute.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import select, update

from notify.app import NotifyCore
from notify.channels.base import Outcome, OutcomeKind
from notify.channels.sms import SmsChannel
from notify.delivery import queries
from notify.delivery.rules import DELIVERY_OUTCOMES, DispatchStats
from notify.models import DeliveryRow
from shequ_kit.db import system_scope
from shequ_kit.tenancy import TenantId, tenant_scope

FIRST_DELAY: Final = timedelta(seconds=1)
MAX_DELAY: Final = timedelta(minutes=10)
WINDOW: Final = timedelta(days=3)
SWEEP_EVERY: Final = timedelta(minutes=1)
PER_PASS: Final = 2000


class SmsReceipts:
    """The reports one dispatcher still waits for, and asking for them."""

    def __init__(
        self,
        core: NotifyCore,
        provider: SmsChannel,
        stats: DispatchStats,
        clock: Callable[[], datetime],
    ) -> None:
        self.core, self.provider, self.stats, self.clock = core, provider, stats, clock
        # (ask at, tenant, delivery id, sent at), roughly in the order they come due.
        self._waiting: deque[tuple[datetime, str, uuid.UUID, datetime]] = deque()
        self._known: set[uuid.UUID] = set()
        self._lock = threading.Lock()
        self._next_sweep = datetime.min.replace(tzinfo=UTC)

    def expect(self, tenant_id: str, delivery_id: uuid.UUID, sent_at: datetime) -> None:
        """The provider accepted this SMS: ask for its report soon."""
        with self._lock:
            if delivery_id in self._known:
                return
            self._known.add(delivery_id)
            self._waiting.append((sent_at + FIRST_DELAY, tenant_id, delivery_id, sent_at))

    def collect(self) -> int:
        """Ask for the reports that are due; returns how many deliveries they settled."""
        now = self.clock()
        if now >= self._next_sweep:
            self._sweep(now)
        due: list[tuple[datetime, str, uuid.UUID, datetime]] = []
        with self._lock:
            for _ in range(len(self._waiting)):
                entry = self._waiting.popleft()
                if entry[0] <= now and len(due) < PER_PASS:
                    due.append(entry)
                else:
                    self._waiting.append(entry)
        if not due:
            return 0
        reports = self.provider.receipts([delivery_id for _, _, delivery_id, _ in due])
        by_tenant: dict[str, list[tuple[uuid.UUID, Outcome]]] = {}
        with self._lock:
            for ask_at, tenant_id, delivery_id, sent_at in due:
                report = reports.get(delivery_id)
                if report is not None:
                    by_tenant.setdefault(tenant_id, []).append((delivery_id, report))
                    self._known.discard(delivery_id)
                elif now - sent_at < WINDOW:
                    wait = min(MAX_DELAY, max(FIRST_DELAY, (ask_at - sent_at) * 2))
                    self._waiting.append((now + wait, tenant_id, delivery_id, sent_at))
                else:
                    self._known.discard(delivery_id)  # no report in three days: it stays sent
        for tenant_id, settled in by_tenant.items():
            self._apply(TenantId(tenant_id), settled, now)
        return sum(len(s) for s in by_tenant.values())

    def _apply(
        self, tenant: TenantId, settled: Sequence[tuple[uuid.UUID, Outcome]], now: datetime
    ) -> None:
        delivered = [i for i, o in settled if o.kind is OutcomeKind.DELIVERED]
        failed = [
            {"id": i, "reason": o.reason} for i, o in settled if o.kind is not OutcomeKind.DELIVERED
        ]
        with tenant_scope(tenant), self.core.sessions.begin() as session:
            if delivered:
                session.execute(
                    update(DeliveryRow)
                    .where(DeliveryRow.id.in_(delivered), DeliveryRow.state == "sent")
                    .values(state="delivered", delivered_at=now)
                    .execution_options(synchronize_session=False)
                )
            if failed:
                session.execute(queries.FAIL_SENT, failed)
        self.stats.add(delivered=len(delivered), failed=len(failed))
        DELIVERY_OUTCOMES.labels("sms", "delivered").inc(len(delivered))
        DELIVERY_OUTCOMES.labels("sms", "failed").inc(len(failed))

    def _sweep(self, now: datetime) -> None:
        """Reports still owed for SMS sent before this dispatcher started (or by another)."""
        self._next_sweep = now + SWEEP_EVERY
        with system_scope(), self.core.sessions() as session:
            owed = session.execute(
                select(DeliveryRow.tenant_id, DeliveryRow.id, DeliveryRow.sent_at)
                .where(
                    DeliveryRow.state == "sent",
                    DeliveryRow.channel == "sms",
                    DeliveryRow.sent_at > now - WINDOW,
                )
                .order_by(DeliveryRow.sent_at)
                .limit(PER_PASS * 5)
            ).all()
        for tenant_id, delivery_id, sent_at in owed:
            self.expect(tenant_id, delivery_id, sent_at or now)
