"""Idempotent event consumers: each event is applied at most once per consumer group.

For every record the consumer opens ONE transaction in the event's tenant scope, records
``(group, event id)`` in ``processed_events`` and runs the handler. A redelivered event finds
its id already recorded and changes nothing; a failed handler rolls back the record with it.
Offsets are committed by hand, after processing, so a crash means redelivery, never loss.

A handler that keeps failing is retried with exponential backoff, then its record goes to the
dead-letter topic (``<topic>.dlq`` by default) with ``x-error``, ``x-consumer-group`` and
``x-attempts`` headers, and the consumer moves on. Records that are not valid Shequ
CloudEvents go there at once. If PostgreSQL or Kafka is unreachable nothing is dead-lettered:
the record is fetched again later.

A service declares the table next to its models (``processed_events_table(Base.metadata)``)
and runs consumers in its ``consume`` run mode::

    with EventConsumer(group="notify", topics=["shequ.cases.v1"], handler=on_case_event,
                       sessions=tenant_sessionmaker(engine), bootstrap_servers=...) as consumer:
        consumer.run_forever(stop)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, Final

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata
from kafka.errors import KafkaError
from sqlalchemy import Column, DateTime, MetaData, String, Table, Uuid, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shequ_kit.cloudevents import InvalidEventError, ReceivedEvent, received_event
from shequ_kit.lifecycle import Closeable
from shequ_kit.metrics import CONSUMER_EVENTS, CONSUMER_LAG
from shequ_kit.tenancy import tenant_scope

PROCESSED_EVENTS_TABLE: Final = "processed_events"
ERROR_HEADER: Final = "x-error"
GROUP_HEADER: Final = "x-consumer-group"
ATTEMPTS_HEADER: Final = "x-attempts"
ORIGIN_HEADERS: Final = ("x-original-topic", "x-original-partition", "x-original-offset")
_MAX_ERROR_LENGTH = 2000
# kafka-python waits ever longer between reconnection attempts, up to 30 s by default: a broker
# back after an outage would wait that long for its clients. Java's clients stop at 1 s.
RECONNECT_BACKOFF_MAX_MS: Final = 2000

EventHandler = Callable[[Session, ReceivedEvent], None]

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    """What became of a record; also the ``outcome`` label of ``CONSUMER_EVENTS``."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    RETRIED = "retried"
    DEAD_LETTERED = "dead_lettered"


def processed_events_table(metadata: MetaData) -> Table:
    """The ``processed_events`` table in ``metadata`` (later calls return the same table)."""
    existing = metadata.tables.get(PROCESSED_EVENTS_TABLE)
    if existing is not None:
        return existing
    return Table(
        PROCESSED_EVENTS_TABLE,
        metadata,
        Column("consumer_group", String(200), primary_key=True),
        Column("event_id", Uuid, primary_key=True),
        # Like every service table, so the same row-level security policy fits it.
        Column("tenant_id", String(200), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


_PROCESSED = processed_events_table(MetaData())


def default_dead_letter_topic(topic: str) -> str:
    """``<topic>.dlq``."""
    return f"{topic}.dlq"


class _RetryLater(Exception):  # noqa: N818 - a signal inside this module, not an error to report
    """A dependency is down: leave the record where it is and fetch it again later."""


class EventConsumer(Closeable):
    """Consumes ``topics`` as ``group``, applying each event once through ``handler``.

    The handler runs inside ``tenant_scope(event.tenant)`` with a session whose transaction
    also records the event id; it must not commit. Exceptions it raises are retried, then
    dead-lettered.
    """

    def __init__(
        self,
        *,
        group: str,
        topics: Sequence[str],
        handler: EventHandler,
        sessions: sessionmaker[Session],
        bootstrap_servers: str,
        max_attempts: int = 5,
        initial_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        dead_letter_topic: Callable[[str], str] = default_dead_letter_topic,
        auto_offset_reset: str = "earliest",
        max_poll_records: int = 100,
        send_timeout_s: float = 30.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.group = group
        self.topics = tuple(topics)
        self._handler = handler
        self._sessions = sessions
        self._max_attempts = max_attempts
        self._initial_backoff_s = initial_backoff_s
        self._max_backoff_s = max_backoff_s
        self._dead_letter_topic = dead_letter_topic
        self._max_poll_records = max_poll_records
        self._send_timeout_s = send_timeout_s
        self._stopping = threading.Event()
        self._pauses = 0  # consecutive polls that ended with a dependency down
        self._consumer: Any = KafkaConsumer(
            *self.topics,
            bootstrap_servers=bootstrap_servers,
            group_id=group,
            client_id=f"shequ-{group}",
            enable_auto_commit=False,
            auto_offset_reset=auto_offset_reset,
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        )
        send_timeout_ms = int(send_timeout_s * 1000)
        self._producer: Any = KafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=f"shequ-{group}-dlq",
            enable_idempotence=True,
            acks="all",
            max_block_ms=send_timeout_ms,
            delivery_timeout_ms=send_timeout_ms,
            request_timeout_ms=min(30_000, send_timeout_ms),
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        )

    def close(self) -> None:
        """Leave the group and close the Kafka clients (offsets are already committed)."""
        self._consumer.close(autocommit=False)
        self._producer.close(timeout=self._send_timeout_s)

    def run_forever(self, stop: threading.Event, poll_timeout_ms: int = 1000) -> None:
        """Consume until ``stop`` is set; back off while PostgreSQL or Kafka is unreachable."""
        self._stopping = stop
        while not stop.is_set():
            self.poll_once(poll_timeout_ms)
            if self._pauses:
                stop.wait(self._backoff(self._pauses))

    def poll_once(self, timeout_ms: int = 1000) -> int:
        """Fetch and process one batch; returns how many records were applied, skipped as
        duplicates or dead-lettered (their offsets are then committed)."""
        try:
            batches: dict[Any, list[Any]] = self._consumer.poll(
                timeout_ms=timeout_ms, max_records=self._max_poll_records
            )
        except KafkaError as error:
            # Kafka away (no connection, no group coordinator): nothing was fetched, so nothing
            # is lost. Poll again after the client's own reconnection wait, not a longer one.
            log.warning("consumer %s cannot reach Kafka: %r", self.group, error)
            self._stopping.wait(RECONNECT_BACKOFF_MAX_MS / 1000)
            return 0
        next_offsets: dict[Any, int] = {}
        settled = 0
        paused = False
        for partition, records in batches.items():
            for record in records:
                if paused:
                    break
                try:
                    self._settle(record)
                except _RetryLater:
                    paused = True
                    break
                next_offsets[partition] = record.offset + 1
                settled += 1
            # Records fetched but not settled must be fetched again by the next poll.
            first_unsettled = next_offsets.get(partition, records[0].offset)
            if first_unsettled <= records[-1].offset:
                self._consumer.seek(partition, first_unsettled)
        self._pauses = self._pauses + 1 if paused else 0
        self._commit(next_offsets)
        return settled

    def _settle(self, record: Any) -> None:
        """Apply, skip or dead-letter one record; raises ``_RetryLater`` to leave it unsettled."""
        try:
            event = received_event(record)
        except InvalidEventError as error:
            self._send_to_dead_letter(record, error, attempts=0)
            return
        attempt = 0
        while True:
            attempt += 1
            try:
                outcome = self._apply_once(event)
            except OperationalError as error:
                # PostgreSQL is down or the transaction was cancelled: not the event's fault.
                log.warning("consumer %s cannot reach its database: %s", self.group, error.orig)
                raise _RetryLater from error
            # Whatever the handler raises is retried, then dead-lettered: one bad event must
            # not stop the stream.
            except Exception as error:
                if attempt >= self._max_attempts:
                    self._send_to_dead_letter(record, error, attempts=attempt)
                    return
                CONSUMER_EVENTS.labels(self.group, event.topic, Outcome.RETRIED).inc()
                log.warning(
                    "consumer %s: handling event %s failed (attempt %d of %d): %r",
                    self.group,
                    event.id,
                    attempt,
                    self._max_attempts,
                    error,
                )
                if self._stopping.wait(self._backoff(attempt)):
                    raise _RetryLater from error
                continue
            CONSUMER_EVENTS.labels(self.group, event.topic, outcome).inc()
            return

    def _apply_once(self, event: ReceivedEvent) -> Outcome:
        with tenant_scope(event.tenant), self._sessions.begin() as session:
            # Recording the id first also makes a concurrent duplicate wait for this one.
            recorded = session.execute(
                insert(_PROCESSED)
                .values(consumer_group=self.group, event_id=event.id, tenant_id=event.tenant.value)
                .on_conflict_do_nothing()
                .returning(_PROCESSED.c.event_id)
            ).first()
            if recorded is None:
                return Outcome.DUPLICATE
            self._handler(session, event)
        return Outcome.APPLIED

    def _send_to_dead_letter(self, record: Any, error: Exception, *, attempts: int) -> None:
        topic = self._dead_letter_topic(record.topic)
        ours = {ERROR_HEADER, GROUP_HEADER, ATTEMPTS_HEADER, *ORIGIN_HEADERS}
        headers = [(k, v) for k, v in (record.headers or []) if k not in ours and v is not None]
        notes = {
            ERROR_HEADER: f"{type(error).__name__}: {error}"[:_MAX_ERROR_LENGTH],
            GROUP_HEADER: self.group,
            ATTEMPTS_HEADER: str(attempts),
            "x-original-topic": record.topic,
            "x-original-partition": str(record.partition),
            "x-original-offset": str(record.offset),
        }
        headers += [(k, v.encode("utf-8")) for k, v in notes.items()]
        value = record.value if record.value is not None or record.key is not None else b""
        try:
            self._producer.send(topic, key=record.key, value=value, headers=headers).get(
                timeout=self._send_timeout_s
            )
        except KafkaError as send_error:
            log.warning("consumer %s cannot dead-letter to %s: %r", self.group, topic, send_error)
            raise _RetryLater from send_error
        CONSUMER_EVENTS.labels(self.group, record.topic, Outcome.DEAD_LETTERED).inc()
        log.error(
            "consumer %s sent %s[%d]@%d to %s: %s",
            self.group,
            record.topic,
            record.partition,
            record.offset,
            topic,
            notes[ERROR_HEADER],
        )

    def _commit(self, next_offsets: dict[Any, int]) -> None:
        if not next_offsets:
            return
        try:
            # As long as the process's Kafka timeout allows, whatever the client's default.
            self._consumer.commit(
                {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in next_offsets.items()},
                timeout_ms=int(self._send_timeout_s * 1000),
            )
        except KafkaError as error:
            # E.g. a rebalance moved the partition: its new owner redelivers, and dedupes.
            log.warning("consumer %s could not commit offsets: %r", self.group, error)
            return
        for tp, offset in next_offsets.items():
            try:
                highwater = self._consumer.highwater(tp)
            except KafkaError:
                continue  # no longer assigned to us
            if highwater is not None:
                CONSUMER_LAG.labels(self.group, tp.topic, str(tp.partition)).set(
                    max(highwater - offset, 0)
                )

    def _backoff(self, attempt: int) -> float:
        return float(min(self._initial_backoff_s * 2 ** (attempt - 1), self._max_backoff_s))
