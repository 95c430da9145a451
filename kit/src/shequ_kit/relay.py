"""The outbox relay: sends committed outbox rows to Kafka, at least once, in id order.

Each round claims a batch of unsent rows (``FOR UPDATE SKIP LOCKED``, so a second replica
skips them instead of waiting), produces them with an idempotent producer (``acks=all``),
waits for every acknowledgement, then marks the acknowledged rows sent and commits. If the
relay dies after producing and before committing, the rows are still unsent and the next round
produces them again: consumers deduplicate by event id (``shequ_kit.consumer``).

If Kafka is unreachable the rows simply stay pending; the relay logs a warning and tries again
on its next round.

Between rounds the relay waits for the notice every transaction that publishes sends on commit
(``shequ_kit.outbox.RELAY_CHANNEL``), so an event leaves within milliseconds instead of at the
next poll; the poll stays as the fallback for a lost listener connection.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError
from sqlalchemy import Engine, MetaData, Row, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from shequ_kit.cloudevents import event_headers, record_key
from shequ_kit.consumer import RECONNECT_BACKOFF_MAX_MS
from shequ_kit.db import (
    DEFAULT_DATABASE_TIMEOUTS,
    DatabaseTimeouts,
    make_engine,
    system_scope,
    tenant_sessionmaker,
)
from shequ_kit.lifecycle import Closeable, stop_on_signals
from shequ_kit.metrics import OUTBOX_LAG, OUTBOX_PENDING, OUTBOX_PUBLISHED
from shequ_kit.outbox import RELAY_CHANNEL, outbox_table
from shequ_kit.pglisten import ChannelListener
from shequ_kit.tenancy import TenantId

log = logging.getLogger(__name__)

_OUTBOX = outbox_table(MetaData())
# Waiting this much longer than the producer's delivery timeout, by which it has either an
# acknowledgement or an expiry for every record, leaves no record in flight when a round ends.
_SETTLE_MARGIN_S = 5.0


class OutboxRelay(Closeable):
    """Publishes one service's outbox. Run one per service (``relay`` run mode)."""

    def __init__(
        self,
        engine: Engine,
        *,
        service: str,
        bootstrap_servers: str,
        batch_size: int = 100,
        ack_timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.service = service
        self.batch_size = batch_size
        self._bootstrap_servers = bootstrap_servers
        self._ack_timeout_s = ack_timeout_s
        self._connect_timeout_ms = int(connect_timeout_s * 1000)
        # The kit's sessions set the RLS settings; under system_scope() that admits every tenant.
        self._sessions = tenant_sessionmaker(engine)
        self._producer: Any = None  # created on first use, so a relay starts while Kafka is down

    def close(self) -> None:
        """Flush and close the Kafka producer (what it cannot deliver stays pending)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=self._ack_timeout_s)
            except KafkaError as error:
                log.warning("outbox relay stopped with events in flight (still pending): %r", error)

    def run_once(self) -> int:
        """Publish one batch of pending events; returns how many were acknowledged and marked."""
        with system_scope(), self._sessions.begin() as session:
            published = self.publish_pending(session)
            if published:
                session.execute(
                    update(_OUTBOX).where(_OUTBOX.c.id.in_(published)).values(sent_at=func.now())
                )
            self._measure_backlog(session)
        return len(published)

    def run_forever(
        self, stop: threading.Event, idle_sleep_s: float = 1.0, wake_dsn: str | None = None
    ) -> None:
        """Publish until ``stop`` is set. When a round leaves nothing to do, wait for the next
        outbox notice on ``wake_dsn``'s database (or at most ``idle_sleep_s``)."""
        wake = threading.Event()
        listener = ChannelListener(wake_dsn, RELAY_CHANNEL, wake.set) if wake_dsn else None
        if listener is not None:
            listener.start()
        try:
            while not stop.is_set():
                wake.clear()  # before the round: a notice arriving during it is not lost
                try:
                    published = self.run_once()
                except OperationalError as error:
                    # PostgreSQL is unreachable: wait and retry instead of crash-looping.
                    log.warning("outbox relay cannot reach its database: %s", error.orig)
                    published = 0
                except KafkaError as error:
                    # The round handles the producer's failures; whatever else the client raises
                    # must not end the relay either. The round's rows stay pending.
                    log.warning("outbox relay: Kafka client failed; events stay pending: %r", error)
                    self._discard_producer()
                    published = 0
                if published < self.batch_size:
                    wake.wait(idle_sleep_s)
        finally:
            if listener is not None:
                listener.close()

    def publish_pending(self, session: Session) -> list[int]:
        """Claim a batch of unsent rows in ``session``'s transaction and produce them.

        Returns the outbox ids that Kafka acknowledged, without marking them: that is the second
        half of ``run_once``, kept apart so a crash between the two halves can be staged.
        The caller's transaction holds the claimed rows' locks until it ends.
        """
        rows = session.execute(
            select(_OUTBOX)
            .where(_OUTBOX.c.sent_at.is_(None))
            .order_by(_OUTBOX.c.id)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return []
        producer = self._ensure_producer()
        if producer is None:
            return []
        sent: list[tuple[Row[Any], Any]] = []
        try:
            for row in rows:
                sent.append((row, self._send(producer, row)))
        except KafkaError as error:  # no metadata within max_block_ms: Kafka is away
            log.warning(
                "outbox relay could not hand %d event(s) to Kafka; they stay pending: %r",
                len(rows) - len(sent),
                error,
            )
        self._settle(producer)
        outcomes = [(row, self._failure_of(future)) for row, future in sent]
        acknowledged = [row for row, failure in outcomes if failure is None]
        failures = [failure for _, failure in outcomes if failure is not None]
        if failures:
            log.warning(
                "outbox relay: Kafka did not acknowledge %d event(s); they stay pending: %r",
                len(failures),
                failures[0],
            )
        if len(acknowledged) < len(rows):
            # A producer that failed may hold half-sent batches; start the next round afresh.
            self._discard_producer()
        for row in acknowledged:
            OUTBOX_PUBLISHED.labels(self.service, row.topic).inc()
        return [row.id for row in acknowledged]

    def _send(self, producer: Any, row: Row[Any]) -> Any:
        tenant = TenantId(row.tenant_id)
        return producer.send(
            row.topic,
            key=record_key(tenant, row.aggregate_id).encode("utf-8"),
            value=row.payload,
            headers=event_headers(
                event_id=row.event_id,
                event_type=row.event_type,
                source=row.source,
                subject=row.aggregate_id,
                time=row.occurred_at,
                tenant=tenant,
            ),
        )

    def _settle(self, producer: Any) -> None:
        """Wait until every record sent has its outcome; the producer's delivery timeout
        expires what Kafka does not acknowledge, so this returns within that timeout."""
        try:
            producer.flush(timeout=self._ack_timeout_s + _SETTLE_MARGIN_S)
        except KafkaError as error:
            log.warning("outbox relay: Kafka left events without an outcome: %r", error)

    def _failure_of(self, future: Any) -> KafkaError | None:
        try:
            future.get(timeout=0)  # _settle has waited already; this only reads the outcome
        except KafkaError as error:
            return error
        return None

    def _ensure_producer(self) -> Any:
        if self._producer is None:
            try:
                self._producer = KafkaProducer(
                    bootstrap_servers=self._bootstrap_servers,
                    client_id=f"shequ-{self.service}-relay",
                    enable_idempotence=True,
                    acks="all",
                    bootstrap_timeout_ms=self._connect_timeout_ms,
                    max_block_ms=self._connect_timeout_ms,
                    delivery_timeout_ms=int(self._ack_timeout_s * 1000),
                    request_timeout_ms=min(30_000, int(self._ack_timeout_s * 1000)),
                    reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
                )
            except KafkaError as error:
                log.warning("outbox relay cannot reach Kafka; events stay pending: %r", error)
                return None
        return self._producer

    def _discard_producer(self) -> None:
        """Drop a producer that failed; the next round starts with a fresh one."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            # kafka-python flushes before it closes and raises if a record is still in flight
            # (leaving its sender running); after _settle none is, so this returns at once.
            producer.close(timeout=0)
        except KafkaError as error:
            log.warning("outbox relay could not close its Kafka producer: %r", error)

    def _measure_backlog(self, session: Session) -> None:
        pending, lag_s = session.execute(
            select(
                func.count(),
                func.coalesce(
                    func.extract("epoch", func.now() - func.min(_OUTBOX.c.created_at)), 0
                ),
            ).where(_OUTBOX.c.sent_at.is_(None))
        ).one()
        OUTBOX_PENDING.labels(self.service).set(pending)
        OUTBOX_LAG.labels(self.service).set(float(lag_s))


def run_relay(
    database_url: str,
    *,
    service: str,
    bootstrap_servers: str,
    timeouts: DatabaseTimeouts = DEFAULT_DATABASE_TIMEOUTS,
    ack_timeout_s: float = 30.0,
) -> None:
    """The ``relay`` run mode of a service: publish its outbox until SIGTERM or Ctrl-C, its
    database calls bounded by ``timeouts`` and each batch's acknowledgements by
    ``ack_timeout_s`` (the service's settings pass theirs)."""
    engine = make_engine(database_url, pool_size=2, timeouts=timeouts)
    try:
        with OutboxRelay(
            engine,
            service=service,
            bootstrap_servers=bootstrap_servers,
            ack_timeout_s=ack_timeout_s,
        ) as relay:
            relay.run_forever(stop_on_signals(), wake_dsn=database_url)
    finally:
        engine.dispose()
