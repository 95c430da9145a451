"""Outbox → relay → Kafka → idempotent consumer, against the real broker and PostgreSQL.

The outbox, processed_events and the consumer's effect table all have row-level security on,
as in a service, and the database is used through its own non-superuser role.
"""

import logging
import socket
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaConnectionError, KafkaTimeoutError
from prometheus_client import REGISTRY
from sqlalchemy import Engine, String, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from shequ.common.v1 import tenant_pb2
from shequ_infra import LocalInfrastructure
from shequ_kit.cloudevents import ReceivedEvent, parse_event
from shequ_kit.consumer import EventConsumer, EventHandler, processed_events_table
from shequ_kit.db import (
    TenantOwned,
    system_scope,
    tenant_sessionmaker,
)
from shequ_kit.outbox import Event, outbox_table, publish
from shequ_kit.relay import OutboxRelay
from shequ_kit.tenancy import TenantId, current_tenant, tenant_scope

if TYPE_CHECKING:
    from kit.tests.integration.conftest import IsolatedDatabase

DATABASE = "kit_outbox"
HUSHAN = TenantId("xiaoshan.shushan.hushan")
XIANGYUAN = TenantId("xiaoshan.shushan.xiangyuan")
WAIT_S = 30.0  # upper bound on any wait for the broker, so no test can hang

pytestmark = pytest.mark.timeout(180, func_only=True)


class Base(DeclarativeBase):
    pass


OUTBOX = outbox_table(Base.metadata)
PROCESSED = processed_events_table(Base.metadata)


class Acknowledgement(TenantOwned, Base):
    """What the test consumer's handler writes: one row per applied event, on purpose not unique."""

    __tablename__ = "acknowledgement"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[uuid.UUID]
    seen_in_scope: Mapped[str] = mapped_column(String(200))


@pytest.fixture(scope="module")
def engine(isolated_database: "IsolatedDatabase") -> Engine:
    return isolated_database(DATABASE, Base.metadata)


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """Tenant-scoped sessions on a database with no events left over from other tests."""
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE outbox, processed_events, acknowledgement"))
    return tenant_sessionmaker(engine)


@pytest.fixture
def topic(infra: LocalInfrastructure) -> str:
    """A fresh single-partition topic and its dead-letter topic."""
    name = f"kit-test-{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=infra.kafka.bootstrap_servers)
    try:
        admin.create_topics(
            {t: {"num_partitions": 1, "replication_factor": 1} for t in (name, f"{name}.dlq")},
            wait_for_metadata=True,
        )
    finally:
        admin.close()
    return name


def noted(topic: str, tenant: TenantId = HUSHAN, aggregate_id: str = "complex-1") -> Event:
    return Event(
        type="shequ.kittest.v1.ComplexNoted",
        source="/shequ/kittest",
        topic=topic,
        tenant=tenant,
        aggregate_id=aggregate_id,
        payload=tenant_pb2.TenantRef(tenant_id=tenant.value),
    )


def commit_events(sessions: sessionmaker[Session], *events: Event) -> None:
    for event in events:
        with tenant_scope(event.tenant), sessions.begin() as session:
            publish(session, event)


def relay_for(infra: LocalInfrastructure, engine: Engine) -> OutboxRelay:
    return OutboxRelay(engine, service="kittest", bootstrap_servers=infra.kafka.bootstrap_servers)


def consumer_for(
    infra: LocalInfrastructure,
    topic: str,
    handler: EventHandler,
    sessions: sessionmaker[Session],
) -> EventConsumer:
    return EventConsumer(
        group=f"kit-test-{uuid.uuid4().hex[:12]}",
        topics=[topic],
        handler=handler,
        sessions=sessions,
        bootstrap_servers=infra.kafka.bootstrap_servers,
        max_attempts=3,
        initial_backoff_s=0.01,
    )


def acknowledge(session: Session, event: ReceivedEvent) -> None:
    """A handler with a visible effect: one tenant-owned row per applied event."""
    assert event.decode(tenant_pb2.TenantRef).tenant_id == event.tenant.value
    session.add(Acknowledgement(event_id=event.id, seen_in_scope=str(current_tenant())))


def consume(consumer: EventConsumer, records: int) -> int:
    """Poll until ``records`` records are settled (or WAIT_S passes); returns how many were."""
    settled, deadline = 0, time.monotonic() + WAIT_S
    while settled < records and time.monotonic() < deadline:
        settled += consumer.poll_once(timeout_ms=500)
    return settled


def records_in(infra: LocalInfrastructure, topic: str) -> list[Any]:
    """Every record the topic holds right now (it has one partition)."""
    partition = TopicPartition(topic, 0)
    reader = KafkaConsumer(bootstrap_servers=infra.kafka.bootstrap_servers)
    try:
        reader.assign([partition])
        end = reader.end_offsets([partition])[partition]
        reader.seek_to_beginning(partition)
        records: list[Any] = []
        deadline = time.monotonic() + WAIT_S
        while len(records) < end and time.monotonic() < deadline:
            for batch in reader.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        reader.close()


def event_ids_in(infra: LocalInfrastructure, topic: str) -> list[str]:
    return [dict(record.headers)["ce_id"].decode() for record in records_in(infra, topic)]


def acknowledgements(sessions: sessionmaker[Session]) -> list[Acknowledgement]:
    with system_scope(), sessions() as session:
        return list(session.scalars(select(Acknowledgement).order_by(Acknowledgement.id)))


def consumer_events(group: str, topic: str, outcome: str) -> float:
    labels = {"group": group, "topic": topic, "outcome": outcome}
    return REGISTRY.get_sample_value("shequ_consumer_events_total", labels) or 0.0


def committed_offset(infra: LocalInfrastructure, group: str, topic: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=infra.kafka.bootstrap_servers)
    try:
        offsets = admin.list_group_offsets(group)[group]
    finally:
        admin.close()
    return int(offsets[TopicPartition(topic, 0)].offset)


def pending_events(sessions: sessionmaker[Session]) -> int:
    with system_scope(), sessions() as session:
        return int(session.scalar(select(func.count()).where(OUTBOX.c.sent_at.is_(None))) or 0)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ChangeAbandonedError(Exception):
    pass


def publish_then_abandon_the_change(sessions: sessionmaker[Session], event: Event) -> None:
    with tenant_scope(event.tenant), sessions.begin() as session:
        publish(session, event)
        raise ChangeAbandonedError  # the domain change fails after its event was written


def test_rolled_back_change_never_reaches_kafka(
    infra: LocalInfrastructure, engine: Engine, sessions: sessionmaker[Session], topic: str
) -> None:
    abandoned, committed = noted(topic, aggregate_id="abandoned"), noted(topic)
    with pytest.raises(ChangeAbandonedError):
        publish_then_abandon_the_change(sessions, abandoned)
    commit_events(sessions, committed)

    with relay_for(infra, engine) as relay:
        assert relay.run_once() == 1

    assert event_ids_in(infra, topic) == [str(committed.id)]


def test_an_event_published_twice_by_a_relay_killed_before_marking_is_applied_once(
    infra: LocalInfrastructure, engine: Engine, sessions: sessionmaker[Session], topic: str
) -> None:
    event = noted(topic)
    commit_events(sessions, event)
    with relay_for(infra, engine) as relay:
        with system_scope(), sessions() as session:
            assert len(relay.publish_pending(session)) == 1
            # The relay dies here: its transaction ends without marking the row sent.
        assert relay.run_once() == 1  # the row was still pending, so it goes out again
        assert relay.run_once() == 0
    assert event_ids_in(infra, topic) == [str(event.id), str(event.id)]

    with consumer_for(infra, topic, acknowledge, sessions) as consumer:
        assert consume(consumer, records=2) == 2
        group = consumer.group

    assert [ack.event_id for ack in acknowledgements(sessions)] == [event.id]
    assert consumer_events(group, topic, "applied") == 1
    assert consumer_events(group, topic, "duplicate") == 1


def test_a_handler_that_always_fails_sends_the_record_to_the_dead_letter_topic_and_moves_on(
    infra: LocalInfrastructure, engine: Engine, sessions: sessionmaker[Session], topic: str
) -> None:
    poisoned, healthy = noted(topic, aggregate_id="poisoned"), noted(topic, aggregate_id="fine")
    commit_events(sessions, poisoned, healthy)
    with relay_for(infra, engine) as relay:
        assert relay.run_once() == 2

    def refuse_poisoned(session: Session, event: ReceivedEvent) -> None:
        if event.subject == "poisoned":
            raise RuntimeError("this event cannot be applied")
        acknowledge(session, event)

    with consumer_for(infra, topic, refuse_poisoned, sessions) as consumer:
        assert consume(consumer, records=2) == 2
        group = consumer.group

    (dead,) = records_in(infra, f"{topic}.dlq")
    headers = dict(dead.headers)
    assert headers["x-error"] == b"RuntimeError: this event cannot be applied"
    assert headers["x-consumer-group"] == group.encode()
    assert headers["x-attempts"] == b"3"
    assert headers["ce_id"] == str(poisoned.id).encode()
    assert dead.key == b"xiaoshan.shushan.hushan/poisoned"
    assert [ack.event_id for ack in acknowledgements(sessions)] == [healthy.id]
    assert consumer_events(group, topic, "retried") == 2
    assert consumer_events(group, topic, "dead_lettered") == 1
    assert committed_offset(infra, group, topic) == 2


def test_a_record_without_cloudevents_headers_goes_straight_to_the_dead_letter_topic(
    infra: LocalInfrastructure, sessions: sessionmaker[Session], topic: str
) -> None:
    producer = KafkaProducer(bootstrap_servers=infra.kafka.bootstrap_servers)
    try:
        producer.send(topic, key=b"stray", value=b"not an event").get(timeout=WAIT_S)
    finally:
        producer.close()
    calls: list[ReceivedEvent] = []

    def record_call(_session: Session, event: ReceivedEvent) -> None:
        calls.append(event)

    with consumer_for(infra, topic, record_call, sessions) as consumer:
        assert consume(consumer, records=1) == 1

    (dead,) = records_in(infra, f"{topic}.dlq")
    assert dead.value == b"not an event"
    assert dict(dead.headers)["x-attempts"] == b"0"
    assert b"ce_specversion is missing" in dict(dead.headers)["x-error"]
    assert calls == []


def test_events_carry_cloudevents_headers_and_the_tenant_aggregate_key(
    infra: LocalInfrastructure, engine: Engine, sessions: sessionmaker[Session], topic: str
) -> None:
    event = noted(topic, tenant=XIANGYUAN, aggregate_id="complex-7")
    commit_events(sessions, event)
    with relay_for(infra, engine) as relay:
        assert relay.run_once() == 1

    (record,) = records_in(infra, topic)
    assert record.key == b"xiaoshan.shushan.xiangyuan/complex-7"
    headers = dict(record.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_id"] == str(event.id).encode()
    assert headers["ce_source"] == b"/shequ/kittest"
    assert headers["ce_type"] == b"shequ.kittest.v1.ComplexNoted"
    assert headers["ce_subject"] == b"complex-7"
    assert headers["ce_tenant"] == b"xiaoshan.shushan.xiangyuan"
    assert headers["content-type"] == b"application/protobuf"
    assert headers["ce_time"].endswith(b"Z")
    received = parse_event(
        headers=record.headers,
        value=record.value,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
    )
    assert received.time == event.time
    assert received.decode(tenant_pb2.TenantRef) == event.payload


def test_the_handler_runs_in_the_events_tenant_scope(
    infra: LocalInfrastructure, engine: Engine, sessions: sessionmaker[Session], topic: str
) -> None:
    at_hushan, at_xiangyuan = noted(topic, HUSHAN), noted(topic, XIANGYUAN)
    commit_events(sessions, at_hushan, at_xiangyuan)
    with relay_for(infra, engine) as relay:
        assert relay.run_once() == 2

    with consumer_for(infra, topic, acknowledge, sessions) as consumer:
        assert consume(consumer, records=2) == 2

    # The rows were stamped by the kit (the handler never sets tenant_id) and passed RLS.
    assert [(a.event_id, a.tenant_id, a.seen_in_scope) for a in acknowledgements(sessions)] == [
        (at_hushan.id, HUSHAN.value, HUSHAN.value),
        (at_xiangyuan.id, XIANGYUAN.value, XIANGYUAN.value),
    ]


def test_events_stay_pending_while_kafka_is_unreachable_and_go_out_once_it_is_back(
    infra: LocalInfrastructure,
    engine: Engine,
    sessions: sessionmaker[Session],
    topic: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    event = noted(topic)
    commit_events(sessions, event)
    unreachable = OutboxRelay(
        engine,
        service="kittest",
        bootstrap_servers=f"127.0.0.1:{unused_port()}",
        connect_timeout_s=1.0,
    )
    with unreachable, caplog.at_level(logging.WARNING, logger="shequ_kit.relay"):
        assert unreachable.run_once() == 0
        assert unreachable.run_once() == 0
    assert "cannot reach Kafka" in caplog.text
    assert pending_events(sessions) == 1

    with relay_for(infra, engine) as relay:
        assert relay.run_once() == 1
    assert pending_events(sessions) == 0
    assert event_ids_in(infra, topic) == [str(event.id)]


class StrandedProducer:
    """A producer as kafka-python 3 leaves it when the broker goes away mid-batch: its records
    never get an outcome, and ``close(timeout=0)`` raises because they are still in flight."""

    def send(self, topic: str, **_record: Any) -> "NeverAcknowledged":
        return NeverAcknowledged()

    def flush(self, timeout: float | None = None) -> None:
        raise KafkaTimeoutError("Timeout waiting for future")

    def close(self, timeout: float | None = None) -> None:
        raise KafkaTimeoutError("Timeout waiting for future")


class NeverAcknowledged:
    def get(self, timeout: float | None = None) -> None:
        raise KafkaTimeoutError(f"Timeout after waiting for {timeout} secs.")


def test_a_relay_whose_producer_is_stranded_keeps_its_events_pending_and_goes_on(
    infra: LocalInfrastructure,
    engine: Engine,
    sessions: sessionmaker[Session],
    topic: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event = noted(topic)
    commit_events(sessions, event)

    with relay_for(infra, engine) as relay:
        monkeypatch.setattr(relay, "_producer", StrandedProducer())
        assert relay.run_once() == 0  # the producer is dropped, not the relay
        assert pending_events(sessions) == 1
        assert relay.run_once() == 1  # the next round takes a fresh producer

    assert pending_events(sessions) == 0
    assert event_ids_in(infra, topic) == [str(event.id)]


def test_a_consumer_that_cannot_reach_kafka_goes_on_polling_and_loses_nothing(
    infra: LocalInfrastructure,
    engine: Engine,
    sessions: sessionmaker[Session],
    topic: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event = noted(topic)
    commit_events(sessions, event)
    with relay_for(infra, engine) as relay:
        assert relay.run_once() == 1

    with consumer_for(infra, topic, acknowledge, sessions) as consumer:
        # What kafka-python raises from poll while the group coordinator is unreachable.
        with monkeypatch.context() as broker_away:
            broker_away.setattr(consumer._consumer, "poll", raise_connection_refused, raising=True)
            assert consumer.poll_once() == 0
        assert consume(consumer, records=1) == 1

    assert [ack.event_id for ack in acknowledgements(sessions)] == [event.id]


def raise_connection_refused(**_poll: Any) -> dict[Any, list[Any]]:
    raise KafkaConnectionError("111 ECONNREFUSED")


def test_a_running_relay_sends_a_committed_event_at_once_not_at_its_next_poll(
    infra: LocalInfrastructure, engine: Engine, sessions: sessionmaker[Session], topic: str
) -> None:
    stop = threading.Event()
    relay = relay_for(infra, engine)
    # A poll interval far beyond the wait below: only the commit's notice can wake the relay.
    runner = threading.Thread(
        target=relay.run_forever,
        args=(stop,),
        kwargs={"idle_sleep_s": 120.0, "wake_dsn": infra.postgres.dsn(DATABASE)},
    )
    runner.start()
    try:
        time.sleep(1.0)  # the first, empty round is over and the relay is waiting
        event = noted(topic)
        committed = time.monotonic()
        commit_events(sessions, event)
        while pending_events(sessions) and time.monotonic() - committed < 10:
            time.sleep(0.02)
        waited = time.monotonic() - committed
        print(f"event sent {waited * 1000:.0f} ms after its commit (poll interval 120 s)")
        assert pending_events(sessions) == 0
        assert event_ids_in(infra, topic) == [str(event.id)]
    finally:
        stop.set()
        commit_events(sessions, noted(topic))  # wakes the relay so it sees the stop at once
        runner.join(timeout=30)
        relay.close()
    assert not runner.is_alive()
